package tracking

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"flare/geo"
	"flare/incidents"
)

// identity is the tracker's map of who belongs to which incident: each live
// cluster's incident, and the calls of the window with the incident each is
// attached to.
type identity struct {
	cluster map[string]string // "rule/id" -> incident id
	// calls remembers the calls of the window: what the attachments need,
	// and the incident each belongs to once looked up or attached, so that
	// a growing cluster costs no store reads for calls already seen.
	calls map[string]*seenCall
}

func newIdentity() identity {
	return identity{cluster: map[string]string{}, calls: map[string]*seenCall{}}
}

// seenCall is what the tracker remembers of a call in its window.
type seenCall struct {
	category string
	urgent   bool
	at       time.Time
	incident string // the incident it is attached to, "" for none
	known    bool   // incident was looked up or set
}

func clusterKey(rule string, id geo.ClusterID) string { return fmt.Sprintf("%s/%d", rule, id) }

// see remembers a call the tracker takes.
func (m *identity) see(c incidents.Call) {
	if _, ok := m.calls[c.ID]; !ok {
		m.calls[c.ID] = &seenCall{category: c.Category, urgent: c.Urgent, at: c.ReceivedAt}
	}
}

// forgetCalls forgets the calls received before oldest: they left the
// window.
func (m *identity) forgetCalls(oldest time.Time) {
	for id, c := range m.calls {
		if c.at.Before(oldest) {
			delete(m.calls, id)
		}
	}
}

// lookUpOwners makes sure the tracker knows the incident of each call,
// reading from the store only the calls it has not looked up yet.
func (m *identity) lookUpOwners(ctx context.Context, tx incidents.Tx, ids []string) error {
	var missing []string
	for _, id := range ids {
		if sc := m.calls[id]; sc == nil || !sc.known {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	owners, err := tx.IncidentsOfCalls(ctx, missing)
	if err != nil {
		return err
	}
	for _, id := range missing {
		sc := m.calls[id]
		if sc == nil {
			sc = &seenCall{}
			m.calls[id] = sc
		}
		sc.incident, sc.known = owners[id], true
	}
	return nil
}

// owner returns the incident a call is attached to as the tracker knows it.
func (m *identity) owner(id string) string {
	if sc := m.calls[id]; sc != nil {
		return sc.incident
	}
	return ""
}

// joined notes that the incidents others were merged into target.
func (m *identity) joined(target string, others []string) {
	for _, sc := range m.calls {
		if slices.Contains(others, sc.incident) {
			sc.incident = target
		}
	}
	for k, v := range m.cluster {
		if slices.Contains(others, v) {
			m.cluster[k] = target
		}
	}
}

// track makes the incident of a live cluster match it: it finds the
// incident (by the cluster, else by the incidents its calls belong to,
// merging several into the oldest), or opens one.
func (t *Tracker) track(ctx context.Context, tx incidents.Tx, key string, c geo.Cluster) error {
	if err := t.lookUpOwners(ctx, tx, c.Calls); err != nil {
		return err
	}
	var cands []incidents.Incident
	seen := map[string]bool{}
	consider := func(id string) error {
		if id == "" || seen[id] {
			return nil
		}
		seen[id] = true
		inc, err := t.incident(ctx, tx, id)
		if err != nil {
			return err
		}
		for inc.State == incidents.IncidentMerged && inc.MergedInto != "" && !seen[inc.MergedInto] {
			seen[inc.MergedInto] = true
			if inc, err = tx.Incident(ctx, inc.MergedInto); err != nil {
				return err
			}
		}
		if inc.State.Active() && !slices.ContainsFunc(cands, func(x incidents.Incident) bool { return x.ID == inc.ID }) {
			cands = append(cands, inc)
		}
		return nil
	}
	if err := consider(t.cluster[key]); err != nil {
		return err
	}
	for _, id := range c.Calls {
		if err := consider(t.owner(id)); err != nil {
			return err
		}
	}
	if len(cands) == 0 {
		if v, judged := t.surge.verdict(key); judged && v.grade == 0 {
			t.surge.hotspot(key, c, v, t.wf.Now())
			return nil
		}
		t.surge.unhot(key)
		return t.open(ctx, tx, key, c)
	}
	t.surge.unhot(key)
	sort.Slice(cands, func(i, j int) bool { return cands[i].OpenedAt.Before(cands[j].OpenedAt) })
	target := cands[0]
	if len(cands) > 1 {
		others := make([]string, 0, len(cands)-1)
		for _, o := range cands[1:] {
			others = append(others, o.ID)
		}
		if err := t.writeHeld(ctx, tx); err != nil { // the merge reads them from the store
			return err
		}
		merged, err := t.wf.JoinIncidents(ctx, tx, target.ID, others)
		if err != nil {
			return err
		}
		t.wrote(merged)
		for _, o := range others {
			delete(t.active, o)
		}
		t.joined(target.ID, others)
		target = merged
	}
	t.cluster[key] = target.ID
	return t.update(ctx, tx, target, key, c)
}

// dissolve forgets a cluster; an incident left without live clusters is
// marked quiet.
func (t *Tracker) dissolve(ctx context.Context, tx incidents.Tx, key string) error {
	id, ok := t.cluster[key]
	delete(t.cluster, key)
	if !ok {
		return nil
	}
	inc, err := t.incident(ctx, tx, id)
	if err != nil || !inc.State.Active() {
		return err
	}
	prev := t.storedVersion(inc)
	left := slices.DeleteFunc(slices.Clone(inc.Clusters), func(s string) bool { return s == key })
	if len(left) > 0 && !t.flushing && t.throttled(id, inc.CallCount, t.wf.Now()) {
		t.gone[key] = id // a big incident written moments ago: dropped at the next Advance
		return nil
	}
	inc.Clusters = left
	if len(inc.Clusters) > 0 {
		t.hold(inc, prev) // a cluster of the incident merged into another of its own
		return nil
	}
	delete(t.held, id)
	return t.put(ctx, tx, inc, prev, incidents.Change{Type: incidents.EventIncidentQuiet})
}
