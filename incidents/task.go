package incidents

import (
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

// transitions lists, for each action, the states it may be taken from and
// the state it leads to ("" keeps the state).
var transitions = map[TaskAction]struct {
	from []TaskState
	to   TaskState
}{
	ActSign:             {[]TaskState{TaskDispatched, TaskReopened}, TaskSigned},
	ActProgress:         {[]TaskState{TaskSigned, TaskInProgress}, TaskInProgress},
	ActComplete:         {[]TaskState{TaskSigned, TaskInProgress}, TaskCompleted},
	ActReturn:           {[]TaskState{TaskDispatched, TaskSigned}, TaskReturned},
	ActRequestExtension: {[]TaskState{TaskDispatched, TaskSigned, TaskInProgress, TaskReopened}, ""},
	ActDecideExtension:  {[]TaskState{TaskDispatched, TaskSigned, TaskInProgress, TaskReopened}, ""},
	ActVerify:           {[]TaskState{TaskCompleted}, TaskVerified},
	ActRejectResult:     {[]TaskState{TaskCompleted}, TaskInProgress},
	ActReassign:         {[]TaskState{TaskReturned}, TaskDispatched},
	ActReopen:           {[]TaskState{TaskCompleted, TaskVerified}, TaskReopened},
	ActCancel:           {[]TaskState{TaskDispatched, TaskSigned, TaskInProgress, TaskReturned, TaskReopened, TaskCompleted}, TaskCancelled},
}

// NextState returns the state a task in state from reaches by action a. It
// returns an *Error with CodeInvalidTransition when a is not allowed from
// that state, and CodeInvalid for an unknown action.
func NextState(from TaskState, a TaskAction) (TaskState, error) {
	t, ok := transitions[a]
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
