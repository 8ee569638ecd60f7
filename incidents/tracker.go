package incidents

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/paulmach/orb"
	orbgeo "github.com/paulmach/orb/geo"
	"github.com/paulmach/orb/geojson"

	"flare/geo"
)

// Grading rules (documented in docs/WORKFLOW.md). An incident's automatic
// grade comes from its size relative to the rule that found it, weighted by
// its categories, raised by fast growth and by urgent calls. The automatic
// grade only ever rises; a leader's regrade stops it.
const (
	hazardWeight      = 2   // gas leaks, fires and building safety weigh double
	urgentJoinRadius  = 500 // metres: an urgent call joins an active incident this close
	repeatCallBuffer  = 200 // metres beyond an incident's radius that still count as the same place
	minRepeatRadius   = 300 // metres: the least radius for attaching repeat calls
	urgentForGradeII  = 3   // urgent calls that make an incident at least grade II
	recentWindowCalls = 2   // calls in the growth span, in multiples of minCalls, that raise the grade
)

var hazardCategories = map[string]bool{"gas_leak": true, "fire": true, "building_safety": true}

// AutoGrade returns the automatic grade of an incident of calls calls with
// the given categories, urgentCalls urgent ones and recent calls in the last
// growth span, found by a rule needing minCalls calls, and why.
func AutoGrade(calls int, categories map[string]int, urgentCalls, recent, minCalls int) (Grade, string) {
	if minCalls < 1 {
		minCalls = 1
	}
	weight := 1
	for c := range categories {
		if hazardCategories[c] {
			weight = hazardWeight
		}
	}
	score := float64(calls*weight) / float64(minCalls)
	g := GradeIV
	switch {
	case score >= 8:
		g = GradeI
	case score >= 4:
		g = GradeII
	case score >= 2:
		g = GradeIII
	}
	reason := fmt.Sprintf("%d calls (rule needs %d)", calls, minCalls)
	if weight > 1 {
		reason += ", hazard category weighs double"
	}
	if recent >= minCalls*recentWindowCalls && g > GradeI {
		g--
		reason += fmt.Sprintf(", %d calls in the last minutes", recent)
	}
	if urgentCalls >= urgentForGradeII && g > GradeII {
		g = GradeII
		reason += fmt.Sprintf(", %d urgent calls", urgentCalls)
	} else if urgentCalls > 0 && g > GradeIII {
		g = GradeIII
		reason += ", urgent call"
	}
	return g, reason
}

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
	wf      *Workflow
	set     *geo.Set
	byRule  map[string]geo.Rule
	maxWin  time.Duration
	late    time.Duration
	cluster map[string]string // "rule/id" -> incident id
	geoEvs  []geo.Event

	// active caches where the active incidents are, for the urgent and
	// repeat-call searches (loaded once, kept by the tracker's own writes,
	// and checked against the store before use: a leader may have closed
	// or merged one).
	active map[string]activeIncident
	// Big incidents are refreshed at most every bigRefresh: the growth of
	// their clusters waits in dirty, and the repeat calls about them in
	// repeats, for the next Advance; huge ones wait longer (see
	// refreshEvery). written tells when the tracker last wrote each
	// incident, and how many calls it had then.
	dirty    map[string]geo.Event
	gone     map[string]string // cluster key -> incident: clusters gone from a big incident, to drop at the next Advance
	repeats  map[string][]Call // incident id -> the calls about it
	flushing bool              // apply is applying what waited
	// held are the incidents apply changed and writes once, at its end:
	// several clusters of one incident change in one batch.
	held      map[string]heldIncident
	heldOrder []string
	written   map[string]incidentWrite
	// calls remembers the calls of the window: what the attachments need,
	// and the incident each belongs to once looked up or attached, so that
	// a growing cluster costs no store reads for calls already seen.
	calls map[string]*seenCall
}

// seenCall is what the tracker remembers of a call in its window.
type seenCall struct {
	category string
	urgent   bool
	at       time.Time
	incident string // the incident it is attached to, "" for none
	known    bool   // incident was looked up or set
}

// heldIncident is an incident changed in memory, to be written over the
// stored version prev.
type heldIncident struct {
	inc  Incident
	prev int64
}

// incidentWrite is when the tracker last wrote an incident.
type incidentWrite struct {
	at    time.Time
	calls int
}

// activeIncident is what the tracker's searches need of an active incident.
type activeIncident struct {
	centroid orb.Point
	radius   float64
	groups   map[string]bool // category groups of its calls
}

const (
	bigCluster = 30              // calls from which an incident's refreshes are spaced out
	bigRefresh = 2 * time.Second // how often a big incident is refreshed at most (but at every Advance)
	// A refresh summarises an incident's clusters (members, hull,
	// counts), work in proportion to their calls: a huge incident waits
	// bigRefresh per hugeIncident calls between refreshes, Advance
	// included, and at most maxRefresh.
	hugeIncident = 1000
	maxRefresh   = 30 * time.Second
)

// refreshEvery is how long the tracker leaves an incident of calls calls
// unwritten at least, when nothing but its size and shape changed: 0 below
// bigCluster calls, then bigRefresh, and for huge incidents bigRefresh per
// hugeIncident calls, at most maxRefresh. A new incident, a higher grade
// and a merge are written at once whatever the size.
func refreshEvery(calls int) time.Duration {
	switch {
	case calls < bigCluster:
		return 0
	case calls < 2*hugeIncident:
		return bigRefresh
	}
	return min(bigRefresh*time.Duration(calls/hugeIncident), maxRefresh)
}

// NewTracker returns a tracker running rules, taking calls up to lateness
// behind the newest.
func NewTracker(wf *Workflow, rules []geo.Rule, lateness time.Duration) (*Tracker, error) {
	set, err := geo.NewSet(rules, geo.Options{Lateness: lateness})
	if err != nil {
		return nil, err
	}
	t := &Tracker{wf: wf, set: set, byRule: map[string]geo.Rule{}, late: lateness, cluster: map[string]string{},
		dirty: map[string]geo.Event{}, gone: map[string]string{}, repeats: map[string][]Call{}, written: map[string]incidentWrite{},
		calls: map[string]*seenCall{}}
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

func clusterKey(rule string, id geo.ClusterID) string { return fmt.Sprintf("%s/%d", rule, id) }

// Observe takes one stored call; see ObserveAll.
func (t *Tracker) Observe(ctx context.Context, c Call) error {
	return t.ObserveAll(ctx, []Call{c})
}

// ObserveAll takes stored calls, in one transaction: urgent calls open or
// join an incident at once, the calls go to the detector, the cluster
// changes they cause become incident changes (each changed cluster once per
// batch), and a call near an active incident that no cluster took attaches
// to it. Calls the detector refuses (too late, already expired, a duplicate)
// are still attached or urgent-handled; the first such refusal is returned,
// wrapped, after the rest is done. After any other error the tracker's
// memory may be ahead of the store: rebuild it.
func (t *Tracker) ObserveAll(ctx context.Context, calls []Call) error {
	// The detector's work needs no transaction: it is done before the
	// store's writer is taken, so that the intake's commits wait less.
	var refused error
	for _, c := range calls {
		if _, ok := t.calls[c.ID]; !ok {
			t.calls[c.ID] = &seenCall{category: c.Category, urgent: c.Urgent, at: c.ReceivedAt}
		}
		err := t.set.Add(geo.Point{ID: c.ID, Time: c.ReceivedAt, Lat: c.Lat, Lon: c.Lon, Category: c.Category})
		if err != nil && refused == nil {
			refused = fmt.Errorf("detector refused call %s: %w", c.ID, err)
		}
	}
	news := t.changes(false)
	if t.quiet(calls, news) {
		return refused
	}
	ids := make([]string, len(calls))
	for i, c := range calls {
		ids[i] = c.ID
	}
	_, err := t.wf.cfg.Store.Update(ctx, func(ctx context.Context, tx Tx) error {
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
	t.set.Advance(now)
	oldest := now.Add(-t.Window())
	for id, c := range t.calls {
		if c.at.Before(oldest) {
			delete(t.calls, id)
		}
	}
	for id, w := range t.written {
		if t.wf.now().Sub(w.at) >= max(bigRefresh, refreshEvery(w.calls)) {
			delete(t.written, id)
		}
	}
	news := t.changes(true)
	if news == nil && len(t.repeats) == 0 {
		return nil
	}
	_, err := t.wf.cfg.Store.Update(ctx, func(ctx context.Context, tx Tx) error {
		if err := t.apply(ctx, tx, news); err != nil {
			return err
		}
		return t.flushRepeats(ctx, tx)
	})
	return err
}

// apply turns the detector's news (see changes) into incident changes in
// tx. On a busy night a big incident gathers dozens of clusters (one per
// rule and per patch) and calls every second: refreshing it for each would
// send every leadership dashboard and every department on it the whole
// incident many times a second, so its growth waits (see throttled) and
// each incident is written once per batch (see hold).
func (t *Tracker) apply(ctx context.Context, tx Tx, p *changes) error {
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
	if len(t.geoEvs) == 0 && (!flush || len(t.dirty) == 0 && len(t.gone) == 0) {
		return nil
	}
	now := t.wf.now()
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

// throttled tells whether a change of size calls to incident id waits: the
// incident is big and was written less than refreshEvery before now.
func (t *Tracker) throttled(id string, calls int, now time.Time) bool {
	w, ok := t.written[id]
	return ok && now.Sub(w.at) < refreshEvery(max(calls, w.calls))
}

// hugeWaits tells whether a change of size calls to incident id waits even
// for Advance: the incident is huge (refreshed less often than a big one)
// and its refresh is not due.
func (t *Tracker) hugeWaits(id string, calls int, now time.Time) bool {
	return t.throttled(id, calls, now) && refreshEvery(max(calls, t.written[id].calls)) > bigRefresh
}

// incident returns the incident with the given id as the tracker holds it
// or, when it holds none, as tx reads it.
func (t *Tracker) incident(ctx context.Context, tx Tx, id string) (Incident, error) {
	if h, ok := t.held[id]; ok {
		return h.inc, nil
	}
	return tx.Incident(ctx, id)
}

// hold keeps inc, changed from the stored version prev, to be written by
// writeHeld.
func (t *Tracker) hold(inc Incident, prev int64) {
	if t.held == nil {
		t.held = map[string]heldIncident{}
	}
	if _, ok := t.held[inc.ID]; !ok {
		t.heldOrder = append(t.heldOrder, inc.ID)
	}
	t.held[inc.ID] = heldIncident{inc: inc, prev: prev}
}

// storedVersion returns the version of inc in the store: inc's own, or,
// when inc is the held copy, the version it was held over.
func (t *Tracker) storedVersion(inc Incident) int64 {
	if h, ok := t.held[inc.ID]; ok {
		return h.prev
	}
	return inc.Version
}

// writeHeld writes the held incidents, each with one incident.updated.
func (t *Tracker) writeHeld(ctx context.Context, tx Tx) error {
	for _, id := range t.heldOrder {
		h, ok := t.held[id]
		if !ok {
			continue
		}
		delete(t.held, id)
		if err := t.put(ctx, tx, h.inc, h.prev, EventIncidentUpdated); err != nil {
			return err
		}
	}
	t.heldOrder = t.heldOrder[:0]
	return nil
}

// put writes inc over the stored version prev, with an event of type typ.
func (t *Tracker) put(ctx context.Context, tx Tx, inc Incident, prev int64, typ string) error {
	if err := tx.PutIncident(ctx, inc, prev); err != nil {
		return err
	}
	t.wrote(inc)
	return tx.Append(ctx, EventInput{Type: typ, Actor: System.Name, Data: incidentEvent{Incident: inc}})
}

// wrote notes that the tracker wrote inc, and remembers where it is.
func (t *Tracker) wrote(inc Incident) {
	t.written[inc.ID] = incidentWrite{at: t.wf.now(), calls: inc.CallCount}
	t.remember(inc)
}

// dissolve forgets a cluster; an incident left without live clusters is
// marked quiet.
func (t *Tracker) dissolve(ctx context.Context, tx Tx, key string) error {
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
	if len(left) > 0 && !t.flushing && t.throttled(id, inc.CallCount, t.wf.now()) {
		t.gone[key] = id // a big incident written moments ago: dropped at the next Advance
		return nil
	}
	inc.Clusters = left
	inc.Version, inc.UpdatedAt = prev+1, t.wf.now()
	if len(inc.Clusters) > 0 {
		t.hold(inc, prev) // a cluster of the incident merged into another of its own
		return nil
	}
	delete(t.held, id)
	return t.put(ctx, tx, inc, prev, EventIncidentQuiet)
}

// track makes the incident of a live cluster match it: it finds the
// incident (by the cluster, else by the incidents its calls belong to,
// merging several into the oldest), or opens one.
func (t *Tracker) track(ctx context.Context, tx Tx, key string, c geo.Cluster) error {
	if err := t.lookUpOwners(ctx, tx, c.Calls); err != nil {
		return err
	}
	var cands []Incident
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
		for inc.State == IncidentMerged && inc.MergedInto != "" && !seen[inc.MergedInto] {
			seen[inc.MergedInto] = true
			if inc, err = tx.Incident(ctx, inc.MergedInto); err != nil {
				return err
			}
		}
		if inc.State.Active() && !slices.ContainsFunc(cands, func(x Incident) bool { return x.ID == inc.ID }) {
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
		return t.open(ctx, tx, key, c)
	}
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
		merged, err := t.wf.merge(ctx, tx, System, target.ID, others, "their clusters joined")
		if err != nil {
			return err
		}
		t.wrote(merged)
		for _, o := range others {
			delete(t.active, o)
		}
		for _, sc := range t.calls {
			if slices.Contains(others, sc.incident) {
				sc.incident = target.ID
			}
		}
		for k, v := range t.cluster {
			if slices.Contains(others, v) {
				t.cluster[k] = target.ID
			}
		}
		target = merged
	}
	t.cluster[key] = target.ID
	return t.update(ctx, tx, target, key, c)
}

// lookUpOwners makes sure the tracker knows the incident of each call,
// reading from the store only the calls it has not looked up yet.
func (t *Tracker) lookUpOwners(ctx context.Context, tx Tx, ids []string) error {
	var missing []string
	for _, id := range ids {
		if sc := t.calls[id]; sc == nil || !sc.known {
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
		sc := t.calls[id]
		if sc == nil {
			sc = &seenCall{}
			t.calls[id] = sc
		}
		sc.incident, sc.known = owners[id], true
	}
	return nil
}

// owner returns the incident a call is attached to as the tracker knows it.
func (t *Tracker) owner(id string) string {
	if sc := t.calls[id]; sc != nil {
		return sc.incident
	}
	return ""
}

// summary copies a cluster's shape into an incident.
func (t *Tracker) summary(inc *Incident, c geo.Cluster) {
	inc.Centroid = [2]float64{round7(c.Centroid[0]), round7(c.Centroid[1])}
	if hull, err := geojson.NewGeometry(c.Hull).MarshalJSON(); err == nil {
		inc.Hull = hull
	}
	inc.RadiusM = math.Round(c.Radius*10) / 10
	if inc.District == "" && t.wf.cfg.Jurisdictions != nil {
		if r, ok := t.wf.cfg.Jurisdictions.Locate(c.Centroid[0], c.Centroid[1]); ok {
			inc.District = r.Code
		}
	}
}

func round7(v float64) float64 { return math.Round(v*1e7) / 1e7 }

// attach adds calls to inc (in memory and in the store) and returns how
// many were new.
func (t *Tracker) attach(ctx context.Context, tx Tx, inc *Incident, ids []string) (int, error) {
	var fresh []string
	if inc.CallCount < MaxIncidentCalls {
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
		call := Call{Category: sc.category, Urgent: sc.urgent, ReceivedAt: sc.at}
		if len(inc.Calls) < MaxIncidentCalls {
			inc.Calls = append(inc.Calls, id)
		}
		inc.CallCount++
		inc.Categories[call.Category]++
		if call.Urgent {
			inc.UrgentCalls++
		}
		if inc.FirstCallAt.IsZero() || call.ReceivedAt.Before(inc.FirstCallAt) {
			inc.FirstCallAt = call.ReceivedAt
		}
		if call.ReceivedAt.After(inc.LastCallAt) {
			inc.LastCallAt = call.ReceivedAt
		}
	}
	return len(fresh), tx.AttachCalls(ctx, inc.ID, fresh)
}

// title names an incident by its main category and its district.
func (t *Tracker) title(inc Incident) string {
	main, n := "", -1
	for c, k := range inc.Categories {
		if k > n || (k == n && c < main) {
			main, n = c, k
		}
	}
	name := main
	if cat, ok := t.wf.cfg.Taxonomy.Category(main); ok {
		name = cat.NameZh
	}
	place := "珠海市"
	if t.wf.cfg.Jurisdictions != nil && inc.District != "" {
		for _, r := range t.wf.cfg.Jurisdictions.List() {
			if r.Code == inc.District {
				place = r.Name
			}
		}
	}
	return name + " · " + place
}

// open creates the incident of a new cluster.
func (t *Tracker) open(ctx context.Context, tx Tx, key string, c geo.Cluster) error {
	now := t.wf.now()
	inc := Incident{ID: NewID("i", now), State: IncidentOpen, Source: "cluster", Rule: c.Rule, OpenedAt: now, Clusters: []string{key}}
	t.summary(&inc, c)
	if _, err := t.attach(ctx, tx, &inc, c.Calls); err != nil {
		return err
	}
	t.cluster[key] = inc.ID
	inc.Grade, inc.GradeReason = AutoGrade(inc.CallCount, inc.Categories, inc.UrgentCalls, c.Recent, t.byRule[c.Rule].MinCalls)
	return t.create(ctx, tx, inc, "incident_opened", fmt.Sprintf("%d 起来电聚集", inc.CallCount))
}

// create stores a new incident with its plan, alerts the leadership group,
// and dispatches the plan when the grade calls for it.
func (t *Tracker) create(ctx context.Context, tx Tx, inc Incident, alertKind, message string) error {
	inc.Title = t.title(inc)
	inc.Version, inc.UpdatedAt = 1, inc.OpenedAt
	inc.Plan = t.wf.proposePlan(inc)
	auto := inc.Grade.AtLeast(t.wf.cfg.AutoDispatch)
	if auto {
		if err := t.wf.dispatchPlan(ctx, tx, &inc, System, nil, ""); err != nil {
			return err
		}
	}
	if err := tx.PutIncident(ctx, inc, 0); err != nil {
		return err
	}
	t.wrote(inc)
	if err := tx.Append(ctx, EventInput{Type: EventIncidentOpened, Actor: System.Name, Data: incidentEvent{Incident: inc, Reason: inc.GradeReason}}); err != nil {
		return err
	}
	if !auto {
		if err := tx.Append(ctx, EventInput{Type: EventIncidentPlanned, Actor: System.Name, Data: incidentEvent{Incident: inc}}); err != nil {
			return err
		}
	}
	return t.wf.alert(ctx, tx, inc, alertKind, message, inc.UrgentCalls > 0)
}

// update refreshes an incident from one of its clusters: new calls, shape,
// and a higher automatic grade (dispatching the plan if the grade now calls
// for it).
func (t *Tracker) update(ctx context.Context, tx Tx, inc Incident, key string, c geo.Cluster) error {
	if !t.flushing && t.throttled(inc.ID, inc.CallCount, t.wf.now()) {
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
		g, reason := AutoGrade(inc.CallCount, inc.Categories, inc.UrgentCalls, c.Recent, t.byRule[c.Rule].MinCalls)
		if g.AtLeast(inc.Grade) && g != inc.Grade {
			inc.Grade, inc.GradeReason, raised = g, reason, true
		}
	}
	if added == 0 && !newCluster && !shapeChanged && !raised {
		return nil
	}
	now := t.wf.now()
	if raised && inc.Plan != nil && !inc.Plan.Dispatched && inc.Grade.AtLeast(t.wf.cfg.AutoDispatch) {
		inc.Plan = t.wf.proposePlan(inc)
		if err := t.wf.dispatchPlan(ctx, tx, &inc, System, nil, ""); err != nil {
			return err
		}
	}
	inc.Title = t.title(inc)
	inc.Version, inc.UpdatedAt = prev+1, now
	if !raised {
		t.hold(inc, prev) // other clusters of the batch may change it too
		return nil
	}
	delete(t.held, inc.ID)
	if err := t.put(ctx, tx, inc, prev, EventIncidentUpdated); err != nil {
		return err
	}
	if err := tx.Append(ctx, EventInput{Type: EventIncidentGraded, Actor: System.Name, Data: incidentEvent{Incident: inc, Reason: inc.GradeReason}}); err != nil {
		return err
	}
	return t.wf.alert(ctx, tx, inc, "grade_raised", fmt.Sprintf("升级为 %s 级：%s", roman(inc.Grade), inc.GradeReason), inc.UrgentCalls > 0)
}

// loadActive fills the cache of active incidents on first use.
func (t *Tracker) loadActive(ctx context.Context, tx Tx) error {
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
func (t *Tracker) remember(inc Incident) {
	if t.active == nil {
		return
	}
	if !inc.State.Active() {
		delete(t.active, inc.ID)
		return
	}
	a := activeIncident{centroid: orb.Point(inc.Centroid), radius: inc.RadiusM, groups: map[string]bool{}}
	for c := range inc.Categories {
		if cat, ok := t.wf.cfg.Taxonomy.Category(c); ok {
			a.groups[cat.Group] = true
		}
	}
	t.active[inc.ID] = a
}

// nearest returns the active incident closest to p whose reach (given its
// radius) covers p and that accept takes, read in tx. Cached incidents that
// are no longer active (a leader closed or merged them) are dropped on the
// way.
func (t *Tracker) nearest(ctx context.Context, tx Tx, p orb.Point, reach func(radius float64) float64, accept func(activeIncident) bool) (Incident, bool, error) {
	if err := t.loadActive(ctx, tx); err != nil {
		return Incident{}, false, err
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

// repeatTargets returns the cached active incidents that c could be a
// repeat call about: of its category group, with c within their radius (at
// least minRepeatRadius) plus repeatCallBuffer; nearest first, none when
// its category is unknown. The cache must be loaded.
func (t *Tracker) repeatTargets(c Call) []string {
	cat, ok := t.wf.cfg.Taxonomy.Category(c.Category)
	if !ok {
		return nil
	}
	reach := func(radius float64) float64 { return math.Max(radius, minRepeatRadius) + repeatCallBuffer }
	sameGroup := func(a activeIncident) bool { return a.groups[cat.Group] }
	return t.near(orb.Point{c.Lon, c.Lat}, reach, sameGroup)
}

// quiet reports whether taking calls, with the cluster changes news, would
// store nothing: no urgent call, no cluster change, and no call with a
// repeatTargets incident (what attachRepeat asks too). ObserveAll then does not take the
// store's writer, which the intake's commits would wait for.
func (t *Tracker) quiet(calls []Call, news *changes) bool {
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

// firstActive returns the first of the incidents ids that is still active,
// read in tx; the others are dropped from the cache.
func (t *Tracker) firstActive(ctx context.Context, tx Tx, ids []string) (Incident, bool, error) {
	for _, id := range ids {
		inc, err := tx.Incident(ctx, id)
		if err != nil && ErrorCode(err) != CodeNotFound {
			return Incident{}, false, err
		}
		if err == nil && inc.State.Active() {
			return inc, true, nil
		}
		delete(t.active, id)
	}
	return Incident{}, false, nil
}

// urgent handles a call flagged urgent by the call floor: it joins the
// nearest active incident within urgentJoinRadius (raising it to at least
// grade III), or opens an incident of its own at grade III; either way the
// leadership group is alerted at once.
func (t *Tracker) urgent(ctx context.Context, tx Tx, c Call) error {
	if err := t.lookUpOwners(ctx, tx, []string{c.ID}); err != nil || t.owner(c.ID) != "" {
		return err // already handled (a replay after a restart)
	}
	p := orb.Point{c.Lon, c.Lat}
	inc, found, err := t.nearest(ctx, tx, p, func(float64) float64 { return urgentJoinRadius }, func(activeIncident) bool { return true })
	if err != nil {
		return err
	}
	now := t.wf.now()
	if !found {
		inc = Incident{ID: NewID("i", now), State: IncidentOpen, Source: "urgent", OpenedAt: now,
			Centroid: [2]float64{c.Lon, c.Lat}, Grade: GradeIII, GradeReason: "urgent call from the call floor"}
		if t.wf.cfg.Jurisdictions != nil {
			if r, ok := t.wf.cfg.Jurisdictions.Locate(c.Lon, c.Lat); ok {
				inc.District = r.Code
			}
		}
		if _, err := t.attach(ctx, tx, &inc, []string{c.ID}); err != nil {
			return err
		}
		return t.create(ctx, tx, inc, "urgent_call", "紧急来电："+callSummary(c))
	}
	prev := inc.Version
	if _, err := t.attach(ctx, tx, &inc, []string{c.ID}); err != nil {
		return err
	}
	if !inc.GradeManual && !inc.Grade.AtLeast(GradeIII) {
		inc.Grade, inc.GradeReason = GradeIII, "urgent call from the call floor"
	}
	if inc.Plan != nil && !inc.Plan.Dispatched && inc.Grade.AtLeast(t.wf.cfg.AutoDispatch) {
		inc.Plan = t.wf.proposePlan(inc)
		if err := t.wf.dispatchPlan(ctx, tx, &inc, System, nil, ""); err != nil {
			return err
		}
	}
	inc.Version, inc.UpdatedAt = prev+1, now
	if err := tx.PutIncident(ctx, inc, prev); err != nil {
		return err
	}
	t.wrote(inc)
	if err := tx.Append(ctx, EventInput{Type: EventIncidentUpdated, Actor: System.Name, Data: incidentEvent{Incident: inc, Reason: "urgent call " + c.ID}}); err != nil {
		return err
	}
	return t.wf.alert(ctx, tx, inc, "urgent_call", "紧急来电："+callSummary(c), true)
}

func callSummary(c Call) string {
	s := c.Category
	if c.Address != "" {
		s += " @ " + c.Address
	}
	return s
}

// attachRepeat attaches a call that no cluster took to the active incident
// whose place it is about (within its radius plus a margin, sharing a
// category group): a repeat call about a known event (并单). A repeat call
// about a big incident written less than bigRefresh ago waits for the next
// Advance, which attaches the calls waiting for each incident together.
func (t *Tracker) attachRepeat(ctx context.Context, tx Tx, c Call) error {
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
	if t.throttled(ids[0], 0, t.wf.now()) {
		t.repeats[ids[0]] = append(t.repeats[ids[0]], c)
		return nil
	}
	inc, found, err := t.firstActive(ctx, tx, ids)
	if err != nil || !found {
		return err
	}
	return t.attachRepeats(ctx, tx, inc, []Call{c})
}

// attachRepeats attaches repeat calls to inc, with one incident.updated.
func (t *Tracker) attachRepeats(ctx context.Context, tx Tx, inc Incident, calls []Call) error {
	ids := make([]string, len(calls))
	for i, c := range calls {
		ids[i] = c.ID
	}
	prev := inc.Version
	n, err := t.attach(ctx, tx, &inc, ids)
	if err != nil || n == 0 {
		return err
	}
	inc.Version, inc.UpdatedAt = prev+1, t.wf.now()
	if err := tx.PutIncident(ctx, inc, prev); err != nil {
		return err
	}
	t.wrote(inc)
	reason := "repeat call " + ids[0]
	if len(ids) > 1 {
		reason = fmt.Sprintf("%d repeat calls, the last %s", len(ids), ids[len(ids)-1])
	}
	return tx.Append(ctx, EventInput{Type: EventIncidentUpdated, Actor: System.Name, Data: incidentEvent{Incident: inc, Reason: reason}})
}

// flushRepeats attaches the repeat calls that waited for their incident,
// one update per incident; those a cluster took meanwhile stay with it,
// and those whose incident is no longer active look for another.
func (t *Tracker) flushRepeats(ctx context.Context, tx Tx) error {
	if len(t.repeats) == 0 {
		return nil
	}
	waiting := t.repeats
	t.repeats = map[string][]Call{}
	now := t.wf.now()
	for _, id := range slices.Sorted(maps.Keys(waiting)) {
		calls := slices.DeleteFunc(waiting[id], func(c Call) bool { return t.owner(c.ID) != "" })
		if len(calls) == 0 {
			continue
		}
		if t.hugeWaits(id, 0, now) {
			t.repeats[id] = calls // a huge incident's refresh is not due yet
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
