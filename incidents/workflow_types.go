package incidents

import (
	"encoding/json"
	"time"
)

// Grade is an incident's severity: 1 (I, red, most severe) to 4 (IV, blue).
type Grade int

// The grades.
const (
	GradeI   Grade = 1 // 特别重大, red
	GradeII  Grade = 2 // 重大, orange
	GradeIII Grade = 3 // 较大, yellow
	GradeIV  Grade = 4 // 一般, blue
)

// Valid reports whether g is one of the four grades.
func (g Grade) Valid() bool { return g >= GradeI && g <= GradeIV }

// Colour returns the grade's colour name.
func (g Grade) Colour() string {
	switch g {
	case GradeI:
		return "red"
	case GradeII:
		return "orange"
	case GradeIII:
		return "yellow"
	case GradeIV:
		return "blue"
	}
	return ""
}

// AtLeast reports whether g is as severe as o or more (I is the most
// severe, so the smaller number).
func (g Grade) AtLeast(o Grade) bool { return g <= o }

// IncidentState is where an incident stands.
type IncidentState string

// The incident states.
const (
	IncidentOpen      IncidentState = "open"      // detected, not yet confirmed by a leader
	IncidentConfirmed IncidentState = "confirmed" // a leader confirmed it is real
	IncidentClosed    IncidentState = "closed"    // closed with a summary
	IncidentMerged    IncidentState = "merged"    // merged into another incident
)

// Active reports whether an incident in state s still takes calls and tasks.
func (s IncidentState) Active() bool { return s == IncidentOpen || s == IncidentConfirmed }

// Incident is one real-world event (突发事件) that calls are about.
type Incident struct {
	ID          string        `json:"id"`
	Version     int64         `json:"version"`
	State       IncidentState `json:"state"`
	Grade       Grade         `json:"grade"`
	GradeReason GradeReason   `json:"grade_reason"`
	GradeManual bool          `json:"grade_manual"` // set by a leader: no longer raised automatically
	// Title is a leader's own title; an incident the detector opened has
	// none, and the dashboard names it from Category and District.
	Title       string          `json:"title,omitempty"`
	Category    string          `json:"category"` // main category: most calls (the smallest code among equals)
	Source      string          `json:"source"`   // "cluster", "urgent" or "manual"
	Rule        string          `json:"rule,omitempty"`
	Calls       []string        `json:"calls"`      // ids of the first MaxIncidentCalls attached calls, in the order attached
	CallCount   int             `json:"call_count"` // all attached calls
	UrgentCalls int             `json:"urgent_calls"`
	Categories  map[string]int  `json:"categories"`
	Centroid    [2]float64      `json:"centroid"`       // [lon, lat]
	Hull        json.RawMessage `json:"hull,omitempty"` // GeoJSON geometry
	RadiusM     float64         `json:"radius_m"`
	District    string          `json:"district,omitempty"`
	FirstCallAt time.Time       `json:"first_call_at"`
	LastCallAt  time.Time       `json:"last_call_at"`
	OpenedAt    time.Time       `json:"opened_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
	ClosedAt    *time.Time      `json:"closed_at,omitempty"`
	Summary     string          `json:"summary,omitempty"` // closing summary
	LeadDept    string          `json:"lead_dept,omitempty"`
	// Departments holds the departments with a live task on it (one not
	// cancelled nor moved to another department): they see its events and
	// may read it.
	Departments []string      `json:"departments"`
	Plan        *DispatchPlan `json:"plan,omitempty"`
	Notes       []Note        `json:"notes,omitempty"`
	MergedInto  string        `json:"merged_into,omitempty"`
	MergedFrom  []string      `json:"merged_from,omitempty"`
	Clusters    []string      `json:"clusters,omitempty"` // live detector clusters ("rule/id") feeding it
}

// MaxIncidentCalls is how many call ids an incident lists; beyond it only
// CallCount grows (the store keeps every attachment).
const MaxIncidentCalls = 500

// Note is a leader's note on an incident.
type Note struct {
	At    time.Time `json:"at"`
	Actor string    `json:"actor"`
	Text  string    `json:"text"`
}

// DispatchPlan is the proposed set of tasks for an incident: one per
// department, with why it was chosen.
type DispatchPlan struct {
	Class      UrgencyClass `json:"class"`
	Items      []PlanItem   `json:"items"`
	Auto       bool         `json:"auto"`                 // dispatched without waiting for a leader
	Dispatched bool         `json:"dispatched"`           // tasks were created from it
	DecidedBy  string       `json:"decided_by,omitempty"` // who confirmed it
	DecidedAt  *time.Time   `json:"decided_at,omitempty"`
}

// PlanItem is one department of a dispatch plan.
type PlanItem struct {
	Dept   string     `json:"dept"`
	Reason PlanReason `json:"reason"`
}

// Task is a coordination task (工单) pushed to one department.
type Task struct {
	ID         string       `json:"id"`
	Version    int64        `json:"version"`
	IncidentID string       `json:"incident_id"`
	Dept       string       `json:"dept"`
	State      TaskState    `json:"state"`
	Class      UrgencyClass `json:"class"`
	// Grade, Category, District and Calls are the incident's when the task
	// was dispatched to its department: with Class, SignBy and Deadline the
	// dashboard writes the task's instruction.
	Grade    Grade  `json:"grade"`
	Category string `json:"category"`
	District string `json:"district,omitempty"`
	Calls    int    `json:"calls"`
	// Instructions is only what a leader typed.
	Instructions  string     `json:"instructions,omitempty"`
	DispatchedAt  time.Time  `json:"dispatched_at"`
	DispatchedBy  string     `json:"dispatched_by"`
	SignBy        time.Time  `json:"sign_by"`  // signing-for deadline
	Deadline      time.Time  `json:"deadline"` // completion deadline
	SignedAt      *time.Time `json:"signed_at,omitempty"`
	CompletedAt   *time.Time `json:"completed_at,omitempty"`
	VerifiedAt    *time.Time `json:"verified_at,omitempty"`
	Result        string     `json:"result,omitempty"`
	Progress      []Note     `json:"progress,omitempty"`
	ReturnReason  string     `json:"return_reason,omitempty"`
	PreviousDepts []string   `json:"previous_depts,omitempty"`
	Extension     *Extension `json:"extension,omitempty"`
	Overdue       bool       `json:"overdue"`
	Escalations   int        `json:"escalations"`
	Reopened      int        `json:"reopened"`
	Callbacks     []Callback `json:"callbacks,omitempty"`
	UpdatedAt     time.Time  `json:"updated_at"`
}

// Extension is a department's request for more time and its decision.
type Extension struct {
	RequestedAt time.Time  `json:"requested_at"`
	RequestedBy string     `json:"requested_by"`
	NewDeadline time.Time  `json:"new_deadline"`
	Reason      string     `json:"reason"`
	Decision    string     `json:"decision,omitempty"` // "", "approved" or "denied"
	DecidedAt   *time.Time `json:"decided_at,omitempty"`
	DecidedBy   string     `json:"decided_by,omitempty"`
	Comment     string     `json:"comment,omitempty"`
}

// Satisfaction is what a citizen said on a callback.
type Satisfaction string

// The satisfaction answers (满意 / 基本满意 / 不满意).
const (
	Satisfied      Satisfaction = "satisfied"
	BasicSatisfied Satisfaction = "basically_satisfied"
	Unsatisfied    Satisfaction = "unsatisfied"
)

// Callback is the hotline's call back to a citizen about a task (回访).
type Callback struct {
	At           time.Time    `json:"at"`
	Actor        string       `json:"actor"`
	CallID       string       `json:"call_id,omitempty"` // the citizen's call, when known
	Reached      bool         `json:"reached"`
	Satisfaction Satisfaction `json:"satisfaction,omitempty"` // empty when not reached
	Comment      string       `json:"comment,omitempty"`
}
