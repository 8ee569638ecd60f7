package incidents

import (
	"context"
	"fmt"
	"time"
)

// taskEvent is the data of a task.* event: the task, plus what the event
// adds. Departments is the incident's departments, so that the incident's
// other departments see the progress of the joint work.
type taskEvent struct {
	Task
	PreviousDept string    `json:"previous_dept,omitempty"`
	Reason       string    `json:"reason,omitempty"`
	Note         string    `json:"note,omitempty"`
	Callback     *Callback `json:"callback,omitempty"`
}

// newTask creates a task for dept on inc (which the caller stores) with its
// deadlines and timers, and appends task.dispatched.
func (w *Workflow) newTask(ctx context.Context, tx Tx, inc *Incident, dept string, class UrgencyClass, actor Actor, previous string) (Task, error) {
	now := w.now()
	limit := w.cfg.Limits[class]
	d, _ := w.cfg.Departments.Department(dept)
	t := Task{
		ID: NewID("t", now), Version: 1, IncidentID: inc.ID, Dept: dept, State: TaskDispatched, Class: class,
		DispatchedAt: now, DispatchedBy: actor.Name,
		SignBy: now.Add(time.Duration(limit.Sign)), Deadline: now.Add(time.Duration(limit.Complete)),
		UpdatedAt: now,
	}
	t.Instructions = fmt.Sprintf("%s（%s级，%d 起来电）请%s于 %s 前签收，%s 前办结。",
		inc.Title, roman(inc.Grade), inc.CallCount, d.NameZh,
		t.SignBy.In(shanghai).Format("01-02 15:04"), t.Deadline.In(shanghai).Format("01-02 15:04"))
	if err := tx.PutTask(ctx, t, 0); err != nil {
		return Task{}, err
	}
	if err := tx.SetTimers(ctx, t.ID, w.timersFor(t)); err != nil {
		return Task{}, err
	}
	inc.Departments = mergeIDs(inc.Departments, []string{dept})
	return t, tx.Append(ctx, EventInput{Type: EventTaskDispatched, Actor: actor.Name, Origin: actor.Origin,
		Data: taskEvent{Task: t, PreviousDept: previous}})
}

// shanghai is the time zone of the users' clocks.
var shanghai = time.FixedZone("CST", 8*3600)

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

// deptActions are done by the department that holds the task.
var deptActions = map[TaskAction]bool{ActSign: true, ActProgress: true, ActComplete: true, ActReturn: true, ActRequestExtension: true}

// hotlineActions are done by the hotline (agents) or the leadership group.
var hotlineActions = map[TaskAction]bool{ActVerify: true, ActRejectResult: true}

// GetTask returns a task the actor may see: a department only its own (any
// other is CodeNotFound, as if it did not exist).
func (w *Workflow) GetTask(ctx context.Context, actor Actor, id string) (Task, error) {
	t, err := w.cfg.Store.GetTask(ctx, id)
	if err != nil {
		return Task{}, err
	}
	if actor.Role == RoleDept && t.Dept != actor.Dept {
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

// GetIncident returns an incident the actor may see: a department only one
// it has tasks on.
func (w *Workflow) GetIncident(ctx context.Context, actor Actor, id string) (Incident, error) {
	inc, err := w.cfg.Store.GetIncident(ctx, id)
	if err != nil {
		return Incident{}, err
	}
	if actor.Role == RoleDept && !containsString(inc.Departments, actor.Dept) {
		return Incident{}, Errorf(CodeNotFound, "incident %s not found", id)
	}
	if actor.Role == RoleAgent {
		return Incident{}, forbidden(actor, "read incidents")
	}
	return inc, nil
}

// ListIncidents lists incidents; a department sees only those it has
// tasks on.
func (w *Workflow) ListIncidents(ctx context.Context, actor Actor, f IncidentFilter) ([]Incident, error) {
	switch actor.Role {
	case RoleDept:
		f.Dept = actor.Dept
	case RoleAgent:
		return nil, forbidden(actor, "list incidents")
	}
	return w.cfg.Store.ListIncidents(ctx, f)
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ActOnTask applies an action to a task. Errors: CodeNotFound for a task
// that does not exist or (for a department) is not its own;
// CodeForbidden when the role may not take the action; CodeInvalid for bad
// input, naming the field; CodeInvalidTransition when the task's state does
// not allow the action; CodeVersionConflict when the task changed since the
// version the actor saw.
func (w *Workflow) ActOnTask(ctx context.Context, actor Actor, id string, in TaskActionInput) (Task, error) {
	if in.Version <= 0 {
		return Task{}, FieldError(CodeInvalid, "version", "version is required: the task version you saw")
	}
	if _, ok := transitions[in.Action]; !ok {
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
		switch {
		case deptActions[in.Action]:
			if actor.Role != RoleDept && actor.Role != RoleAdmin {
				return forbidden(actor, string(in.Action)+" a task: that is the department's to do")
			}
		case hotlineActions[in.Action]:
			if !actor.hotline() {
				return forbidden(actor, string(in.Action)+" a task")
			}
		default:
			if !actor.leads() {
				return forbidden(actor, string(in.Action)+" a task")
			}
		}
		if err := checkVersion("task", id, t.Version, in.Version); err != nil {
			return err
		}
		out, err = w.applyTask(ctx, tx, actor, t, in)
		return err
	})
	return out, err
}

// applyTask changes t by in inside tx and appends its event.
func (w *Workflow) applyTask(ctx context.Context, tx Tx, actor Actor, t Task, in TaskActionInput) (Task, error) {
	next, err := NextState(t.State, in.Action)
	if err != nil {
		return Task{}, err
	}
	now := w.now()
	prev := t.Version
	ev := taskEvent{}
	evType := ""
	timers := false // recompute the timers
	switch in.Action {
	case ActSign:
		t.SignedAt = &now
		evType, timers = EventTaskSigned, true
	case ActProgress:
		note, err := checkText("note", in.Note, true, 2000)
		if err != nil {
			return Task{}, err
		}
		t.Progress = append(t.Progress, Note{At: now, Actor: actor.Name, Text: note})
		evType, ev.Note = EventTaskProgress, note
	case ActComplete:
		result, err := checkText("note", in.Note, true, 4000)
		if err != nil {
			return Task{}, err
		}
		t.Result, t.CompletedAt = result, &now
		evType, timers = EventTaskCompleted, true
	case ActVerify:
		note, err := checkText("note", in.Note, false, 2000)
		if err != nil {
			return Task{}, err
		}
		t.VerifiedAt = &now
		evType, ev.Note = EventTaskVerified, note
	case ActRejectResult:
		reason, err := checkText("reason", in.Reason, true, 2000)
		if err != nil {
			return Task{}, err
		}
		t.CompletedAt, t.Result = nil, ""
		evType, ev.Reason, timers = EventTaskResultRejected, reason, true
	case ActReturn:
		reason, err := checkText("reason", in.Reason, true, 2000)
		if err != nil {
			return Task{}, err
		}
		t.ReturnReason = reason
		evType, ev.Reason, timers = EventTaskReturned, reason, true
	case ActReassign:
		if _, ok := w.cfg.Departments.Department(in.Dept); !ok {
			return Task{}, FieldError(CodeInvalid, "dept", "unknown department %q", in.Dept)
		}
		if in.Dept == t.Dept {
			return Task{}, FieldError(CodeInvalid, "dept", "the task was returned by %s; reassign it to another department", t.Dept)
		}
		ev.PreviousDept = t.Dept
		t.PreviousDepts = append(t.PreviousDepts, t.Dept)
		t.Dept, t.SignedAt, t.ReturnReason, t.Overdue, t.Extension = in.Dept, nil, "", false, nil
		l := w.cfg.Limits[t.Class]
		t.DispatchedAt, t.DispatchedBy = now, actor.Name
		t.SignBy, t.Deadline = now.Add(time.Duration(l.Sign)), now.Add(time.Duration(l.Complete))
		inc, err := tx.Incident(ctx, t.IncidentID)
		if err != nil {
			return Task{}, err
		}
		if !containsString(inc.Departments, in.Dept) {
			pi := inc.Version
			inc.Departments = append(inc.Departments, in.Dept)
			inc.Version, inc.UpdatedAt = pi+1, now
			if err := tx.PutIncident(ctx, inc, pi); err != nil {
				return Task{}, err
			}
		}
		evType, timers = EventTaskReassigned, true
	case ActRequestExtension:
		reason, err := checkText("reason", in.Reason, true, 2000)
		if err != nil {
			return Task{}, err
		}
		if in.NewDeadline == nil || !in.NewDeadline.After(t.Deadline) {
			return Task{}, FieldError(CodeInvalid, "new_deadline", "new_deadline must be after the current deadline %s", t.Deadline.Format(time.RFC3339))
		}
		if in.NewDeadline.After(t.Deadline.Add(30 * 24 * time.Hour)) {
			return Task{}, FieldError(CodeInvalid, "new_deadline", "an extension may add at most 30 days")
		}
		if t.Extension != nil && t.Extension.Decision == "" {
			return Task{}, FieldError(CodeInvalidTransition, "action", "an extension request is already waiting for a decision")
		}
		nd := in.NewDeadline.UTC().Truncate(time.Microsecond)
		t.Extension = &Extension{RequestedAt: now, RequestedBy: actor.Name, NewDeadline: nd, Reason: reason}
		evType, ev.Reason = EventTaskExtensionAsked, reason
	case ActDecideExtension:
		if t.Extension == nil || t.Extension.Decision != "" {
			return Task{}, FieldError(CodeInvalidTransition, "action", "no extension request is waiting for a decision")
		}
		if in.Approve == nil {
			return Task{}, FieldError(CodeInvalid, "approve", "approve (true or false) is required")
		}
		comment, err := checkText("note", in.Note, false, 2000)
		if err != nil {
			return Task{}, err
		}
		t.Extension.DecidedAt, t.Extension.DecidedBy, t.Extension.Comment = &now, actor.Name, comment
		if *in.Approve {
			t.Extension.Decision = "approved"
			t.Deadline, t.Overdue = t.Extension.NewDeadline, false
			timers = true
		} else {
			t.Extension.Decision = "denied"
		}
		evType = EventTaskExtensionDone
	case ActReopen:
		reason, err := checkText("reason", in.Reason, true, 2000)
		if err != nil {
			return Task{}, err
		}
		w.reopen(&t, now)
		evType, ev.Reason, timers = EventTaskReopened, reason, true
	case ActCancel:
		reason, err := checkText("reason", in.Reason, true, 2000)
		if err != nil {
			return Task{}, err
		}
		evType, ev.Reason, timers = EventTaskCancelled, reason, true
	}
	t.State, t.Version, t.UpdatedAt = next, prev+1, now
	if err := tx.PutTask(ctx, t, prev); err != nil {
		return Task{}, err
	}
	if timers {
		if err := tx.SetTimers(ctx, t.ID, w.timersFor(t)); err != nil {
			return Task{}, err
		}
	}
	ev.Task = t
	return t, tx.Append(ctx, EventInput{Type: evType, Actor: actor.Name, Origin: actor.Origin, Data: ev})
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
	comment, err := checkText("comment", in.Comment, false, 2000)
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
		now := w.now()
		cb := Callback{At: now, Actor: actor.Name, CallID: in.CallID, Reached: *in.Reached, Satisfaction: in.Satisfaction, Comment: comment}
		prev := t.Version
		t.Callbacks = append(t.Callbacks, cb)
		t.Version, t.UpdatedAt = prev+1, now
		reopen := cb.Satisfaction == Unsatisfied
		if reopen {
			w.reopen(&t, now)
			t.State = TaskReopened
		}
		if err := tx.PutTask(ctx, t, prev); err != nil {
			return err
		}
		if err := tx.Append(ctx, EventInput{Type: EventCallbackRecorded, Actor: actor.Name, Origin: actor.Origin,
			Data: taskEvent{Task: t, Callback: &cb}}); err != nil {
			return err
		}
		out = t
		if !reopen {
			return nil
		}
		if err := tx.SetTimers(ctx, t.ID, w.timersFor(t)); err != nil {
			return err
		}
		return tx.Append(ctx, EventInput{Type: EventTaskReopened, Actor: System.Name,
			Data: taskEvent{Task: t, Reason: "callback: citizen unsatisfied"}})
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
