package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/rs/zerolog"

	"flare/incidents"
)

// statusFor maps an application error code to its HTTP status. It is the one
// place where codes become statuses.
func statusFor(code string) int {
	switch code {
	case incidents.CodeBadRequest:
		return http.StatusBadRequest
	case incidents.CodeInvalid, incidents.CodeOutOfArea:
		return http.StatusUnprocessableEntity
	case incidents.CodeUnauthorized:
		return http.StatusUnauthorized
	case incidents.CodeForbidden:
		return http.StatusForbidden
	case incidents.CodeNotFound:
		return http.StatusNotFound
	case incidents.CodeConflict, incidents.CodeInvalidTransition, incidents.CodeVersionConflict:
		return http.StatusConflict
	case incidents.CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case incidents.CodeRateLimited:
		return http.StatusTooManyRequests
	case incidents.CodeUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

type errorBody struct {
	Error *incidents.Error `json:"error"`
}

// writeError answers with err as {"error":{"code","message","field"}}.
// Errors that are not *incidents.Error are logged and reported as internal.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *incidents.Error
	if !errors.As(err, &e) {
		if errors.Is(err, r.Context().Err()) {
			e = incidents.Errorf(incidents.CodeUnavailable, "request cancelled")
		} else {
			e = incidents.Errorf(incidents.CodeInternal, "internal error")
		}
	}
	status := statusFor(e.Code)
	if status >= 500 {
		zerolog.Ctx(r.Context()).Error().Err(err).Msg("request failed")
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="flare"`)
	}
	writeJSON(w, status, errorBody{e})
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	writeJSONHeader(w, status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeJSONHeader starts a JSON answer with status.
func writeJSONHeader(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
}
