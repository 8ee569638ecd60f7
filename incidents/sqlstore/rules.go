package sqlstore

import (
	"encoding/json"
	"slices"

	"flare/incidents"
)

// The rules of a versioned put, the errors the domain expects from the
// workflow store, and the encoding of the events a transaction appends.

// Kinds of versioned records, as error messages name them.
const (
	kindIncident = "incident"
	kindTask     = "task"
)

// checkPut validates a put of the record kind id at version, by a caller
// that read it at prev (0 to create it). It returns an *incidents.Error with
// CodeInvalid when id is empty (field "id"), prev is negative or version is
// not prev+1 (field "version"), and nil otherwise.
func checkPut(kind, id string, version, prev int64) error {
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

// exists returns the error of creating a record whose id is taken: an
// *incidents.Error with CodeConflict on field "id".
func exists(kind, id string) error {
	return incidents.FieldError(incidents.CodeConflict, "id", "%s %s already exists", kind, id)
}

// stale returns the error of updating a record that is not at version prev:
// an *incidents.Error with CodeVersionConflict on field "version". stored is
// the version it is at, or 0 when it does not exist.
func stale(kind, id string, prev, stored int64) error {
	if stored == 0 {
		return incidents.FieldError(incidents.CodeVersionConflict, "version",
			"%s %s does not exist (version %d was expected)", kind, id, prev)
	}
	return incidents.FieldError(incidents.CodeVersionConflict, "version",
		"%s %s is at version %d, not %d: reload and try again", kind, id, stored, prev)
}

// notFound returns the error of reading a record that does not exist: an
// *incidents.Error with CodeNotFound.
func notFound(kind, id string) error {
	return incidents.Errorf(incidents.CodeNotFound, "%s %s not found", kind, id)
}

// checkListLimit validates the limit of a listing, where 0 means no limit. It
// returns an *incidents.Error with CodeInvalid on field "limit" when n is
// negative.
func checkListLimit(n int) error {
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
	Audience            incidents.Audience
	AudienceJSON        string // Audience as the audience column keeps it
}

// encode validates and encodes e. It returns an *incidents.Error with
// CodeInvalid when e has no type (field "type") or its data cannot be
// encoded as JSON (field "data").
func encode(e incidents.EventInput) (Event, error) {
	if e.Type == "" {
		return Event{}, incidents.FieldError(incidents.CodeInvalid, "type", "an event needs a type")
	}
	data, err := json.Marshal(e.Data)
	if err != nil {
		return Event{}, incidents.FieldError(incidents.CodeInvalid, "data", "event %s: data cannot be encoded as JSON: %v", e.Type, err)
	}
	a := normalAudience(e.Audience)
	return Event{Type: e.Type, Actor: e.Actor, Origin: e.Origin, Data: data, Audience: a, AudienceJSON: EncodeAudience(a)}, nil
}

// normalAudience returns a with its departments sorted, without repeats or
// empty codes, as incidents.Audience documents them.
func normalAudience(a incidents.Audience) incidents.Audience {
	if len(a.Depts) == 0 {
		a.Depts = nil
		return a
	}
	depts := slices.DeleteFunc(slices.Clone(a.Depts), func(d string) bool { return d == "" })
	slices.Sort(depts)
	a.Depts = slices.Compact(depts)
	if len(a.Depts) == 0 {
		a.Depts = nil
	}
	return a
}

// EncodeAudience returns a, its departments sorted and without repeats, as
// the JSON that the events table's audience column keeps (incidents.Audience
// marshalled). The audiences without departments, the most frequent, cost
// no allocation.
func EncodeAudience(a incidents.Audience) string {
	if len(a.Depts) == 0 {
		switch {
		case a.CallFloor && a.Hotline:
			return `{"floor":true,"hotline":true}`
		case a.CallFloor:
			return `{"floor":true}`
		case a.Hotline:
			return `{"hotline":true}`
		}
		return `{}`
	}
	b, _ := json.Marshal(normalAudience(a)) // strings and booleans always encode
	return string(b)
}

// unique returns the non-empty strings of ss without repeats, in the order
// they first appear. It never returns nil.
func unique(ss []string) []string {
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

// checkTimers validates the timers SetTimers is given for taskID. It returns
// an *incidents.Error with CodeInvalid when taskID is empty (field
// "task_id"), a timer names another task (field "task_id") or has no kind
// (field "kind").
func checkTimers(taskID string, timers []incidents.Timer) error {
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
