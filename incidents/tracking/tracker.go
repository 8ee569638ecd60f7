// Package tracking is the incident tracker: it turns the cluster detector's
// clusters and the call floor's urgent and repeat calls into incidents, with
// a stable identity while clusters grow, merge, split and quieten. It works
// behind Workflow, the narrow interface the command workflow
// (*incidents.Workflow) provides: the tracker decides which incident a
// cluster or a call belongs to and how severe it is; the workflow decides how
// an incident is stored, announced and dispatched.
//
// The tracker's concerns have a file each: the identity map of clusters to
// incidents (identity.go), the refresh throttle and write batching of big
// incidents (throttle.go), the incidents' calls and shape (incident.go),
// repeat calls (repeats.go), urgent calls (urgent.go), grading by size
// (grade.go) and by how unusual a cluster is for its place, hour and kind of
// call, with the hot spots below the alert level (surge.go). Runner (runner.go) runs a tracker on the node that leads the
// detector.
package tracking

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"flare/geo"
	"flare/incidents"
)

// Workflow is what the tracker needs of the command workflow;
// *incidents.Workflow provides it.
type Workflow interface {
	// Now is the workflow's clock.
	Now() time.Time
	// Update runs fn in one store transaction. The tracker reads in it
	// and attaches calls (tx.AttachCalls); it changes incidents only
	// through the three methods below.
	Update(ctx context.Context, fn func(ctx context.Context, tx incidents.Tx) error) error
	// CategoryGroup returns the group of a category.
	CategoryGroup(category string) (string, bool)
	// District returns the district code of a point, "" outside.
	District(lon, lat float64) string
	// OpenIncident stores a new incident, with its plan, events and
	// alert; urgentCall is the urgent call that opened it, "" for none.
	OpenIncident(ctx context.Context, tx incidents.Tx, inc *incidents.Incident, urgentCall string) error
	// SaveIncident stores a change of inc, read at version prev, with its
	// event.
	SaveIncident(ctx context.Context, tx incidents.Tx, inc *incidents.Incident, prev int64, c incidents.Change) error
	// JoinIncidents merges others into survivor and returns it.
	JoinIncidents(ctx context.Context, tx incidents.Tx, survivor string, others []string) (incidents.Incident, error)
}

var _ Workflow = (*incidents.Workflow)(nil)

// Tracker turns the detector's clusters into incidents: one incident per
// real-world event, with a stable id while its clusters grow, merge (the
// older incident survives), split and quieten. Urgent calls open or join an
// incident at once, and repeat calls about an incident's place attach to it
// (并单). It runs on one node at a time (the leader) and is not safe for
// concurrent use.
//
// Its state is rebuilt from the store: which calls belong to which incident
// is stored, so a new leader that replays the window maps the clusters it
// finds to the same incidents.
type Tracker struct {
	wf     Workflow
	set    *geo.Set
	byRule map[string]geo.Rule
	maxWin time.Duration
	late   time.Duration
	geoEvs []geo.Event

	identity
	throttle
	repeats
	surge
}

// New returns a tracker running rules for wf, taking calls up to lateness
// behind the newest.
func New(wf Workflow, rules []geo.Rule, lateness time.Duration) (*Tracker, error) {
	set, err := geo.NewSet(rules, geo.Options{Lateness: lateness})
	if err != nil {
		return nil, err
	}
	t := &Tracker{wf: wf, set: set, byRule: map[string]geo.Rule{}, late: lateness,
		identity: newIdentity(), throttle: newThrottle(), repeats: newRepeats()}
	for _, r := range rules {
		t.byRule[r.Name] = r
		t.maxWin = max(t.maxWin, r.Window)
	}
	return t, nil
}

// Window returns how far back the tracker needs calls to rebuild its
// window: the longest rule window plus the lateness.
func (t *Tracker) Window() time.Duration { return t.maxWin + t.late }

// Rules returns the tracker's rules.
func (t *Tracker) Rules() []geo.Rule { return t.set.Rules() }

// Clusters returns the live clusters of every rule with the incident each
// feeds.
func (t *Tracker) Clusters() ([]geo.Cluster, []string) {
	cs := t.set.Clusters()
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = t.cluster[clusterKey(c.Rule, c.ID)]
	}
	return cs, ids
}

// Observe takes one stored call; see ObserveAll.
func (t *Tracker) Observe(ctx context.Context, c incidents.Call) error {
	return t.ObserveAll(ctx, []incidents.Call{c})
}

// ObserveAll takes stored calls, in one transaction: urgent calls open or
// join an incident at once, the calls go to the detector, the cluster
// changes they cause become incident changes (each changed cluster once per
// batch), and a call near an active incident that no cluster took attaches
// to it. Calls the detector refuses (too late, already expired, a duplicate)
// are still attached or urgent-handled; the first such refusal is returned,
// wrapped, after the rest is done. After any other error the tracker's
// memory may be ahead of the store: rebuild it.
func (t *Tracker) ObserveAll(ctx context.Context, calls []incidents.Call) error {
	// The detector's work needs no transaction: it is done before the
	// store's writer is taken, so that the intake's commits wait less.
	var refused error
	for _, c := range calls {
		t.see(c)
		p := geo.Point{ID: c.ID, Time: c.ReceivedAt, Lat: c.Lat, Lon: c.Lon, Category: c.Category}
		err := t.set.Add(p)
		if err != nil && refused == nil {
			refused = fmt.Errorf("detector refused call %s: %w", c.ID, err)
		}
		if err == nil {
			t.learn(p)
		}
	}
	defer t.publishHot()
	news := t.changes(false)
	if t.quiet(calls, news) {
		return refused
	}
	ids := make([]string, len(calls))
	for i, c := range calls {
		ids[i] = c.ID
	}
	err := t.wf.Update(ctx, func(ctx context.Context, tx incidents.Tx) error {
		// The batch's calls are new to the tracker: one query finds
		// whichever of them the store already attaches, rather than one
		// query per call.
		if err := t.lookUpOwners(ctx, tx, ids); err != nil {
			return err
		}
		for _, c := range calls {
			if c.Urgent {
				if err := t.urgent(ctx, tx, c); err != nil {
					return err
				}
			}
		}
		if err := t.apply(ctx, tx, news); err != nil {
			return err
		}
		for _, c := range calls {
			if !c.Urgent {
				if err := t.attachRepeat(ctx, tx, c); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return refused
}

// Advance moves the detector's time to now (expiring old calls) and applies
// the cluster changes that causes.
func (t *Tracker) Advance(ctx context.Context, now time.Time) error {
	defer t.publishHot()
	t.advanceBaseline(now)
	t.set.Advance(now)
	t.forgetCalls(now.Add(-t.Window()))
	t.forgetWrites(t.wf.Now())
	news := t.changes(true)
	if news == nil && len(t.waiting) == 0 {
		return nil
	}
	return t.wf.Update(ctx, func(ctx context.Context, tx incidents.Tx) error {
		if err := t.apply(ctx, tx, news); err != nil {
			return err
		}
		return t.flushRepeats(ctx, tx)
	})
}

// apply turns the detector's news (see changes) into incident changes in
// tx. On a busy night a big incident gathers dozens of clusters (one per
// rule and per patch) and calls every second: refreshing it for each would
// send every leadership dashboard and every department on it the whole
// incident many times a second, so its growth waits (see throttled) and
// each incident is written once per batch (see hold).
func (t *Tracker) apply(ctx context.Context, tx incidents.Tx, p *changes) error {
	if p == nil {
		return nil
	}
	t.flushing = p.flush
	defer func() { t.flushing = false }()
	clear(t.held)
	t.heldOrder = t.heldOrder[:0]
	for _, l := range p.live {
		if err := t.track(ctx, tx, l.key, l.cluster); err != nil {
			return err
		}
	}
	gone := p.gone
	if p.flush {
		for _, k := range slices.Sorted(maps.Keys(t.gone)) {
			if _, ok := t.cluster[k]; !ok {
				t.cluster[k] = t.gone[k]
				gone = append(gone, k)
			}
			delete(t.gone, k)
		}
	}
	for _, k := range gone {
		if err := t.dissolve(ctx, tx, k); err != nil {
			return err
		}
	}
	return t.writeHeld(ctx, tx)
}

// changes are the detector's news for apply: the clusters to track, with
// their summaries, and the clusters gone.
type changes struct {
	flush bool
	live  []liveCluster
	gone  []string
}

type liveCluster struct {
	key     string
	cluster geo.Cluster
}

// changes takes the detector's pending events and summarises the clusters
// they touch, outside any transaction; nil when there is nothing to apply.
// The growth of the clusters of a big incident written less than bigRefresh
// ago waits in dirty; flush takes it too, but for a huge incident whose
// refresh is not due (see refreshEvery).
func (t *Tracker) changes(flush bool) *changes {
	t.geoEvs = t.set.TakeEvents(t.geoEvs[:0])
	t.judgeAll(t.geoEvs)
	if len(t.geoEvs) == 0 && (!flush || len(t.dirty) == 0 && len(t.gone) == 0) {
		return nil
	}
	now := t.wf.Now()
	// Each cluster's latest state is what counts: the clusters still alive
	// are summarised once and tracked first (a merge joins their incidents
	// then), the clusters gone are forgotten after.
	alive := map[string]geo.Event{} // cluster key -> rule and id
	var order []string
	note := func(rule string, id geo.ClusterID) {
		k := clusterKey(rule, id)
		if _, ok := alive[k]; !ok {
			order = append(order, k)
		}
		alive[k] = geo.Event{Rule: rule, Cluster: id}
		delete(t.dirty, k)
	}
	for _, e := range t.geoEvs {
		k := clusterKey(e.Rule, e.Cluster)
		if (e.Kind == geo.EventGrew || e.Kind == geo.EventShrank) && t.throttled(t.cluster[k], e.Calls, now) {
			if _, ok := alive[k]; !ok {
				t.dirty[k] = e
			}
			continue
		}
		note(e.Rule, e.Cluster)
		for _, o := range e.Others {
			note(e.Rule, o)
		}
	}
	if flush {
		for k, e := range t.dirty {
			if !t.hugeWaits(t.cluster[k], e.Calls, now) {
				note(e.Rule, e.Cluster)
			}
		}
	}
	p := &changes{flush: flush}
	for _, k := range order {
		e := alive[k]
		c, ok := t.set.Detector(e.Rule).Cluster(e.Cluster)
		if !ok {
			p.gone = append(p.gone, k)
			continue
		}
		p.live = append(p.live, liveCluster{key: k, cluster: c})
	}
	return p
}
