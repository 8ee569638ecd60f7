package tracking

import (
	"context"

	"github.com/paulmach/orb"

	"flare/incidents"
)

// urgentJoinRadius is how close, in metres, an active incident must be for
// an urgent call to join it.
const urgentJoinRadius = 500

// urgent handles a call flagged urgent by the call floor: it joins the
// nearest active incident within urgentJoinRadius (raising it to at least
// grade III), or opens an incident of its own at grade III; either way the
// leadership group and the call floor are alerted at once, with the call's
// id.
func (t *Tracker) urgent(ctx context.Context, tx incidents.Tx, c incidents.Call) error {
	if err := t.lookUpOwners(ctx, tx, []string{c.ID}); err != nil || t.owner(c.ID) != "" {
		return err // already handled (a replay after a restart)
	}
	p := orb.Point{c.Lon, c.Lat}
	inc, found, err := t.nearest(ctx, tx, p, func(float64) float64 { return urgentJoinRadius }, func(activeIncident) bool { return true })
	if err != nil {
		return err
	}
	reason := incidents.GradeReason{Kind: incidents.GradeByUrgentCall, CallID: c.ID}
	if !found {
		now := t.wf.Now()
		inc = incidents.Incident{ID: incidents.NewID("i", now), State: incidents.IncidentOpen, Source: "urgent", OpenedAt: now,
			Centroid: [2]float64{c.Lon, c.Lat}, Grade: incidents.GradeIII, GradeReason: reason, District: t.wf.District(c.Lon, c.Lat)}
		if _, err := t.attach(ctx, tx, &inc, []string{c.ID}); err != nil {
			return err
		}
		if err := t.wf.OpenIncident(ctx, tx, &inc, c.ID); err != nil {
			return err
		}
		t.wrote(inc)
		return nil
	}
	prev := inc.Version
	if _, err := t.attach(ctx, tx, &inc, []string{c.ID}); err != nil {
		return err
	}
	if !inc.GradeManual && !inc.Grade.AtLeast(incidents.GradeIII) {
		inc.Grade, inc.GradeReason = incidents.GradeIII, reason
	}
	return t.put(ctx, tx, inc, prev, incidents.Change{Type: incidents.EventIncidentUpdated,
		Cause: &incidents.Cause{Kind: incidents.CauseUrgentCall, CallID: c.ID}, UrgentCall: c.ID})
}
