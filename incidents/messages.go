package incidents

import (
	"encoding/json"
	"time"
)

// What people read about incidents, tasks and alerts travels as a kind plus
// parameters (docs/MESSAGES.md): the dashboard writes the words, in the
// user's language, with department, category and district names. Nothing
// here is a sentence; the only free text is what a person typed (a leader's
// note or reason).

// The kinds of an alert.
const (
	AlertIncidentOpened = "incident_opened" // the detector opened an incident
	AlertGradeRaised    = "grade_raised"    // an incident's grade rose
	AlertUrgentCall     = "urgent_call"     // a call flagged urgent opened or joined an incident
	AlertEscalation     = "escalation"      // a task is late: signing overdue, or escalated (督办)
)

// Alert is the data of an alert.raised event.
type Alert struct {
	Kind       string `json:"kind"`
	IncidentID string `json:"incident_id"`
	// TaskID, Dept and Attempt are an escalation's late task, its
	// department and the escalation's number (1, 2, ...; 0 for a signing
	// that is overdue); Notice is the task event's notice.
	TaskID  string  `json:"task_id,omitempty"`
	Dept    string  `json:"dept,omitempty"`
	Attempt int     `json:"attempt,omitempty"`
	Notice  *Notice `json:"notice,omitempty"`
	// CallID is the urgent call that raised an urgent_call alert.
	CallID   string       `json:"call_id,omitempty"`
	Grade    Grade        `json:"grade"`
	Colour   string       `json:"colour"`
	Category string       `json:"category,omitempty"` // the incident's main category
	District string       `json:"district,omitempty"`
	Calls    int          `json:"calls"`
	Reason   *GradeReason `json:"reason,omitempty"` // grade_raised: why
	Centroid [2]float64   `json:"centroid"`
	Urgent   bool         `json:"urgent,omitempty"` // the incident holds an urgent call
}

// The kinds of a grade reason.
const (
	GradeByCalls      = "calls"       // the cluster's size against the rule that found it
	GradeByUrgentCall = "urgent_call" // an urgent call opened it or raised it to grade III
	GradeByLeader     = "manual"      // a leader's regrade
	GradeBySurge      = "surge"       // the cluster is unusual for its place, hour and kind of call
	gradeLegacy       = "legacy"      // a record written before reasons were data: Note holds its text
)

// GradeReason is why an incident has its grade.
type GradeReason struct {
	Kind string `json:"kind"`
	// Calls and MinCalls: the incident's calls and the rule's minimum
	// (kind calls). Hazard: a hazard category weighed double. Recent: calls
	// in the last growth span, which raised it one grade. UrgentCalls: the
	// urgent calls that raised it to grade II or III.
	Calls       int  `json:"calls,omitempty"`
	MinCalls    int  `json:"min_calls,omitempty"`
	Hazard      bool `json:"hazard,omitempty"`
	Recent      int  `json:"recent,omitempty"`
	UrgentCalls int  `json:"urgent_calls,omitempty"`
	// CallID is the urgent call (kind urgent_call).
	CallID string `json:"call_id,omitempty"`
	// Actor and Note: the leader who regraded and what they typed (kind
	// manual).
	Actor string `json:"actor,omitempty"`
	Note  string `json:"note,omitempty"`
	// Observed, Expected, Score, RecurrenceDays and WindowS: the surge
	// (kind surge): the cluster's calls in the window of WindowS seconds
	// where they were most unusual, the calls the baseline expected there,
	// the score, and how often, in days, a surge that strong would appear
	// by chance somewhere in the area.
	Observed       int     `json:"observed,omitempty"`
	Expected       float64 `json:"expected,omitempty"`
	Score          float64 `json:"score,omitempty"`
	RecurrenceDays float64 `json:"recurrence_days,omitempty"`
	WindowS        int     `json:"window_s,omitempty"`
	// MergedFrom is the incident whose grade, with this reason, the
	// incident took when it was merged into it.
	MergedFrom string `json:"merged_from,omitempty"`
}

// UnmarshalJSON reads a grade reason, and the plain text that records
// written before reasons were data hold (as kind "legacy" with the text in
// Note).
func (r *GradeReason) UnmarshalJSON(b []byte) error {
	var text string
	if json.Unmarshal(b, &text) == nil {
		*r = GradeReason{}
		if text != "" {
			*r = GradeReason{Kind: gradeLegacy, Note: text}
		}
		return nil
	}
	type plain GradeReason
	return json.Unmarshal(b, (*plain)(r))
}

// The kinds of a plan item's reason.
const (
	PlanOwnsCategory = "owns_category" // the department owns one of the incident's categories
	PlanDistrict     = "district"      // the government of the incident's district (属地)
	PlanChosen       = "chosen"        // a person added or kept it
)

// PlanReason is why a department is in a dispatch plan.
type PlanReason struct {
	Kind     string `json:"kind"`
	Category string `json:"category,omitempty"`
	District string `json:"district,omitempty"`
	Actor    string `json:"actor,omitempty"`
}

// UnmarshalJSON reads a plan reason, and the plain text of records written
// before reasons were data (as kind "legacy").
func (r *PlanReason) UnmarshalJSON(b []byte) error {
	var text string
	if json.Unmarshal(b, &text) == nil {
		*r = PlanReason{Kind: gradeLegacy}
		return nil
	}
	type plain PlanReason
	return json.Unmarshal(b, (*plain)(r))
}

// The kinds of a cause: what made the system change an incident or a task
// (events that a person's action caused carry that person's typed reason
// instead).
const (
	CauseUrgentCall     = "urgent_call"          // an urgent call joined the incident (call_id)
	CauseRepeatCalls    = "repeat_calls"         // repeat calls about its place attached (calls, call_id of the last)
	CauseClustersJoined = "clusters_joined"      // the detector's clusters of several incidents joined
	CauseDepartments    = "departments"          // a task moved or was cancelled: the departments on it changed
	CauseUnsatisfied    = "callback_unsatisfied" // a callback found the citizen unsatisfied: the task is redone
	CauseMerged         = "merged"               // incidents merged: the task folded into its department's other task (into)
)

// Cause is what made the system change a record, in the record's event.
type Cause struct {
	Kind   string `json:"kind"`
	CallID string `json:"call_id,omitempty"`
	Calls  int    `json:"calls,omitempty"`
	Into   string `json:"into,omitempty"` // merged: the task that carries on the work
}

// The kinds of a supervision notice.
const (
	NoticeSignOverdue = "sign_overdue" // not signed for by sign_by
	NoticeReminder    = "reminder"     // 催办: complete by deadline
	NoticeOverdue     = "overdue"      // the completion deadline passed
	NoticeEscalated   = "escalated"    // 督办: attempt N, late_s seconds after the deadline
)

// Notice is what a supervision event tells the department and the
// leadership group.
type Notice struct {
	Kind     string    `json:"kind"`
	SignBy   time.Time `json:"sign_by,omitzero"`
	Deadline time.Time `json:"deadline,omitzero"`
	Attempt  int       `json:"attempt,omitempty"`
	LateS    int64     `json:"late_s,omitempty"`
}

// mainCategory returns the category with the most calls (the smallest code
// among equals), "" for none.
func mainCategory(categories map[string]int) string {
	main, n := "", -1
	for c, k := range categories {
		if k > n || (k == n && c < main) {
			main, n = c, k
		}
	}
	return main
}
