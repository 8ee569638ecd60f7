package incidents

import (
	"context"
	"slices"
	"time"
)

// newTask creates a task for dept on inc (which the caller stores) with its
// deadlines and timers, and appends task.dispatched.
func (w *Workflow) newTask(ctx context.Context, tx Tx, inc *Incident, dept string, class UrgencyClass, actor Actor) (Task, error) {
	now := w.now()
	limit := w.cfg.Limits[class]
	t := Task{
		ID: NewID("t", now), IncidentID: inc.ID, Dept: dept, State: TaskDispatched, Class: class,
		DispatchedAt: now, DispatchedBy: actor.Name,
		SignBy: now.Add(time.Duration(limit.Sign)), Deadline: now.Add(time.Duration(limit.Complete)),
	}
	t.about(*inc)
	if err := w.save(ctx, tx, &t, 0, change{typ: EventTaskDispatched, actor: actor}); err != nil {
		return Task{}, err
	}
	if err := tx.SetTimers(ctx, t.ID, w.timersFor(t)); err != nil {
		return Task{}, err
	}
	inc.Departments = mergeIDs(inc.Departments, []string{dept})
	return t, nil
}

// about copies into t what the dashboard needs of its incident to write the
// task's instruction.
func (t *Task) about(inc Incident) {
	t.Grade, t.Category, t.District, t.Calls = inc.Grade, mainCategory(inc.Categories), inc.District, inc.CallCount
}

// timersFor returns the supervision timers of an open task: the signing
// deadline (while not signed for), a reminder before the deadline, the
// overdue notice at it, and the first escalation after it.
func (w *Workflow) timersFor(t Task) []Timer {
	if !t.State.Open() {
		return nil
	}
	l := w.cfg.Limits[t.Class]
	var ts []Timer
	if t.State == TaskDispatched || t.State == TaskReopened {
		ts = append(ts, Timer{TaskID: t.ID, Kind: TimerSign, DueAt: t.SignBy})
	}
	ts = append(ts,
		Timer{TaskID: t.ID, Kind: TimerRemind, DueAt: t.Deadline.Add(-time.Duration(l.Remind))},
		Timer{TaskID: t.ID, Kind: TimerOverdue, DueAt: t.Deadline},
		Timer{TaskID: t.ID, Kind: TimerEscalate, DueAt: t.Deadline.Add(time.Duration(l.Escalate)), Attempt: 1},
	)
	return ts
}

// TaskActionInput is an action on a task with what it needs.
type TaskActionInput struct {
	Action  TaskAction `json:"action"`
	Version int64      `json:"version"` // the version the actor saw; required
	// Note is the progress report (progress), the result (complete), or the
	// comment of a verification or extension decision.
	Note        string     `json:"note,omitempty"`
	Reason      string     `json:"reason,omitempty"`       // return, reject_result, request_extension, cancel, reopen
	NewDeadline *time.Time `json:"new_deadline,omitempty"` // request_extension
	Approve     *bool      `json:"approve,omitempty"`      // decide_extension
	Dept        string     `json:"dept,omitempty"`         // reassign
}

// GetTask returns a task the actor may see: a department only its own (any
// other is CodeNotFound, as if it did not exist).
func (w *Workflow) GetTask(ctx context.Context, actor Actor, id string) (Task, error) {
	t, err := w.cfg.Store.GetTask(ctx, id)
	if err != nil {
		return Task{}, err
	}
	if !CanReadTask(actor, t) {
		return Task{}, Errorf(CodeNotFound, "task %s not found", id)
	}
	return t, nil
}

// ListTasks lists tasks; a department sees only its own, whatever the
// filter says.
func (w *Workflow) ListTasks(ctx context.Context, actor Actor, f TaskFilter) ([]Task, error) {
	if actor.Role == RoleDept {
		f.Dept = actor.Dept
	}
	return w.cfg.Store.ListTasks(ctx, f)
}

// GetIncident returns an incident the actor may see (CanReadIncident): a
// department only one it holds a live task on (any other is CodeNotFound,
// as if it did not exist); the call floor none (CodeForbidden).
func (w *Workflow) GetIncident(ctx context.Context, actor Actor, id string) (Incident, error) {
	if actor.Role == RoleAgent {
		return Incident{}, forbidden(actor, "read incidents")
	}
	inc, err := w.cfg.Store.GetIncident(ctx, id)
	if err != nil {
		return Incident{}, err
	}
	if !CanReadIncident(actor, inc) {
		return Incident{}, Errorf(CodeNotFound, "incident %s not found", id)
	}
	return inc, nil
}

// ListIncidents lists incidents; a department sees only those it holds a
// live task on (Incident.Departments).
func (w *Workflow) ListIncidents(ctx context.Context, actor Actor, f IncidentFilter) ([]Incident, error) {
	switch actor.Role {
	case RoleDept:
		f.Dept = actor.Dept
	case RoleAgent:
		return nil, forbidden(actor, "list incidents")
	}
	return w.cfg.Store.ListIncidents(ctx, f)
}

// ActOnTask applies an action to a task, by the rule taskActions gives
// it. Errors: CodeNotFound for a task that does not exist or (for a
// department) is not its own; CodeForbidden when the role may not take the
// action; CodeInvalid for bad input, naming the field;
// CodeInvalidTransition when the task's state does not allow the action;
// CodeVersionConflict when the task changed since the version the actor saw.
func (w *Workflow) ActOnTask(ctx context.Context, actor Actor, id string, in TaskActionInput) (Task, error) {
	if err := requireVersion("task", in.Version); err != nil {
		return Task{}, err
	}
	rule, ok := taskActions[in.Action]
	if !ok {
		return Task{}, FieldError(CodeInvalid, "action", "unknown task action %q", in.Action)
	}
	var out Task
	_, err := w.cfg.Store.Update(ctx, func(ctx context.Context, tx Tx) error {
		t, err := tx.Task(ctx, id)
		if err != nil {
			return err
		}
		if actor.Role == RoleDept && t.Dept != actor.Dept {
			return Errorf(CodeNotFound, "task %s not found", id)
		}
		if !rule.who.allows(actor) {
			if rule.who == byDepartment {
				return forbidden(actor, string(in.Action)+" a task: that is the department's to do")
			}
			return forbidden(actor, string(in.Action)+" a task")
		}
		if err := checkVersion("task", id, t.Version, in.Version); err != nil {
			return err
		}
		next, err := NextState(t.State, in.Action)
		if err != nil {
			return err
		}
		prev := t.Version
		ch := change{typ: rule.event, actor: actor, resetTimers: rule.timers}
		if err := rule.apply(w, ctx, tx, actor, &t, in, &ch); err != nil {
			return err
		}
		t.State = next
		if err := w.save(ctx, tx, &t, prev, ch); err != nil {
			return err
		}
		if ch.resetTimers {
			if err := tx.SetTimers(ctx, t.ID, w.timersFor(t)); err != nil {
				return err
			}
		}
		if rule.moves {
			if err := w.syncDepartments(ctx, tx, t, actor); err != nil {
				return err
			}
		}
		out = t
		return nil
	})
	return out, err
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

// reopen gives a task fresh deadlines for redoing the work (重办).
func (w *Workflow) reopen(t *Task, now time.Time) {
	l := w.cfg.Limits[t.Class]
	t.Reopened++
	t.SignedAt, t.CompletedAt, t.VerifiedAt, t.Overdue = nil, nil, nil, false
	t.SignBy, t.Deadline = now.Add(time.Duration(l.Sign)), now.Add(time.Duration(l.Complete))
}

// CallbackInput is the record of one callback to a citizen.
type CallbackInput struct {
	CallID       string       `json:"call_id,omitempty"`
	Reached      *bool        `json:"reached"`
	Satisfaction Satisfaction `json:"satisfaction,omitempty"`
	Comment      string       `json:"comment,omitempty"`
}

// RecordCallback records the hotline's callback to a citizen about a
// completed or verified task. An unsatisfied citizen reopens the task (重办)
// in the same transaction. Errors: CodeForbidden for departments;
// CodeNotFound; CodeInvalid for bad input; CodeInvalidTransition when the
// task is not completed or verified.
func (w *Workflow) RecordCallback(ctx context.Context, actor Actor, taskID string, in CallbackInput) (Task, error) {
	if !actor.hotline() {
		return Task{}, forbidden(actor, "record callbacks")
	}
	if in.Reached == nil {
		return Task{}, FieldError(CodeInvalid, "reached", "reached (true or false) is required")
	}
	switch {
	case !*in.Reached && in.Satisfaction != "":
		return Task{}, FieldError(CodeInvalid, "satisfaction", "a citizen who was not reached gives no satisfaction")
	case *in.Reached && in.Satisfaction != Satisfied && in.Satisfaction != BasicSatisfied && in.Satisfaction != Unsatisfied:
		return Task{}, FieldError(CodeInvalid, "satisfaction", "satisfaction must be satisfied, basically_satisfied or unsatisfied")
	}
	comment, err := checkText("comment", in.Comment, false, MaxNoteChars)
	if err != nil {
		return Task{}, err
	}
	var out Task
	_, err = w.cfg.Store.Update(ctx, func(ctx context.Context, tx Tx) error {
		t, err := tx.Task(ctx, taskID)
		if err != nil {
			return err
		}
		if t.State != TaskCompleted && t.State != TaskVerified {
			return FieldError(CodeInvalidTransition, "task", "callbacks follow completion; task %s is %s", taskID, t.State)
		}
		if in.CallID != "" {
			if _, err := tx.Call(ctx, in.CallID); err != nil {
				return FieldError(CodeInvalid, "call_id", "unknown call %q", in.CallID)
			}
		}
		if err := checkRoom("callbacks", len(t.Callbacks), MaxCallbacks); err != nil {
			return err
		}
		now := w.now()
		cb := Callback{At: now, Actor: actor.Name, CallID: in.CallID, Reached: *in.Reached, Satisfaction: in.Satisfaction, Comment: comment}
		t.Callbacks = append(t.Callbacks, cb)
		reopen := cb.Satisfaction == Unsatisfied
		if reopen {
			w.reopen(&t, now)
			t.State = TaskReopened
		}
		if err := w.save(ctx, tx, &t, t.Version, change{typ: EventCallbackRecorded, actor: actor, callback: &cb}); err != nil {
			return err
		}
		out = t
		if !reopen {
			return nil
		}
		if err := tx.SetTimers(ctx, t.ID, w.timersFor(t)); err != nil {
			return err
		}
		return w.emit(ctx, tx, &t, change{typ: EventTaskReopened, actor: System, cause: &Cause{Kind: CauseUnsatisfied}})
	})
	return out, err
}

// PendingTimers returns the supervision timers of a task that have not
// fired.
func (w *Workflow) PendingTimers(ctx context.Context, taskID string) ([]Timer, error) {
	return w.cfg.Store.PendingTimers(ctx, taskID)
}

// Audit returns the audit log (who did what, when, from where) to leaders
// and administrators.
func (w *Workflow) Audit(ctx context.Context, actor Actor, f AuditFilter) ([]AuditEntry, error) {
	if actor.Role != RoleLeader && actor.Role != RoleAdmin {
		return nil, forbidden(actor, "read the audit log")
	}
	return w.cfg.Store.Audit(ctx, f)
}
