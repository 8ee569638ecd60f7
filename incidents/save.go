package incidents

import (
	"context"
	"encoding/json"
	"slices"
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
}

// EventCalls is how many call ids an incident event carries: the newest
// ones, so that a dashboard learns each call's incident as it is attached
// (the tracker attaches a few at a time); the full list is
// GET /api/v1/incidents/{id}, the total call_count. On a busy night every
// incident event goes to every leadership dashboard and to the departments
// with tasks on it, and the ids were most of its bytes.
const EventCalls = 20

// MarshalJSON writes the event with only the incident's newest EventCalls
// call ids.
func (e incidentEvent) MarshalJSON() ([]byte, error) {
	type plain incidentEvent
	p := plain(e)
	if n := len(p.Calls); n > EventCalls {
		p.Calls = p.Calls[n-EventCalls:]
	}
	return json.Marshal(p)
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
}

// IncidentAudience is the audience of an incident's events: the departments
// with a live task on it (Incident.Departments).
func IncidentAudience(inc Incident) Audience {
	return Audience{Depts: sortedDepts(inc.Departments...)}
}

// TaskAudience is the audience of a task's events: its department, the one
// it was reassigned from (previous, "" for none), and the hotline staff, who
// verify the work and call citizens back.
func TaskAudience(t Task, previous string) Audience {
	return Audience{Hotline: true, Depts: sortedDepts(t.Dept, previous)}
}

// AlertAudience is the audience of an alert: the call floor for an urgent
// call's alert (it finds its call by call_id), the late department for an
// escalation; the leadership group alone for the others.
func AlertAudience(a Alert) Audience {
	switch a.Kind {
	case AlertUrgentCall:
		return Audience{CallFloor: true}
	case AlertEscalation:
		return Audience{Depts: sortedDepts(a.Dept)}
	}
	return Audience{}
}

// sortedDepts returns the non-empty codes sorted, without duplicates; nil
// for none.
func sortedDepts(codes ...string) []string {
	var out []string
	for _, c := range codes {
		if c != "" {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
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
	return tx.Append(ctx, EventInput{Type: EventAlertRaised, Actor: System.Name, Data: a, Audience: AlertAudience(a)})
}

// autoDispatch is the auto-dispatch rule: an incident whose plan is not
// dispatched yet and whose grade is AutoDispatch or more severe has its plan
// proposed afresh and dispatched by the system, without waiting for a
// leader. An incident without a plan gets one proposed either way.
func (w *Workflow) autoDispatch(ctx context.Context, tx Tx, inc *Incident) error {
	if inc.Plan != nil && inc.Plan.Dispatched {
		return nil
	}
	if !inc.Grade.AtLeast(w.cfg.AutoDispatch) {
		if inc.Plan == nil {
			inc.Plan = w.proposePlan(*inc)
		}
		return nil
	}
	inc.Plan = w.proposePlan(*inc)
	return w.dispatchPlan(ctx, tx, inc, System, nil, "")
}

// syncDepartments keeps the departments of t's incident those with a live
// task on it, now that t (as given, maybe not yet read back) moved to another
// department or was cancelled; when they change, the incident is saved with
// an incident.updated that the departments left no longer receive.
func (w *Workflow) syncDepartments(ctx context.Context, tx Tx, t Task, actor Actor) error {
	inc, err := tx.Incident(ctx, t.IncidentID)
	if err != nil {
		return err
	}
	tasks, err := tx.TasksOfIncident(ctx, inc.ID)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(tasks, func(x Task) bool { return x.ID == t.ID }) {
		tasks = append(tasks, t)
	}
	live := map[string]bool{}
	var order []string
	for _, x := range tasks {
		if x.ID == t.ID {
			x = t
		}
		if x.State != TaskCancelled && !live[x.Dept] {
			live[x.Dept] = true
			order = append(order, x.Dept)
		}
	}
	var depts []string
	for _, d := range inc.Departments { // those that stay keep their place
		if live[d] && !slices.Contains(depts, d) {
			depts = append(depts, d)
		}
	}
	for _, d := range order {
		if !slices.Contains(depts, d) {
			depts = append(depts, d)
		}
	}
	if slices.Equal(depts, inc.Departments) {
		return nil
	}
	inc.Departments = depts
	return w.save(ctx, tx, &inc, inc.Version, change{typ: EventIncidentUpdated, actor: actor, cause: &Cause{Kind: CauseDepartments}})
}

// CanReadIncident reports whether actor may read inc: the leadership group
// and the administrators any, a department one it holds a live task on, the
// call floor none.
func CanReadIncident(actor Actor, inc Incident) bool {
	switch actor.Role {
	case RoleDept:
		return actor.Dept != "" && slices.Contains(inc.Departments, actor.Dept)
	case RoleAgent:
		return false
	}
	return actor.leads()
}

// CanReadTask reports whether actor may read t: a department only a task it
// holds now, the others any.
func CanReadTask(actor Actor, t Task) bool {
	if actor.Role == RoleDept {
		return actor.Dept != "" && t.Dept == actor.Dept
	}
	return actor.hotline()
}
