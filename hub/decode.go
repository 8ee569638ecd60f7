package hub

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"flare/incidents"
)

// decodeJSON reads one JSON object from the request body into v: the body
// must be JSON, no larger than the configured limit, and hold no unknown
// field and nothing after the object. Errors are *incidents.Error with
// CodeBadRequest (naming the field where one is at fault) or CodeTooLarge.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return incidents.Errorf(incidents.CodeBadRequest, "Content-Type must be application/json, not %q", ct)
		}
	}
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err, s.cfg.MaxBodyBytes)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return jsonError(err, s.cfg.MaxBodyBytes)
		}
		return incidents.Errorf(incidents.CodeBadRequest, "the body must hold a single JSON object")
	}
	return nil
}

func jsonError(err error, limit int64) error {
	var (
		maxErr    *http.MaxBytesError
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &maxErr):
		return incidents.Errorf(incidents.CodeTooLarge, "the body is larger than %d bytes", limit)
	case errors.Is(err, io.EOF):
		return incidents.Errorf(incidents.CodeBadRequest, "the body is empty; a JSON object is required")
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return incidents.Errorf(incidents.CodeBadRequest, "the body is not valid JSON: %v", err)
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return incidents.Errorf(incidents.CodeBadRequest, "the body must be a JSON object")
		}
		return incidents.FieldError(incidents.CodeBadRequest, typeErr.Field, "%s must be a JSON %s, not %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return incidents.FieldError(incidents.CodeBadRequest, field, "unknown field %q", field)
	default:
		return incidents.Errorf(incidents.CodeBadRequest, "the body cannot be read: %v", err)
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "float64", "float32", "int", "int64":
		return "number"
	case "bool":
		return "boolean"
	case "ptr", "string":
		return "string"
	default:
		return fmt.Sprint(goKind)
	}
}
