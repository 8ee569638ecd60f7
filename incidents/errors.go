// Package incidents is Flare's domain: calls and their intake, the event log
// and who may see each event, categories, departments, incidents, dispatch
// plans, tasks, supervision and callbacks. It declares the Store it needs;
// adapters in incidents/sqlite and incidents/postgres implement it. It never
// imports a database driver. The incident tracker, which turns the
// detector's clusters into incidents, is incidents/tracking, behind the
// methods of Workflow in workflow_tracker.go; the geometry of regions is
// package geo's.
package incidents

import (
	"errors"
	"fmt"
)

// Error codes shared by every layer. The HTTP layer maps them to statuses in
// one place (hub.statusFor).
const (
	CodeBadRequest        = "bad_request"        // 400: the request cannot be read (not JSON, wrong type, unknown field)
	CodeInvalid           = "invalid"            // 422: a value breaks a rule
	CodeOutOfArea         = "out_of_area"        // 422: a location outside the service area
	CodeNotFound          = "not_found"          // 404
	CodeConflict          = "conflict"           // 409: state or idempotency conflict
	CodeInvalidTransition = "invalid_transition" // 409: the action is not allowed in the record's state
	CodeVersionConflict   = "version_conflict"   // 409: the record changed since the client read it
	CodeForbidden         = "forbidden"          // 403
	CodeUnauthorized      = "unauthorized"       // 401
	CodeTooLarge          = "too_large"          // 413
	CodeRateLimited       = "rate_limited"       // 429
	CodeUnavailable       = "unavailable"        // 503: a dependency is down or the node is draining
	CodeInternal          = "internal"           // 500
)

// Error is an application error with a stable machine-readable code, a
// message for people and, where one input field is at fault, its name.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, e.Field)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError returns an *Error that names the offending input field.
func FieldError(code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, or
// CodeInternal when there is none (and "" for a nil error).
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrNotFound is returned (wrapped in context) when a record does not exist.
var ErrNotFound = &Error{Code: CodeNotFound, Message: "not found"}
