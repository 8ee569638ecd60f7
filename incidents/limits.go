package incidents

import (
	"encoding/json"
	"fmt"
)

// The bounds of what a client can write into a record. A text over its
// bound, or one more entry in a full list, is refused with CodeInvalid
// naming the field, and nothing changes.
const (
	MaxNoteChars    = 2000 // a progress note, an incident note, a verification or extension comment, a callback comment
	MaxReasonChars  = 2000 // a task action's reason (return, rejection, extension, reopening, cancellation)
	MaxLeaderReason = 1000 // a regrade's or a merge's reason
	MaxResultChars  = 4000 // a task's result
	MaxSummaryChars = 4000 // an incident's closing summary

	MaxProgressNotes = 200 // progress notes per task
	MaxIncidentNotes = 200 // notes per incident
	MaxCallbacks     = 50  // callbacks per task
)

// EventNotes is how many of a record's newest progress notes, callbacks or
// incident notes its events carry (with the total count); the full lists
// are GET /api/v1/tasks/{id} and GET /api/v1/incidents/{id}.
const EventNotes = 10

// MaxEventBytes is the largest event data the workflow appends: far below
// a WebSocket client's queue, so that no single event can close a
// dashboard's connection. The bounds above keep every event under it; an
// event that would still exceed it is refused (CodeInvalid) and its change
// is not made.
const MaxEventBytes = 256 << 10

// marshalEvent encodes an event's data and refuses it over MaxEventBytes.
func marshalEvent(typ string, data any) (json.RawMessage, error) {
	b, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("encode %s event: %w", typ, err)
	}
	if len(b) > MaxEventBytes {
		return nil, Errorf(CodeInvalid, "a %s event of %d bytes exceeds the %d-byte limit", typ, len(b), MaxEventBytes)
	}
	return b, nil
}

// checkRoom refuses one more entry in a list of n that holds at most max.
func checkRoom(field string, n, max int) error {
	if n >= max {
		return FieldError(CodeInvalid, field, "%s already holds %d entries; at most %d are allowed", field, n, max)
	}
	return nil
}
