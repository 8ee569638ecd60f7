package incidents

import (
	"context"
	"time"
)

// TaskState is where a task stands in its lifecycle.
type TaskState string

// The task states (see docs/WORKFLOW.md for the diagram).
const (
	TaskDispatched TaskState = "dispatched"  // 派单: pushed to the department, not yet signed for
	TaskSigned     TaskState = "signed"      // 签收: the department has taken it
	TaskInProgress TaskState = "in_progress" // 办理: being worked
	TaskCompleted  TaskState = "completed"   // 办结: the department reports it done
	TaskVerified   TaskState = "verified"    // 审核: the hotline checked the result
	TaskReturned   TaskState = "returned"    // 退单: the department says it is not theirs
	TaskReopened   TaskState = "reopened"    // 重办: a callback found the citizen unsatisfied
	TaskCancelled  TaskState = "cancelled"   // withdrawn by the leadership group
)

// Open reports whether work on a task in state s is still owed by its
// department (its deadlines run).
func (s TaskState) Open() bool {
	switch s {
	case TaskDispatched, TaskSigned, TaskInProgress, TaskReopened:
		return true
	}
	return false
}

// TaskAction is something done to a task.
type TaskAction string

// The task actions.
const (
	ActSign             TaskAction = "sign"              // department
	ActProgress         TaskAction = "progress"          // department: a progress report; starts the work
	ActComplete         TaskAction = "complete"          // department
	ActReturn           TaskAction = "return"            // department, with a reason
	ActRequestExtension TaskAction = "request_extension" // department, with a reason and a new deadline
	ActDecideExtension  TaskAction = "decide_extension"  // hotline/leadership: approve or deny
	ActVerify           TaskAction = "verify"            // hotline/leadership: accept the result
	ActRejectResult     TaskAction = "reject_result"     // hotline/leadership: send the result back, with a reason
	ActReassign         TaskAction = "reassign"          // hotline/leadership: a returned task to another department
	ActReopen           TaskAction = "reopen"            // after an unsatisfied callback
	ActCancel           TaskAction = "cancel"            // hotline/leadership, with a reason
)

// taskActor is who may take a task action.
type taskActor int

const (
	byLeaders    taskActor = iota // the leadership group (and the administrators)
	byDepartment                  // the department that holds the task (or an administrator)
	byHotline                     // the hotline's agents or the leadership group
)

func (who taskActor) allows(a Actor) bool {
	switch who {
	case byDepartment:
		return a.Role == RoleDept || a.Role == RoleAdmin
	case byHotline:
		return a.hotline()
	}
	return a.leads()
}

// taskRule is one task action's rule: who takes it, the states it may be
// taken from and the state it leads to ("" keeps the state), the event it
// appends, whether it sets the task's timers again (its deadlines or state
// changed), whether it may move the task away from its department (the
// incident's departments follow), and apply, which checks the input and
// changes the task and the event.
type taskRule struct {
	who    taskActor
	from   []TaskState
	to     TaskState
	event  string
	timers bool
	moves  bool
	apply  func(w *Workflow, ctx context.Context, tx Tx, a Actor, t *Task, in TaskActionInput, ch *change) error
}

// openStates are the states in which a department still owes the work.
var openStates = []TaskState{TaskDispatched, TaskSigned, TaskInProgress, TaskReopened}

// taskActions is the rule of every task action: the one table ActOnTask
// and NextState follow.
var taskActions = map[TaskAction]taskRule{
	ActSign:             {byDepartment, []TaskState{TaskDispatched, TaskReopened}, TaskSigned, EventTaskSigned, true, false, signTask},
	ActProgress:         {byDepartment, []TaskState{TaskSigned, TaskInProgress}, TaskInProgress, EventTaskProgress, false, false, reportProgress},
	ActComplete:         {byDepartment, []TaskState{TaskSigned, TaskInProgress}, TaskCompleted, EventTaskCompleted, true, false, completeTask},
	ActReturn:           {byDepartment, []TaskState{TaskDispatched, TaskSigned}, TaskReturned, EventTaskReturned, true, false, returnTask},
	ActRequestExtension: {byDepartment, openStates, "", EventTaskExtensionAsked, false, false, requestExtension},
	ActDecideExtension:  {byLeaders, openStates, "", EventTaskExtensionDone, false, false, decideExtension},
	ActVerify:           {byHotline, []TaskState{TaskCompleted}, TaskVerified, EventTaskVerified, false, false, verifyTask},
	ActRejectResult:     {byHotline, []TaskState{TaskCompleted}, TaskInProgress, EventTaskResultRejected, true, false, rejectResult},
	ActReassign:         {byLeaders, []TaskState{TaskReturned}, TaskDispatched, EventTaskReassigned, true, true, reassignTask},
	ActReopen:           {byLeaders, []TaskState{TaskCompleted, TaskVerified}, TaskReopened, EventTaskReopened, true, false, reopenTask},
	ActCancel: {byLeaders, []TaskState{TaskDispatched, TaskSigned, TaskInProgress, TaskReturned, TaskReopened, TaskCompleted},
		TaskCancelled, EventTaskCancelled, true, true, cancelTask},
}

// NextState returns the state a task in state from reaches by action a. It
// returns an *Error with CodeInvalidTransition when a is not allowed from
// that state, and CodeInvalid for an unknown action.
func NextState(from TaskState, a TaskAction) (TaskState, error) {
	t, ok := taskActions[a]
	if !ok {
		return "", FieldError(CodeInvalid, "action", "unknown task action %q", a)
	}
	for _, s := range t.from {
		if s == from {
			if t.to == "" {
				return from, nil
			}
			return t.to, nil
		}
	}
	return "", FieldError(CodeInvalidTransition, "action", "a %s task cannot be given %s", from, a)
}

func signTask(w *Workflow, _ context.Context, _ Tx, _ Actor, t *Task, _ TaskActionInput, _ *change) error {
	now := w.now()
	t.SignedAt = &now
	return nil
}

func reportProgress(w *Workflow, _ context.Context, _ Tx, a Actor, t *Task, in TaskActionInput, ch *change) error {
	note, err := checkText("note", in.Note, true, MaxNoteChars)
	if err != nil {
		return err
	}
	if err := checkRoom("progress", len(t.Progress), MaxProgressNotes); err != nil {
		return err
	}
	t.Progress = append(t.Progress, Note{At: w.now(), Actor: a.Name, Text: note})
	ch.note = note
	return nil
}

func completeTask(w *Workflow, _ context.Context, _ Tx, _ Actor, t *Task, in TaskActionInput, _ *change) error {
	result, err := checkText("note", in.Note, true, MaxResultChars)
	if err != nil {
		return err
	}
	now := w.now()
	t.Result, t.CompletedAt = result, &now
	return nil
}

func verifyTask(w *Workflow, _ context.Context, _ Tx, _ Actor, t *Task, in TaskActionInput, ch *change) error {
	note, err := checkText("note", in.Note, false, MaxNoteChars)
	if err != nil {
		return err
	}
	now := w.now()
	t.VerifiedAt, ch.note = &now, note
	return nil
}

func rejectResult(_ *Workflow, _ context.Context, _ Tx, _ Actor, t *Task, in TaskActionInput, ch *change) error {
	reason, err := checkText("reason", in.Reason, true, MaxReasonChars)
	if err != nil {
		return err
	}
	t.CompletedAt, t.Result, ch.reason = nil, "", reason
	return nil
}

func returnTask(_ *Workflow, _ context.Context, _ Tx, _ Actor, t *Task, in TaskActionInput, ch *change) error {
	reason, err := checkText("reason", in.Reason, true, MaxReasonChars)
	if err != nil {
		return err
	}
	t.ReturnReason, ch.reason = reason, reason
	return nil
}

func reassignTask(w *Workflow, ctx context.Context, tx Tx, a Actor, t *Task, in TaskActionInput, ch *change) error {
	if _, ok := w.cfg.Departments.Department(in.Dept); !ok {
		return FieldError(CodeInvalid, "dept", "unknown department %q", in.Dept)
	}
	if in.Dept == t.Dept {
		return FieldError(CodeInvalid, "dept", "the task was returned by %s; reassign it to another department", t.Dept)
	}
	inc, err := tx.Incident(ctx, t.IncidentID)
	if err != nil {
		return err
	}
	now := w.now()
	ch.previousDept = t.Dept
	t.PreviousDepts = append(t.PreviousDepts, t.Dept)
	t.Dept, t.SignedAt, t.ReturnReason, t.Overdue, t.Extension = in.Dept, nil, "", false, nil
	l := w.cfg.Limits[t.Class]
	t.DispatchedAt, t.DispatchedBy = now, a.Name
	t.SignBy, t.Deadline = now.Add(time.Duration(l.Sign)), now.Add(time.Duration(l.Complete))
	t.about(inc)
	return nil
}

func requestExtension(w *Workflow, _ context.Context, _ Tx, a Actor, t *Task, in TaskActionInput, ch *change) error {
	reason, err := checkText("reason", in.Reason, true, MaxReasonChars)
	if err != nil {
		return err
	}
	if in.NewDeadline == nil || !in.NewDeadline.After(t.Deadline) {
		return FieldError(CodeInvalid, "new_deadline", "new_deadline must be after the current deadline %s", t.Deadline.Format(time.RFC3339))
	}
	if in.NewDeadline.After(t.Deadline.Add(30 * 24 * time.Hour)) {
		return FieldError(CodeInvalid, "new_deadline", "an extension may add at most 30 days")
	}
	if t.Extension != nil && t.Extension.Decision == "" {
		return FieldError(CodeInvalidTransition, "action", "an extension request is already waiting for a decision")
	}
	nd := in.NewDeadline.UTC().Truncate(time.Microsecond)
	t.Extension = &Extension{RequestedAt: w.now(), RequestedBy: a.Name, NewDeadline: nd, Reason: reason}
	ch.reason = reason
	return nil
}

func decideExtension(w *Workflow, _ context.Context, _ Tx, a Actor, t *Task, in TaskActionInput, ch *change) error {
	if t.Extension == nil || t.Extension.Decision != "" {
		return FieldError(CodeInvalidTransition, "action", "no extension request is waiting for a decision")
	}
	if in.Approve == nil {
		return FieldError(CodeInvalid, "approve", "approve (true or false) is required")
	}
	comment, err := checkText("note", in.Note, false, MaxNoteChars)
	if err != nil {
		return err
	}
	now := w.now()
	t.Extension.DecidedAt, t.Extension.DecidedBy, t.Extension.Comment = &now, a.Name, comment
	if !*in.Approve {
		t.Extension.Decision = "denied"
		return nil
	}
	t.Extension.Decision = "approved"
	t.Deadline, t.Overdue = t.Extension.NewDeadline, false
	ch.resetTimers = true
	return nil
}

func reopenTask(w *Workflow, _ context.Context, _ Tx, _ Actor, t *Task, in TaskActionInput, ch *change) error {
	reason, err := checkText("reason", in.Reason, true, MaxReasonChars)
	if err != nil {
		return err
	}
	w.reopen(t, w.now())
	ch.reason = reason
	return nil
}

func cancelTask(_ *Workflow, _ context.Context, _ Tx, _ Actor, _ *Task, in TaskActionInput, ch *change) error {
	reason, err := checkText("reason", in.Reason, true, MaxReasonChars)
	if err != nil {
		return err
	}
	ch.reason = reason
	return nil
}

// UrgencyClass decides a task's time limits.
type UrgencyClass string

// The urgency classes of 12345 practice.
const (
	ClassEmergency UrgencyClass = "emergency" // answered within 2 h
	ClassUtility   UrgencyClass = "utility"   // water, power, gas: 24 h
	ClassGeneral   UrgencyClass = "general"   // 7 days
	ClassComplex   UrgencyClass = "complex"   // 15 days
)

// TimeLimit is how long a department has to sign for and to complete a task
// of one urgency class, and when supervision steps in.
type TimeLimit struct {
	Sign     Duration `json:"sign"`     // from dispatch to signed for
	Complete Duration `json:"complete"` // from dispatch to completed
	// Remind is how long before the completion deadline the department is
	// reminded (催办).
	Remind Duration `json:"remind"`
	// Escalate is how long after a missed deadline the leadership group is
	// alerted (督办), and Repeat how often again until the task is handled.
	Escalate Duration `json:"escalate"`
	Repeat   Duration `json:"repeat"`
}

// Duration is a time.Duration written in JSON as a Go duration string.
type Duration time.Duration

// MarshalText writes the duration as "2h0m0s".
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads a Go duration string such as "30m" or "168h".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// DefaultTimeLimits are the time limits of 12345 practice.
func DefaultTimeLimits() map[UrgencyClass]TimeLimit {
	h := func(n float64) Duration { return Duration(time.Duration(n * float64(time.Hour))) }
	return map[UrgencyClass]TimeLimit{
		ClassEmergency: {Sign: h(0.5), Complete: h(2), Remind: h(0.5), Escalate: h(0.25), Repeat: h(0.5)},
		ClassUtility:   {Sign: h(2), Complete: h(24), Remind: h(4), Escalate: h(1), Repeat: h(4)},
		ClassGeneral:   {Sign: h(24), Complete: h(7 * 24), Remind: h(24), Escalate: h(24), Repeat: h(24)},
		ClassComplex:   {Sign: h(24), Complete: h(15 * 24), Remind: h(48), Escalate: h(24), Repeat: h(48)},
	}
}
