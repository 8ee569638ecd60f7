package tracking

import (
	"context"
	"math"
	"slices"

	"github.com/paulmach/orb/geojson"

	"flare/geo"
	"flare/incidents"
)

// open creates the incident of a new cluster.
func (t *Tracker) open(ctx context.Context, tx incidents.Tx, key string, c geo.Cluster) error {
	now := t.wf.Now()
	inc := incidents.Incident{ID: incidents.NewID("i", now), State: incidents.IncidentOpen, Source: "cluster", Rule: c.Rule,
		OpenedAt: now, Clusters: []string{key}}
	t.summary(&inc, c)
	if _, err := t.attach(ctx, tx, &inc, c.Calls); err != nil {
		return err
	}
	t.cluster[key] = inc.ID
	inc.Grade, inc.GradeReason = t.autoGrade(inc, key, c)
	if err := t.wf.OpenIncident(ctx, tx, &inc, ""); err != nil {
		return err
	}
	t.wrote(inc)
	return nil
}

// update refreshes an incident from one of its clusters: new calls, shape,
// and a higher automatic grade (which may dispatch the plan).
func (t *Tracker) update(ctx context.Context, tx incidents.Tx, inc incidents.Incident, key string, c geo.Cluster) error {
	if !t.flushing && t.throttled(inc.ID, inc.CallCount, t.wf.Now()) {
		// A big incident written moments ago: the cluster's news waits
		// for the next Advance (a new cluster of its calls, a merge of
		// two of its clusters).
		t.dirty[key] = geo.Event{Rule: c.Rule, Cluster: c.ID}
		return nil
	}
	prev := t.storedVersion(inc)
	added, err := t.attach(ctx, tx, &inc, c.Calls)
	if err != nil {
		return err
	}
	newCluster := !slices.Contains(inc.Clusters, key)
	if newCluster {
		inc.Clusters = append(inc.Clusters, key)
	}
	before := inc
	t.summary(&inc, c)
	shapeChanged := inc.Centroid != before.Centroid || inc.RadiusM != before.RadiusM
	// Each cluster grades by its own rule, even when another rule's cluster
	// attached the calls first.
	raised := false
	if !inc.GradeManual {
		g, reason := t.autoGrade(inc, key, c)
		if g != 0 && g.AtLeast(inc.Grade) && g != inc.Grade {
			inc.Grade, inc.GradeReason, raised = g, reason, true
		}
	}
	if added == 0 && !newCluster && !shapeChanged && !raised {
		return nil
	}
	if !raised {
		t.hold(inc, prev) // other clusters of the batch may change it too
		return nil
	}
	delete(t.held, inc.ID)
	return t.put(ctx, tx, inc, prev, incidents.Change{Type: incidents.EventIncidentUpdated, GradeRaised: true})
}

// autoGrade returns the automatic grade of an incident from one of its
// clusters: by the cluster's surge once the baseline is warm (see
// UseBaseline; 0 for a hot spot), else by its size (AutoGrade).
func (t *Tracker) autoGrade(inc incidents.Incident, key string, c geo.Cluster) (incidents.Grade, incidents.GradeReason) {
	if v, judged := t.surge.verdict(key); judged {
		return surgeGrade(v, inc.UrgentCalls)
	}
	return AutoGrade(inc.CallCount, inc.Categories, inc.UrgentCalls, c.Recent, t.byRule[c.Rule].MinCalls)
}

// attach adds calls to inc (in memory and in the store) and returns how
// many were new.
func (t *Tracker) attach(ctx context.Context, tx incidents.Tx, inc *incidents.Incident, ids []string) (int, error) {
	var fresh []string
	if inc.CallCount < incidents.MaxIncidentCalls {
		have := make(map[string]bool, len(inc.Calls))
		for _, id := range inc.Calls {
			have[id] = true
		}
		for _, id := range ids {
			if !have[id] {
				have[id] = true
				fresh = append(fresh, id)
			}
		}
	} else {
		// A big incident lists only its first calls: the tracker's memory
		// of each call's incident tells the new ones.
		if err := t.lookUpOwners(ctx, tx, ids); err != nil {
			return 0, err
		}
		seen := make(map[string]bool, len(ids))
		for _, id := range ids {
			if t.owner(id) == "" && !seen[id] {
				seen[id] = true
				fresh = append(fresh, id)
			}
		}
	}
	if len(fresh) == 0 {
		return 0, nil
	}
	if inc.Categories == nil {
		inc.Categories = map[string]int{}
	}
	for _, id := range fresh {
		sc := t.calls[id]
		if sc == nil || sc.category == "" {
			call, err := tx.Call(ctx, id)
			if err != nil {
				return 0, err
			}
			sc = &seenCall{category: call.Category, urgent: call.Urgent, at: call.ReceivedAt}
			t.calls[id] = sc
		}
		sc.incident, sc.known = inc.ID, true
		if len(inc.Calls) < incidents.MaxIncidentCalls {
			inc.Calls = append(inc.Calls, id)
		}
		inc.CallCount++
		inc.Categories[sc.category]++
		if sc.urgent {
			inc.UrgentCalls++
		}
		if inc.FirstCallAt.IsZero() || sc.at.Before(inc.FirstCallAt) {
			inc.FirstCallAt = sc.at
		}
		if sc.at.After(inc.LastCallAt) {
			inc.LastCallAt = sc.at
		}
	}
	return len(fresh), tx.AttachCalls(ctx, inc.ID, fresh)
}

// summary copies a cluster's shape into an incident.
func (t *Tracker) summary(inc *incidents.Incident, c geo.Cluster) {
	inc.Centroid = [2]float64{round7(c.Centroid[0]), round7(c.Centroid[1])}
	if hull, err := geojson.NewGeometry(c.Hull).MarshalJSON(); err == nil {
		inc.Hull = hull
	}
	inc.RadiusM = math.Round(c.Radius*10) / 10
	if inc.District == "" {
		inc.District = t.wf.District(c.Centroid[0], c.Centroid[1])
	}
}

func round7(v float64) float64 { return math.Round(v*1e7) / 1e7 }
