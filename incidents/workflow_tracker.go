package incidents

import (
	"context"
	"slices"
	"time"
)

// What the workflow provides to the incident tracker (incidents/tracking):
// the tracker decides which incident a cluster or a call belongs to and how
// severe it is; the workflow decides how an incident is stored, announced
// and dispatched.

// Now returns the workflow's clock, in UTC, to the microsecond the stores
// keep.
func (w *Workflow) Now() time.Time { return w.now() }

// Update runs fn in one store transaction (see WorkflowStore.Update). The
// tracker reads in it and changes incidents only through OpenIncident,
// SaveIncident and JoinIncidents.
func (w *Workflow) Update(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error {
	_, err := w.cfg.Store.Update(ctx, fn)
	return err
}

// CategoryGroup returns the group of a category of the taxonomy.
func (w *Workflow) CategoryGroup(category string) (string, bool) {
	c, ok := w.cfg.Taxonomy.Category(category)
	return c.Group, ok
}

// District returns the code of the district that holds the point (lon,
// lat), "" outside every district or when the workflow has no
// jurisdictions.
func (w *Workflow) District(lon, lat float64) string {
	if w.cfg.Jurisdictions == nil {
		return ""
	}
	r, _ := w.cfg.Jurisdictions.Locate(lon, lat)
	return r.Code
}

// OpenIncident stores a new incident that the tracker found, with its
// calls, grade and shape set: it gets its version, a dispatch plan
// (dispatched at once when the grade calls for it, see AutoDispatch),
// incident.opened (and incident.planned when the plan waits for a leader)
// and an alert to the leadership group: urgent_call when urgentCall (the
// call's id) opened it, incident_opened otherwise.
func (w *Workflow) OpenIncident(ctx context.Context, tx Tx, inc *Incident, urgentCall string) error {
	inc.Plan = nil
	inc.Category = mainCategory(inc.Categories)
	if err := w.autoDispatch(ctx, tx, inc); err != nil {
		return err
	}
	if err := w.save(ctx, tx, inc, 0, change{typ: EventIncidentOpened, actor: System}); err != nil {
		return err
	}
	if !inc.Plan.Dispatched {
		if err := w.emit(ctx, tx, inc, change{typ: EventIncidentPlanned, actor: System}); err != nil {
			return err
		}
	}
	a := incidentAlert(AlertIncidentOpened, *inc)
	if urgentCall != "" {
		a.Kind, a.CallID = AlertUrgentCall, urgentCall
	}
	return w.alert(ctx, tx, a)
}

// Change is what the tracker changed in an incident, for SaveIncident.
type Change struct {
	// Type is the event: EventIncidentUpdated or EventIncidentQuiet.
	Type string
	// Cause is what brought the change (urgent or repeat calls); nil for
	// the growth and shape of its clusters.
	Cause *Cause
	// GradeRaised: the tracker raised the automatic grade. The plan is
	// dispatched if the grade now calls for it, and incident.graded and a
	// grade_raised alert follow the event.
	GradeRaised bool
	// UrgentCall: this urgent call joined the incident. The plan is
	// dispatched if the grade now calls for it, and an urgent_call alert
	// follows the event.
	UrgentCall string
}

// SaveIncident stores the tracker's change of inc, read at version prev,
// with its event (see Change).
func (w *Workflow) SaveIncident(ctx context.Context, tx Tx, inc *Incident, prev int64, c Change) error {
	if c.GradeRaised || c.UrgentCall != "" {
		if err := w.autoDispatch(ctx, tx, inc); err != nil {
			return err
		}
	}
	if err := w.save(ctx, tx, inc, prev, change{typ: c.Type, actor: System, cause: c.Cause}); err != nil {
		return err
	}
	switch {
	case c.GradeRaised:
		if err := w.emit(ctx, tx, inc, change{typ: EventIncidentGraded, actor: System}); err != nil {
			return err
		}
		a := incidentAlert(AlertGradeRaised, *inc)
		a.Reason = &inc.GradeReason
		return w.alert(ctx, tx, a)
	case c.UrgentCall != "":
		a := incidentAlert(AlertUrgentCall, *inc)
		a.CallID = c.UrgentCall
		return w.alert(ctx, tx, a)
	}
	return nil
}

// JoinIncidents merges others into survivor because the detector's clusters
// of them joined (see MergeIncidents), and returns the survivor.
func (w *Workflow) JoinIncidents(ctx context.Context, tx Tx, survivor string, others []string) (Incident, error) {
	return w.merge(ctx, tx, System, survivor, others, change{cause: &Cause{Kind: CauseClustersJoined}})
}

// Lead blocks until this node holds the lease called name (the detector
// runs on one node at a time), or ctx ends.
func (w *Workflow) Lead(ctx context.Context, name string) (Lease, error) {
	return w.cfg.Store.Lead(ctx, name)
}

// Events returns the event log the workflow appends to.
func (w *Workflow) Events() EventLog { return w.cfg.Store }

// CallsSince returns the calls received at or after from, oldest first:
// the window a new detector leader replays.
func (w *Workflow) CallsSince(ctx context.Context, from time.Time) ([]Call, error) {
	var calls []Call
	f := CallFilter{From: from, Limit: 1000}
	for {
		page, err := w.cfg.Store.ListCalls(ctx, f)
		if err != nil {
			return nil, err
		}
		calls = append(calls, page...)
		if len(page) < f.Limit {
			break
		}
		last := page[len(page)-1]
		f.After = &CallCursor{ReceivedAt: last.ReceivedAt, ID: last.ID}
	}
	slices.Reverse(calls)
	return calls, nil
}
