package incidents

import (
	"context"
	"encoding/json"
	"time"
)

// change is the event a save appends with its record: its type, who did it,
// and what the event adds to the record.
type change struct {
	typ   string // "" appends none: the record moved along with another's change, whose event tells it
	actor Actor
	// reason and note are what a person typed; cause is what made the
	// system change the record.
	reason string
	note   string
	cause  *Cause
	// Incident events.
	merged    []string
	addedNote *Note
	// Task events.
	previousDept string
	callback     *Callback
	timer        *Timer
	notice       *Notice
	resetTimers  bool // the task's deadlines changed: its timers are set again
}

// record is what the workflow stores with a version: an incident or a task.
type record interface {
	stamp(version int64, at time.Time)
	put(ctx context.Context, tx Tx, prev int64) error
	event(ch change) EventInput
}

// save is the save protocol of every record: rec, read at version prev (0
// for a new one), gets version prev+1 and the time now, is put over prev,
// and its event is appended with the record as its data and its audience.
func (w *Workflow) save(ctx context.Context, tx Tx, rec record, prev int64, ch change) error {
	rec.stamp(prev+1, w.now())
	if err := rec.put(ctx, tx, prev); err != nil {
		return err
	}
	return w.emit(ctx, tx, rec, ch)
}

// emit appends the event ch of rec as it is (a second event of one save).
func (w *Workflow) emit(ctx context.Context, tx Tx, rec record, ch change) error {
	if ch.typ == "" {
		return nil
	}
	ev := rec.event(ch)
	ev.Type, ev.Actor, ev.Origin = ch.typ, ch.actor.Name, ch.actor.Origin
	data, err := marshalEvent(ev.Type, ev.Data)
	if err != nil {
		return err
	}
	ev.Data = data
	return tx.Append(ctx, ev)
}

func (inc *Incident) stamp(version int64, at time.Time) {
	inc.Version, inc.UpdatedAt = version, at
	inc.Category = mainCategory(inc.Categories)
}

func (inc *Incident) put(ctx context.Context, tx Tx, prev int64) error {
	return tx.PutIncident(ctx, *inc, prev)
}

func (inc *Incident) event(ch change) EventInput {
	return EventInput{
		Data:     incidentEvent{Incident: *inc, Reason: ch.reason, Cause: ch.cause, Merged: ch.merged, Note: ch.addedNote},
		Audience: IncidentAudience(*inc),
	}
}

func (t *Task) stamp(version int64, at time.Time) { t.Version, t.UpdatedAt = version, at }

func (t *Task) put(ctx context.Context, tx Tx, prev int64) error { return tx.PutTask(ctx, *t, prev) }

func (t *Task) event(ch change) EventInput {
	return EventInput{
		Data: taskEvent{Task: *t, PreviousDept: ch.previousDept, Reason: ch.reason, Note: ch.note, Cause: ch.cause,
			Callback: ch.callback, Timer: ch.timer, Notice: ch.notice},
		Audience: TaskAudience(*t, ch.previousDept),
	}
}

// incidentEvent is the data of an incident.* event: the incident, plus what
// the event adds.
type incidentEvent struct {
	Incident
	Reason string   `json:"reason,omitempty"` // what the leader typed (a merge)
	Cause  *Cause   `json:"cause,omitempty"`
	Merged []string `json:"merged,omitempty"`
	Note   *Note    `json:"note,omitempty"`
	// NoteCount is how many notes the incident holds; the event carries
	// the newest EventNotes of them.
	NoteCount int `json:"note_count,omitempty"`
}

// EventCalls is how many call ids an incident event carries: the newest
// ones, so that a dashboard learns each call's incident as it is attached
// (the tracker attaches a few at a time); the full list is
// GET /api/v1/incidents/{id}, the total call_count. On a busy night every
// incident event goes to every leadership dashboard and to the departments
// with tasks on it, and the ids were most of its bytes.
const EventCalls = 20

// MarshalJSON writes the event with only the incident's newest EventCalls
// call ids and newest EventNotes notes.
func (e incidentEvent) MarshalJSON() ([]byte, error) {
	type plain incidentEvent
	p := plain(e)
	if n := len(p.Calls); n > EventCalls {
		p.Calls = p.Calls[n-EventCalls:]
	}
	p.NoteCount = len(p.Notes)
	p.Notes = newest(p.Notes, EventNotes)
	return json.Marshal(p)
}

// newest returns the last n entries of list (all of them when it holds
// fewer).
func newest[T any](list []T, n int) []T {
	if len(list) > n {
		return list[len(list)-n:]
	}
	return list
}

// taskEvent is the data of a task.* or callback.* event: the task, plus what
// the event adds.
type taskEvent struct {
	Task
	PreviousDept string    `json:"previous_dept,omitempty"` // a reassigned task's department before
	Reason       string    `json:"reason,omitempty"`        // what the actor typed
	Note         string    `json:"note,omitempty"`          // what the actor typed
	Cause        *Cause    `json:"cause,omitempty"`
	Callback     *Callback `json:"callback,omitempty"`
	Timer        *Timer    `json:"timer,omitempty"`  // supervision events: the timer that fired
	Notice       *Notice   `json:"notice,omitempty"` // supervision events: what they tell
	// ProgressCount and CallbackCount are how many progress notes and
	// callbacks the task holds; the event carries the newest EventNotes of
	// each.
	ProgressCount int `json:"progress_count,omitempty"`
	CallbackCount int `json:"callback_count,omitempty"`
}

// MarshalJSON writes the event with only the task's newest EventNotes
// progress notes and callbacks.
func (e taskEvent) MarshalJSON() ([]byte, error) {
	type plain taskEvent
	p := plain(e)
	p.ProgressCount, p.CallbackCount = len(p.Progress), len(p.Callbacks)
	p.Progress, p.Callbacks = newest(p.Progress, EventNotes), newest(p.Callbacks, EventNotes)
	return json.Marshal(p)
}

// incidentAlert returns an alert of the given kind about inc.
func incidentAlert(kind string, inc Incident) Alert {
	return Alert{
		Kind: kind, IncidentID: inc.ID, Grade: inc.Grade, Colour: inc.Grade.Colour(),
		Category: mainCategory(inc.Categories), District: inc.District, Calls: inc.CallCount,
		Centroid: inc.Centroid, Urgent: inc.UrgentCalls > 0,
	}
}

// alert appends an alert.raised event with its audience.
func (w *Workflow) alert(ctx context.Context, tx Tx, a Alert) error {
	data, err := marshalEvent(EventAlertRaised, a)
	if err != nil {
		return err
	}
	return tx.Append(ctx, EventInput{Type: EventAlertRaised, Actor: System.Name, Data: data, Audience: AlertAudience(a)})
}
