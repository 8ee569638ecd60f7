package incidents

import (
	"context"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// The roles are in access.go, with who may do what.

// Actor is who does something: the name that goes into the event log, the
// role and department that decide what they may do, and where the request
// came from (kept in the audit log).
type Actor struct {
	Name   string
	Role   Role
	Dept   string
	Origin string
}

// System is the actor of Flare's own actions.
var System = Actor{Name: "system", Role: RoleFlare}

func (a Actor) leads() bool {
	return a.Role == RoleLeader || a.Role == RoleAdmin || a.Role == RoleFlare
}

// hotline reports whether the actor may do the hotline management centre's work
// (verify replies, call citizens back): its staff, the call floor and
// anyone who leads.
func (a Actor) hotline() bool { return a.leads() || a.Role == RoleHotline || a.Role == RoleAgent }

// Event types of the command workflow. Incident events carry the incident,
// task events the task; each is appended with its audience (see
// IncidentAudience, TaskAudience and AlertAudience).
const (
	EventIncidentOpened     = "incident.opened"
	EventIncidentUpdated    = "incident.updated"   // calls attached, grown, shrunk (detector)
	EventIncidentGraded     = "incident.graded"    // grade changed, automatically or by a leader
	EventIncidentConfirmed  = "incident.confirmed" // a leader confirmed it
	EventIncidentLeadDept   = "incident.lead_dept" // lead department assigned
	EventIncidentNote       = "incident.note"      // a leader's note
	EventIncidentMerged     = "incident.merged"    // others merged into it
	EventIncidentQuiet      = "incident.quiet"     // its clusters dissolved: no new calls
	EventIncidentClosed     = "incident.closed"    // closed with a summary
	EventIncidentPlanned    = "incident.planned"   // a dispatch plan proposed, waiting for a leader
	EventAlertRaised        = "alert.raised"       // leadership alert: new incident, grade up, urgent call, escalation
	EventTaskDispatched     = "task.dispatched"
	EventTaskSigned         = "task.signed"
	EventTaskProgress       = "task.progress"
	EventTaskCompleted      = "task.completed"
	EventTaskVerified       = "task.verified"
	EventTaskResultRejected = "task.result_rejected"
	EventTaskReturned       = "task.returned"
	EventTaskReassigned     = "task.reassigned"
	EventTaskExtensionAsked = "task.extension_requested"
	EventTaskExtensionDone  = "task.extension_decided"
	EventTaskReopened       = "task.reopened"
	EventTaskCancelled      = "task.cancelled"
	EventTaskReminder       = "task.reminder"     // 催办
	EventTaskSignOverdue    = "task.sign_overdue" // not signed for in time
	EventTaskOverdue        = "task.overdue"
	EventTaskEscalated      = "task.escalated" // 督办
	EventCallbackRecorded   = "callback.recorded"
)

// WorkflowConfig configures a Workflow.
type WorkflowConfig struct {
	Store interface {
		Store
		WorkflowStore
	}
	Taxonomy      *Taxonomy
	Departments   *Departments
	Jurisdictions *Regions // district lookup; nil leaves incidents without a district
	Limits        map[UrgencyClass]TimeLimit
	// AutoDispatch is the least severe grade whose plans are dispatched
	// without waiting for a leader (default GradeIII: I, II and III are).
	AutoDispatch Grade
	Now          func() time.Time
}

// Workflow is the command-and-dispatch work of the leadership group and the
// departments: incidents, dispatch plans, tasks, supervision and callbacks.
// Every change is one store transaction with its events.
type Workflow struct {
	cfg WorkflowConfig
}

// NewWorkflow returns a Workflow; it fills defaults for Limits,
// AutoDispatch and Now.
func NewWorkflow(cfg WorkflowConfig) *Workflow {
	if cfg.Limits == nil {
		cfg.Limits = DefaultTimeLimits()
	}
	if cfg.AutoDispatch == 0 {
		cfg.AutoDispatch = GradeIII
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Workflow{cfg: cfg}
}

// Departments returns the departments the workflow routes to.
func (w *Workflow) Departments() *Departments { return w.cfg.Departments }

func (w *Workflow) now() time.Time { return w.cfg.Now().UTC().Truncate(time.Microsecond) }

// ValidateLimits checks time limits: every class present, every duration
// positive. It returns an *Error with CodeInvalid naming the fault.
func ValidateLimits(l map[UrgencyClass]TimeLimit) error {
	for _, c := range []UrgencyClass{ClassEmergency, ClassUtility, ClassGeneral, ClassComplex} {
		tl, ok := l[c]
		if !ok {
			return FieldError(CodeInvalid, string(c), "time limits lack the %s class", c)
		}
		for name, d := range map[string]Duration{"sign": tl.Sign, "complete": tl.Complete, "remind": tl.Remind, "escalate": tl.Escalate, "repeat": tl.Repeat} {
			if d <= 0 {
				return FieldError(CodeInvalid, string(c)+"."+name, "%s.%s must be positive", c, name)
			}
		}
		if tl.Sign > tl.Complete || tl.Remind >= tl.Complete {
			return FieldError(CodeInvalid, string(c), "%s: sign and remind must come before the completion limit", c)
		}
	}
	return nil
}

// checkText validates a free-text input: required or not, at most max
// characters.
func checkText(field, v string, required bool, max int) (string, error) {
	v = strings.TrimSpace(v)
	if required && v == "" {
		return "", FieldError(CodeInvalid, field, "%s is required", field)
	}
	if n := utf8.RuneCountInString(v); n > max {
		return "", FieldError(CodeInvalid, field, "%s has %d characters; at most %d are allowed", field, n, max)
	}
	if !utf8.ValidString(v) {
		return "", FieldError(CodeInvalid, field, "%s is not valid UTF-8", field)
	}
	return v, nil
}

// requireVersion refuses an action that does not say which version of the
// record its actor saw: without it, the action could overwrite a change the
// actor never read.
func requireVersion(kind string, v int64) error {
	if v <= 0 {
		return FieldError(CodeInvalid, "version", "version is required: the %s version you saw", kind)
	}
	return nil
}

func forbidden(a Actor, what string) error {
	return Errorf(CodeForbidden, "role %s may not %s", a.Role, what)
}

// checkVersion refuses a change made against an outdated read (the caller
// refused a missing version already: see requireVersion).
func checkVersion(kind, id string, have, want int64) error {
	if have != want {
		return FieldError(CodeVersionConflict, "version", "%s %s is at version %d, not %d: reload and try again", kind, id, have, want)
	}
	return nil
}

// ---- incident actions of the leadership group ----

// IncidentAction is a leader's action on an incident.
type IncidentAction struct {
	Action  string `json:"action"`  // confirm, regrade, lead_dept, note, close, dispatch
	Version int64  `json:"version"` // the version the leader saw; required
	Grade   Grade  `json:"grade,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Dept    string `json:"dept,omitempty"`
	Text    string `json:"text,omitempty"`
	Summary string `json:"summary,omitempty"`
	// Depts, for dispatch, replaces the plan's departments; Class its
	// urgency class.
	Depts []string     `json:"depts,omitempty"`
	Class UrgencyClass `json:"class,omitempty"`
}

// ActOnIncident applies a leader's action. Errors: CodeForbidden for roles
// other than leader and admin; CodeNotFound; CodeInvalid for bad input
// (naming the field); CodeInvalidTransition when the incident's state does
// not allow it; CodeInvalid naming version when in.Version is missing;
// CodeVersionConflict when it changed since the leader read it.
func (w *Workflow) ActOnIncident(ctx context.Context, actor Actor, id string, in IncidentAction) (Incident, error) {
	if !actor.leads() {
		return Incident{}, forbidden(actor, "act on incidents")
	}
	if err := requireVersion("incident", in.Version); err != nil {
		return Incident{}, err
	}
	var out Incident
	_, err := w.cfg.Store.Update(ctx, func(ctx context.Context, tx Tx) error {
		inc, err := tx.Incident(ctx, id)
		if err != nil {
			return err
		}
		if err := checkVersion("incident", id, inc.Version, in.Version); err != nil {
			return err
		}
		if !inc.State.Active() {
			return FieldError(CodeInvalidTransition, "action", "incident %s is %s", id, inc.State)
		}
		prev := inc.Version
		ch := change{actor: actor}
		var raised bool
		switch in.Action {
		case "confirm":
			if inc.State != IncidentOpen {
				return FieldError(CodeInvalidTransition, "action", "incident %s is already %s", id, inc.State)
			}
			inc.State = IncidentConfirmed
			ch.typ = EventIncidentConfirmed
		case "regrade":
			if !in.Grade.Valid() {
				return FieldError(CodeInvalid, "grade", "grade must be 1 (I, red) to 4 (IV, blue)")
			}
			reason, err := checkText("reason", in.Reason, true, MaxLeaderReason)
			if err != nil {
				return err
			}
			if in.Grade == inc.Grade {
				return FieldError(CodeInvalid, "grade", "incident %s is already grade %d", id, in.Grade)
			}
			raised = in.Grade.AtLeast(inc.Grade)
			inc.Grade, inc.GradeManual = in.Grade, true
			inc.GradeReason = GradeReason{Kind: GradeByLeader, Actor: actor.Name, Note: reason}
			ch.typ, ch.reason = EventIncidentGraded, reason
		case "lead_dept":
			if _, ok := w.cfg.Departments.Department(in.Dept); !ok {
				return FieldError(CodeInvalid, "dept", "unknown department %q", in.Dept)
			}
			inc.LeadDept = in.Dept
			ch.typ = EventIncidentLeadDept
		case "note":
			text, err := checkText("text", in.Text, true, MaxNoteChars)
			if err != nil {
				return err
			}
			if err := checkRoom("notes", len(inc.Notes), MaxIncidentNotes); err != nil {
				return err
			}
			n := Note{At: w.now(), Actor: actor.Name, Text: text}
			inc.Notes = append(inc.Notes, n)
			ch.typ, ch.addedNote = EventIncidentNote, &n
		case "close":
			summary, err := checkText("summary", in.Summary, true, MaxSummaryChars)
			if err != nil {
				return err
			}
			tasks, err := tx.TasksOfIncident(ctx, id)
			if err != nil {
				return err
			}
			open := 0
			for _, t := range tasks {
				if t.State.Open() || t.State == TaskReturned || t.State == TaskCompleted {
					open++
				}
			}
			if open > 0 {
				return FieldError(CodeInvalidTransition, "action", "incident %s has %d unfinished tasks: verify, cancel or reassign them first", id, open)
			}
			now := w.now()
			inc.State, inc.Summary, inc.ClosedAt = IncidentClosed, summary, &now
			ch.typ = EventIncidentClosed
		case "dispatch":
			if err := w.dispatchPlan(ctx, tx, &inc, actor, in.Depts, in.Class); err != nil {
				return err
			}
			ch.typ = EventIncidentUpdated
		default:
			return FieldError(CodeInvalid, "action", "unknown incident action %q (confirm, regrade, lead_dept, note, close, dispatch)", in.Action)
		}
		if err := w.save(ctx, tx, &inc, prev, ch); err != nil {
			return err
		}
		out = inc
		if !raised {
			return nil
		}
		a := incidentAlert(AlertGradeRaised, inc)
		a.Reason = &inc.GradeReason
		return w.alert(ctx, tx, a)
	})
	return out, err
}

// MergeIncidents merges other into survivor by a leader's decision: calls,
// categories and tasks move to the survivor, which records the merged id;
// the other incident ends in state merged. Errors as ActOnIncident, and
// CodeInvalid when both ids are the same.
func (w *Workflow) MergeIncidents(ctx context.Context, actor Actor, survivorID, otherID, reason string) (Incident, error) {
	if !actor.leads() {
		return Incident{}, forbidden(actor, "merge incidents")
	}
	if survivorID == otherID {
		return Incident{}, FieldError(CodeInvalid, "other", "an incident cannot be merged into itself")
	}
	reason, err := checkText("reason", reason, true, MaxLeaderReason)
	if err != nil {
		return Incident{}, err
	}
	var out Incident
	_, err = w.cfg.Store.Update(ctx, func(ctx context.Context, tx Tx) error {
		var err error
		out, err = w.merge(ctx, tx, actor, survivorID, []string{otherID}, change{reason: reason})
		return err
	})
	return out, err
}

// merge moves the others into survivor inside tx; ch tells why (a leader's
// reason, or the system's cause).
func (w *Workflow) merge(ctx context.Context, tx Tx, actor Actor, survivorID string, others []string, ch change) (Incident, error) {
	s, err := tx.Incident(ctx, survivorID)
	if err != nil {
		return Incident{}, err
	}
	if !s.State.Active() {
		return Incident{}, FieldError(CodeInvalidTransition, "id", "incident %s is %s", survivorID, s.State)
	}
	prevS := s.Version
	for _, oid := range others {
		o, err := tx.Incident(ctx, oid)
		if err != nil {
			return Incident{}, err
		}
		if !o.State.Active() {
			return Incident{}, FieldError(CodeInvalidTransition, "other", "incident %s is %s", oid, o.State)
		}
		if err := tx.AttachCalls(ctx, survivorID, o.Calls); err != nil {
			return Incident{}, err
		}
		s.Calls = mergeIDs(s.Calls, o.Calls)
		if len(s.Calls) > MaxIncidentCalls {
			s.Calls = s.Calls[:MaxIncidentCalls]
		}
		s.CallCount += o.CallCount
		s.UrgentCalls += o.UrgentCalls
		for c, n := range o.Categories {
			if s.Categories == nil {
				s.Categories = map[string]int{}
			}
			s.Categories[c] += n
		}
		s.Clusters = mergeIDs(s.Clusters, o.Clusters)
		if o.FirstCallAt.Before(s.FirstCallAt) {
			s.FirstCallAt = o.FirstCallAt
		}
		if o.LastCallAt.After(s.LastCallAt) {
			s.LastCallAt = o.LastCallAt
		}
		if o.Grade.AtLeast(s.Grade) && o.Grade != s.Grade {
			s.Grade, s.GradeReason = o.Grade, o.GradeReason
			s.GradeReason.MergedFrom = oid
		}
		s.MergedFrom = append(s.MergedFrom, oid)
		tasks, err := tx.TasksOfIncident(ctx, oid)
		if err != nil {
			return Incident{}, err
		}
		// The tasks move with their incident (incident.merged tells it).
		for _, t := range tasks {
			t.IncidentID = survivorID
			if err := w.save(ctx, tx, &t, t.Version, change{}); err != nil {
				return Incident{}, err
			}
			if t.State != TaskCancelled {
				s.Departments = mergeIDs(s.Departments, []string{t.Dept})
			}
		}
		o.State, o.MergedInto, o.Clusters = IncidentMerged, survivorID, nil
		if err := w.save(ctx, tx, &o, o.Version, change{}); err != nil {
			return Incident{}, err
		}
	}
	if err := w.foldTasks(ctx, tx, actor, survivorID); err != nil {
		return Incident{}, err
	}
	ch.typ, ch.actor, ch.merged = EventIncidentMerged, actor, others
	return s, w.save(ctx, tx, &s, prevS, ch)
}

// classRank orders the urgency classes, most urgent first.
var classRank = map[UrgencyClass]int{ClassEmergency: 0, ClassUtility: 1, ClassGeneral: 2, ClassComplex: 3}

// foldTasks leaves one open task per department on the incident id (after a
// merge brought the tasks of several together): the one of the most urgent
// class, then the earliest deadline, carries on; the department's other
// open tasks are cancelled with the cause merged into it, and their timers
// cleared.
func (w *Workflow) foldTasks(ctx context.Context, tx Tx, actor Actor, id string) error {
	tasks, err := tx.TasksOfIncident(ctx, id)
	if err != nil {
		return err
	}
	byDept := map[string][]Task{}
	var depts []string
	for _, t := range tasks {
		if !t.State.Open() {
			continue
		}
		if _, ok := byDept[t.Dept]; !ok {
			depts = append(depts, t.Dept)
		}
		byDept[t.Dept] = append(byDept[t.Dept], t)
	}
	for _, d := range depts {
		group := byDept[d]
		if len(group) < 2 {
			continue
		}
		slices.SortStableFunc(group, func(a, b Task) int {
			if c := classRank[a.Class] - classRank[b.Class]; c != 0 {
				return c
			}
			if c := a.Deadline.Compare(b.Deadline); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
		into := group[0].ID
		for _, t := range group[1:] {
			t.State = TaskCancelled
			if err := w.save(ctx, tx, &t, t.Version, change{typ: EventTaskCancelled, actor: actor, cause: &Cause{Kind: CauseMerged, Into: into}}); err != nil {
				return err
			}
			if err := tx.SetTimers(ctx, t.ID, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// mergeIDs returns a with the ids of b it lacks appended.
func mergeIDs(a, b []string) []string {
	have := make(map[string]bool, len(a))
	for _, id := range a {
		have[id] = true
	}
	for _, id := range b {
		if !have[id] {
			have[id] = true
			a = append(a, id)
		}
	}
	return a
}

// ---- dispatch plans ----

// classFor returns the urgency class of an incident's tasks: grades I to III
// are emergencies; a grade IV incident of utility categories gets the
// utility limit; anything else the general one.
func classFor(inc Incident) UrgencyClass {
	if inc.Grade.AtLeast(GradeIII) || inc.UrgentCalls > 0 {
		return ClassEmergency
	}
	utility := 0
	for c, n := range inc.Categories {
		if c == "power_outage" || c == "water_supply" || c == "gas_leak" {
			utility += n
		}
	}
	if utility*2 >= inc.CallCount && utility > 0 {
		return ClassUtility
	}
	return ClassGeneral
}

// proposePlan routes an incident: the departments that own its categories
// (most called about first), then the government of its district (属地).
func (w *Workflow) proposePlan(inc Incident) *DispatchPlan {
	p := &DispatchPlan{Class: classFor(inc)}
	cats := make([]string, 0, len(inc.Categories))
	for c := range inc.Categories {
		cats = append(cats, c)
	}
	sort.Slice(cats, func(i, j int) bool {
		if inc.Categories[cats[i]] != inc.Categories[cats[j]] {
			return inc.Categories[cats[i]] > inc.Categories[cats[j]]
		}
		return cats[i] < cats[j]
	})
	seen := map[string]bool{}
	for _, c := range cats {
		for _, d := range w.cfg.Departments.Owners(c) {
			if !seen[d] {
				seen[d] = true
				p.Items = append(p.Items, PlanItem{Dept: d, Reason: PlanReason{Kind: PlanOwnsCategory, Category: c}})
			}
		}
	}
	if inc.District != "" {
		if d, ok := w.cfg.Departments.DistrictGovernment(inc.District); ok && !seen[d] {
			p.Items = append(p.Items, PlanItem{Dept: d, Reason: PlanReason{Kind: PlanDistrict, District: inc.District}})
		}
	}
	return p
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

// dispatchPlan creates the tasks of inc's plan (optionally replacing its
// departments and class), once.
func (w *Workflow) dispatchPlan(ctx context.Context, tx Tx, inc *Incident, actor Actor, depts []string, class UrgencyClass) error {
	if inc.Plan == nil {
		inc.Plan = w.proposePlan(*inc)
	}
	if inc.Plan.Dispatched {
		return FieldError(CodeInvalidTransition, "action", "the plan of incident %s is already dispatched", inc.ID)
	}
	if class != "" {
		if _, ok := w.cfg.Limits[class]; !ok {
			return FieldError(CodeInvalid, "class", "unknown urgency class %q (emergency, utility, general, complex)", class)
		}
		inc.Plan.Class = class
	}
	if len(depts) > 0 {
		items := make([]PlanItem, 0, len(depts))
		for _, d := range depts {
			if _, ok := w.cfg.Departments.Department(d); !ok {
				return FieldError(CodeInvalid, "depts", "unknown department %q", d)
			}
			if !slices.ContainsFunc(items, func(it PlanItem) bool { return it.Dept == d }) {
				items = append(items, PlanItem{Dept: d, Reason: PlanReason{Kind: PlanChosen, Actor: actor.Name}})
			}
		}
		inc.Plan.Items = items
	}
	if len(inc.Plan.Items) == 0 {
		return FieldError(CodeInvalid, "depts", "the plan of incident %s names no department", inc.ID)
	}
	now := w.now()
	inc.Plan.Dispatched, inc.Plan.Auto = true, actor.Role == RoleFlare
	inc.Plan.DecidedBy, inc.Plan.DecidedAt = actor.Name, &now
	inc.Category = mainCategory(inc.Categories) // the tasks carry it
	for _, it := range inc.Plan.Items {
		if _, err := w.newTask(ctx, tx, inc, it.Dept, inc.Plan.Class, actor); err != nil {
			return err
		}
	}
	return nil
}
