// Package workflowstore holds what the store adapters share in implementing
// incidents.WorkflowStore: the rules of a versioned put, the errors the
// domain expects from it, and the encoding of the events a transaction
// appends.
package workflowstore

import (
	"encoding/json"

	"flare/incidents"
)

// Kinds of versioned records, as error messages name them.
const (
	KindIncident = "incident"
	KindTask     = "task"
)

// CheckPut validates a put of the record kind id at version, by a caller
// that read it at prev (0 to create it). It returns an *incidents.Error with
// CodeInvalid when id is empty (field "id"), prev is negative or version is
// not prev+1 (field "version"), and nil otherwise.
func CheckPut(kind, id string, version, prev int64) error {
	switch {
	case id == "":
		return incidents.FieldError(incidents.CodeInvalid, "id", "%s id is empty", kind)
	case prev < 0:
		return incidents.FieldError(incidents.CodeInvalid, "version", "%s %s: the version read, %d, is negative", kind, id, prev)
	case version != prev+1:
		return incidents.FieldError(incidents.CodeInvalid, "version",
			"%s %s: version %d must be the version read plus one, %d", kind, id, version, prev+1)
	}
	return nil
}

// Exists returns the error of creating a record whose id is taken: an
// *incidents.Error with CodeConflict on field "id".
func Exists(kind, id string) error {
	return incidents.FieldError(incidents.CodeConflict, "id", "%s %s already exists", kind, id)
}

// Stale returns the error of updating a record that is not at version prev:
// an *incidents.Error with CodeVersionConflict on field "version". stored is
// the version it is at, or 0 when it does not exist.
func Stale(kind, id string, prev, stored int64) error {
	if stored == 0 {
		return incidents.FieldError(incidents.CodeVersionConflict, "version",
			"%s %s does not exist (version %d was expected)", kind, id, prev)
	}
	return incidents.FieldError(incidents.CodeVersionConflict, "version",
		"%s %s is at version %d, not %d: reload and try again", kind, id, stored, prev)
}

// NotFound returns the error of reading a record that does not exist: an
// *incidents.Error with CodeNotFound.
func NotFound(kind, id string) error {
	return incidents.Errorf(incidents.CodeNotFound, "%s %s not found", kind, id)
}

// CheckLimit validates the limit of a listing, where 0 means no limit. It
// returns an *incidents.Error with CodeInvalid on field "limit" when n is
// negative.
func CheckLimit(n int) error {
	if n < 0 {
		return incidents.FieldError(incidents.CodeInvalid, "limit", "limit must not be negative, got %d", n)
	}
	return nil
}

// Event is an event appended in a transaction, encoded, waiting for its seq
// and time at commit.
type Event struct {
	Type, Actor, Origin string
	Data                []byte // JSON
}

// Encode validates and encodes e. It returns an *incidents.Error with
// CodeInvalid when e has no type (field "type") or its data cannot be
// encoded as JSON (field "data").
func Encode(e incidents.EventInput) (Event, error) {
	if e.Type == "" {
		return Event{}, incidents.FieldError(incidents.CodeInvalid, "type", "an event needs a type")
	}
	data, err := json.Marshal(e.Data)
	if err != nil {
		return Event{}, incidents.FieldError(incidents.CodeInvalid, "data", "event %s: data cannot be encoded as JSON: %v", e.Type, err)
	}
	return Event{Type: e.Type, Actor: e.Actor, Origin: e.Origin, Data: data}, nil
}

// Unique returns the non-empty strings of ss without repeats, in the order
// they first appear. It never returns nil.
func Unique(ss []string) []string {
	out := make([]string, 0, len(ss))
	seen := make(map[string]bool, len(ss))
	for _, s := range ss {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// CheckTimers validates the timers SetTimers is given for taskID. It returns
// an *incidents.Error with CodeInvalid when taskID is empty (field
// "task_id"), a timer names another task (field "task_id") or has no kind
// (field "kind").
func CheckTimers(taskID string, timers []incidents.Timer) error {
	if taskID == "" {
		return incidents.FieldError(incidents.CodeInvalid, "task_id", "timers need a task id")
	}
	for _, t := range timers {
		if t.TaskID != "" && t.TaskID != taskID {
			return incidents.FieldError(incidents.CodeInvalid, "task_id", "a timer of task %s was given for task %s", t.TaskID, taskID)
		}
		if t.Kind == "" {
			return incidents.FieldError(incidents.CodeInvalid, "kind", "a timer of task %s has no kind", taskID)
		}
	}
	return nil
}
