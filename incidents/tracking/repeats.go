package tracking

import (
	"context"
	"maps"
	"math"
	"slices"
	"sort"

	"github.com/paulmach/orb"
	orbgeo "github.com/paulmach/orb/geo"

	"flare/incidents"
)

const (
	repeatCallBuffer = 200 // metres beyond an incident's radius that still count as the same place
	minRepeatRadius  = 300 // metres: the least radius for attaching repeat calls
)

// repeats is what the tracker keeps for repeat calls (并单) and urgent
// calls: where the active incidents are, and the repeat calls waiting for a
// big incident's next refresh.
type repeats struct {
	// active caches where the active incidents are, for the urgent and
	// repeat-call searches (loaded once, kept by the tracker's own writes,
	// and checked against the store before use: a leader may have closed
	// or merged one).
	active map[string]activeIncident
	// waiting holds, by incident id, the repeat calls about a big incident
	// written moments ago, attached together at the next Advance.
	waiting map[string][]incidents.Call
}

func newRepeats() repeats { return repeats{waiting: map[string][]incidents.Call{}} }

// activeIncident is what the tracker's searches need of an active incident.
type activeIncident struct {
	centroid orb.Point
	radius   float64
	groups   map[string]bool // category groups of its calls
}

// loadActive fills the cache of active incidents on first use.
func (t *Tracker) loadActive(ctx context.Context, tx incidents.Tx) error {
	if t.active != nil {
		return nil
	}
	list, err := tx.ActiveIncidents(ctx)
	if err != nil {
		return err
	}
	t.active = make(map[string]activeIncident, len(list))
	for _, inc := range list {
		t.remember(inc)
	}
	return nil
}

// remember keeps the cache in step with an incident the tracker stored.
func (t *Tracker) remember(inc incidents.Incident) {
	if t.active == nil {
		return
	}
	if !inc.State.Active() {
		delete(t.active, inc.ID)
		return
	}
	a := activeIncident{centroid: orb.Point(inc.Centroid), radius: inc.RadiusM, groups: map[string]bool{}}
	for c := range inc.Categories {
		if g, ok := t.wf.CategoryGroup(c); ok {
			a.groups[g] = true
		}
	}
	t.active[inc.ID] = a
}

// nearest returns the active incident closest to p whose reach (given its
// radius) covers p and that accept takes, read in tx. Cached incidents that
// are no longer active (a leader closed or merged them) are dropped on the
// way.
func (t *Tracker) nearest(ctx context.Context, tx incidents.Tx, p orb.Point, reach func(radius float64) float64, accept func(activeIncident) bool) (incidents.Incident, bool, error) {
	if err := t.loadActive(ctx, tx); err != nil {
		return incidents.Incident{}, false, err
	}
	return t.firstActive(ctx, tx, t.near(p, reach, accept))
}

// near returns the ids of the cached active incidents whose reach (given
// their radius) covers p and that accept takes, nearest first. The cache
// must be loaded.
func (t *Tracker) near(p orb.Point, reach func(radius float64) float64, accept func(activeIncident) bool) []string {
	type cand struct {
		id string
		d  float64
	}
	var cands []cand
	for id, a := range t.active {
		if !accept(a) {
			continue
		}
		if d := orbgeo.DistanceHaversine(p, a.centroid); d <= reach(a.radius) {
			cands = append(cands, cand{id, d})
		}
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].d < cands[j].d })
	ids := make([]string, len(cands))
	for i, c := range cands {
		ids[i] = c.id
	}
	return ids
}

// firstActive returns the first of the incidents ids that is still active,
// read in tx; the others are dropped from the cache.
func (t *Tracker) firstActive(ctx context.Context, tx incidents.Tx, ids []string) (incidents.Incident, bool, error) {
	for _, id := range ids {
		inc, err := tx.Incident(ctx, id)
		if err != nil && incidents.ErrorCode(err) != incidents.CodeNotFound {
			return incidents.Incident{}, false, err
		}
		if err == nil && inc.State.Active() {
			return inc, true, nil
		}
		delete(t.active, id)
	}
	return incidents.Incident{}, false, nil
}

// repeatTargets returns the cached active incidents that c could be a
// repeat call about: of its category group, with c within their radius (at
// least minRepeatRadius) plus repeatCallBuffer; nearest first, none when
// its category is unknown. The cache must be loaded.
func (t *Tracker) repeatTargets(c incidents.Call) []string {
	group, ok := t.wf.CategoryGroup(c.Category)
	if !ok {
		return nil
	}
	reach := func(radius float64) float64 { return math.Max(radius, minRepeatRadius) + repeatCallBuffer }
	sameGroup := func(a activeIncident) bool { return a.groups[group] }
	return t.near(orb.Point{c.Lon, c.Lat}, reach, sameGroup)
}

// quiet reports whether taking calls, with the cluster changes news, would
// store nothing: no urgent call, no cluster change, and no call with a
// repeatTargets incident (what attachRepeat asks too). ObserveAll then does
// not take the store's writer, which the intake's commits would wait for.
func (t *Tracker) quiet(calls []incidents.Call, news *changes) bool {
	if news != nil || t.active == nil {
		return false
	}
	for _, c := range calls {
		if c.Urgent {
			return false
		}
		if len(t.repeatTargets(c)) > 0 {
			return false
		}
	}
	return true
}

// attachRepeat attaches a call that no cluster took to the active incident
// whose place it is about (within its radius plus a margin, sharing a
// category group): a repeat call about a known event (并单). A repeat call
// about a big incident written less than bigRefresh ago waits for the next
// Advance, which attaches the calls waiting for each incident together.
func (t *Tracker) attachRepeat(ctx context.Context, tx incidents.Tx, c incidents.Call) error {
	if err := t.lookUpOwners(ctx, tx, []string{c.ID}); err != nil || t.owner(c.ID) != "" {
		return err
	}
	if err := t.loadActive(ctx, tx); err != nil {
		return err
	}
	ids := t.repeatTargets(c)
	if len(ids) == 0 {
		return nil
	}
	if t.throttled(ids[0], 0, t.wf.Now()) {
		t.waiting[ids[0]] = append(t.waiting[ids[0]], c)
		return nil
	}
	inc, found, err := t.firstActive(ctx, tx, ids)
	if err != nil || !found {
		return err
	}
	return t.attachRepeats(ctx, tx, inc, []incidents.Call{c})
}

// attachRepeats attaches repeat calls to inc, with one incident.updated.
func (t *Tracker) attachRepeats(ctx context.Context, tx incidents.Tx, inc incidents.Incident, calls []incidents.Call) error {
	ids := make([]string, len(calls))
	for i, c := range calls {
		ids[i] = c.ID
	}
	prev := inc.Version
	n, err := t.attach(ctx, tx, &inc, ids)
	if err != nil || n == 0 {
		return err
	}
	cause := &incidents.Cause{Kind: incidents.CauseRepeatCalls, Calls: len(ids), CallID: ids[len(ids)-1]}
	return t.put(ctx, tx, inc, prev, incidents.Change{Type: incidents.EventIncidentUpdated, Cause: cause})
}

// flushRepeats attaches the repeat calls that waited for their incident,
// one update per incident; those a cluster took meanwhile stay with it,
// and those whose incident is no longer active look for another.
func (t *Tracker) flushRepeats(ctx context.Context, tx incidents.Tx) error {
	if len(t.waiting) == 0 {
		return nil
	}
	waiting := t.waiting
	t.waiting = map[string][]incidents.Call{}
	now := t.wf.Now()
	for _, id := range slices.Sorted(maps.Keys(waiting)) {
		calls := slices.DeleteFunc(waiting[id], func(c incidents.Call) bool { return t.owner(c.ID) != "" })
		if len(calls) == 0 {
			continue
		}
		if t.hugeWaits(id, 0, now) {
			t.waiting[id] = calls // a huge incident's refresh is not due yet
			continue
		}
		inc, found, err := t.firstActive(ctx, tx, []string{id})
		if err != nil {
			return err
		}
		if found {
			if err := t.attachRepeats(ctx, tx, inc, calls); err != nil {
				return err
			}
			continue
		}
		for _, c := range calls {
			if err := t.attachRepeat(ctx, tx, c); err != nil {
				return err
			}
		}
	}
	return nil
}
