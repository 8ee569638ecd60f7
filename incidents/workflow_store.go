package incidents

import (
	"context"
	"time"
)

// EventInput is an event to append in a workflow transaction; the store
// gives it its seq and time at commit.
type EventInput struct {
	Type   string
	Actor  string
	Origin string // where the action came from (client address), kept for the audit log only
	Data   any    // marshalled as JSON
	// Audience is who may see the event besides the leadership group and
	// the administrators; the store keeps it with the event.
	Audience Audience
}

// Timer is a supervision timer of a task, kept in the store so that it
// survives restarts and fires exactly once even with several nodes.
type Timer struct {
	ID      int64     `json:"id"`
	TaskID  string    `json:"task_id"`
	Kind    string    `json:"kind"` // TimerSign, TimerRemind, TimerOverdue, TimerEscalate
	DueAt   time.Time `json:"due_at"`
	Attempt int       `json:"attempt"` // escalations: 1 for the first, 2 for the next, ...
}

// The timer kinds.
const (
	TimerSign     = "sign"     // signing-for deadline passed
	TimerRemind   = "remind"   // 催办: reminder before the deadline
	TimerOverdue  = "overdue"  // the completion deadline passed
	TimerEscalate = "escalate" // 督办: escalate to leadership, repeated until handled
)

// Tx is one transaction of the workflow. Reads return the state as of the
// transaction and keep those records from changing under it until commit.
// Events appended are committed with the changes, or not at all.
type Tx interface {
	// Incident returns an incident; CodeNotFound when there is none.
	Incident(ctx context.Context, id string) (Incident, error)
	// PutIncident stores inc. prev is the version the caller read (0 to
	// create); the store fails with CodeVersionConflict when the stored
	// version differs (or, creating, the id exists). inc.Version must be
	// prev+1.
	PutIncident(ctx context.Context, inc Incident, prev int64) error
	// ActiveIncidents returns the open and confirmed incidents.
	ActiveIncidents(ctx context.Context) ([]Incident, error)
	// IncidentsOfCalls maps each of the given calls that is attached to an
	// incident to that incident's id.
	IncidentsOfCalls(ctx context.Context, callIDs []string) (map[string]string, error)
	// AttachCalls attaches calls to an incident (moving them from another).
	AttachCalls(ctx context.Context, incidentID string, callIDs []string) error
	// Task returns a task; CodeNotFound when there is none.
	Task(ctx context.Context, id string) (Task, error)
	// PutTask stores t with the same version rule as PutIncident.
	PutTask(ctx context.Context, t Task, prev int64) error
	// TasksOfIncident returns an incident's tasks, oldest first.
	TasksOfIncident(ctx context.Context, incidentID string) ([]Task, error)
	// SetTimers replaces the task's timers that have not fired with these.
	SetTimers(ctx context.Context, taskID string, timers []Timer) error
	// Call returns a call; CodeNotFound when there is none.
	Call(ctx context.Context, id string) (Call, error)
	// Append adds an event, committed with the transaction.
	Append(ctx context.Context, e EventInput) error
}

// IncidentFilter selects incidents for a listing. Zero values mean any.
type IncidentFilter struct {
	States []IncidentState
	Dept   string // only incidents with a task of this department
	Limit  int
}

// TaskFilter selects tasks for a listing. Zero values mean any.
type TaskFilter struct {
	Dept       string
	IncidentID string
	States     []TaskState
	Limit      int
}

// AuditFilter selects entries of the audit log (the event log with the
// origin of each action). Zero values mean any.
type AuditFilter struct {
	Actor      string
	TypePrefix string // e.g. "task." or "incident.merged"
	From, To   time.Time
	BeforeSeq  int64 // newest first, below this seq (0 = from the newest)
	Limit      int
}

// AuditEntry is one event with where its action came from.
type AuditEntry struct {
	Event
	Origin string `json:"origin,omitempty"`
}

// Lease is the leadership of a named job among nodes (the detector runs on
// one node at a time).
type Lease interface {
	// Lost is closed when the lease is lost (the connection holding it
	// failed); the holder must stop the job.
	Lost() <-chan struct{}
	// Release gives the lease up.
	Release()
}

// WorkflowStore is what the command workflow needs of the store, besides
// Store.
type WorkflowStore interface {
	// Update runs fn in one transaction and commits it with the events fn
	// appended, which it returns with their seqs. When fn returns an error,
	// nothing is stored and Update returns that error.
	Update(ctx context.Context, fn func(ctx context.Context, tx Tx) error) ([]Event, error)
	// FireDueTimers claims up to limit timers due at or before now that
	// have not fired and, for each in its own transaction, calls fire and
	// marks the timer fired. A timer fires once even when several nodes
	// call FireDueTimers at once. It returns how many fired.
	FireDueTimers(ctx context.Context, now time.Time, limit int, fire func(ctx context.Context, tx Tx, t Timer) error) (int, error)
	// GetIncident, GetTask: CodeNotFound when absent.
	GetIncident(ctx context.Context, id string) (Incident, error)
	GetTask(ctx context.Context, id string) (Task, error)
	// ListIncidents returns incidents newest first.
	ListIncidents(ctx context.Context, f IncidentFilter) ([]Incident, error)
	// ListTasks returns tasks by deadline, soonest first.
	ListTasks(ctx context.Context, f TaskFilter) ([]Task, error)
	// PendingTimers returns a task's timers that have not fired, soonest first.
	PendingTimers(ctx context.Context, taskID string) ([]Timer, error)
	// Audit returns audit entries newest first.
	Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
	// Lead blocks until this node holds the lease called name, or ctx ends.
	Lead(ctx context.Context, name string) (Lease, error)
}
