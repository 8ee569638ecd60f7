package api

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"flare/incidents"
)

// decodeJSON reads one JSON object from the request body into v. The body
// must be JSON (by its Content-Type, when it has one), no larger than the
// configured limit, a single object (not null, not an array) with nothing
// after it, whose member names match v's fields exactly (case included),
// none unknown and none twice, and whose strings are valid UTF-8 without
// lone surrogates. Errors are *incidents.Error with CodeBadRequest (naming
// the field where one is at fault) or CodeTooLarge.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return incidents.Errorf(incidents.CodeBadRequest, "Content-Type must be application/json, not %q", ct)
		}
	}
	limit := s.cfg.MaxBodyBytes
	// jsontext rejects invalid UTF-8, lone surrogates and duplicate names by
	// default; json (v2) matches names case-sensitively by default.
	dec := jsontext.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	switch k := dec.PeekKind(); k {
	case '{':
	case 0: // the error comes with the read
		_, err := dec.ReadToken()
		return jsonError(err, limit)
	default:
		return incidents.Errorf(incidents.CodeBadRequest, "the body must be a JSON object, not %s", kindName(k))
	}
	if err := json.UnmarshalDecode(dec, v, json.RejectUnknownMembers(true)); err != nil {
		return jsonError(err, limit)
	}
	if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return jsonError(err, limit)
		}
		return incidents.Errorf(incidents.CodeBadRequest, "the body must hold a single JSON object")
	}
	return nil
}

// jsonError translates a decoding error into a bad request (or too large).
func jsonError(err error, limit int64) error {
	var (
		maxErr *http.MaxBytesError
		synErr *jsontext.SyntacticError
		semErr *json.SemanticError
	)
	switch {
	case errors.As(err, &maxErr):
		return incidents.Errorf(incidents.CodeTooLarge, "the body is larger than %d bytes", limit)
	case errors.Is(err, io.EOF):
		return incidents.Errorf(incidents.CodeBadRequest, "the body is empty; a JSON object is required")
	case errors.As(err, &synErr):
		field := fieldOf(synErr.JSONPointer)
		switch {
		case field != "" && (strings.Contains(synErr.Err.Error(), "invalid UTF-8") || strings.Contains(synErr.Err.Error(), "surrogate")):
			return incidents.FieldError(incidents.CodeBadRequest, field, "%s is not valid UTF-8 text (broken bytes or a lone surrogate)", field)
		case field != "" && errors.Is(synErr.Err, jsontext.ErrDuplicateName):
			return incidents.FieldError(incidents.CodeBadRequest, field, "%s appears more than once", field)
		}
		return incidents.Errorf(incidents.CodeBadRequest, "the body is not valid JSON: %v", synErr.Err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return incidents.Errorf(incidents.CodeBadRequest, "the body is not valid JSON: unexpected end")
	case errors.As(err, &semErr):
		field := fieldOf(semErr.JSONPointer)
		switch {
		case errors.Is(semErr.Err, json.ErrUnknownName):
			return incidents.FieldError(incidents.CodeBadRequest, field, "unknown field %q", field)
		case field == "":
			return incidents.Errorf(incidents.CodeBadRequest, "the body must be a JSON object")
		case semErr.GoType != nil && semErr.JSONKind != 0 && kindName(semErr.JSONKind) != jsonKind(semErr.GoType):
			return incidents.FieldError(incidents.CodeBadRequest, field, "%s must be a JSON %s, not %s", field, jsonKind(semErr.GoType), kindName(semErr.JSONKind))
		}
		return incidents.FieldError(incidents.CodeBadRequest, field, "%s cannot be read: %v", field, semErr.Err)
	default:
		return incidents.Errorf(incidents.CodeBadRequest, "the body cannot be read: %v", err)
	}
}

// fieldOf names the member a JSON pointer points to, with dots between
// levels ("caller.phone"); "" for the whole body.
func fieldOf(p jsontext.Pointer) string {
	return strings.ReplaceAll(strings.TrimPrefix(string(p), "/"), "/", ".")
}

// kindName is how errors name a JSON kind.
func kindName(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 'f', 't':
		return "boolean"
	case '"':
		return "string"
	case '0':
		return "number"
	case '{':
		return "object"
	case '[':
		return "array"
	}
	return "nothing"
}

// jsonKind is the JSON kind a Go type is read from.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Float32, reflect.Float64, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "number"
	case reflect.Bool:
		return "boolean"
	case reflect.String:
		return "string"
	case reflect.Slice, reflect.Array:
		return "array"
	default:
		return "object"
	}
}
