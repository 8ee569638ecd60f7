package incidents

import (
	"context"
	"fmt"
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
}

// NewTracker returns a tracker running rules, taking calls up to lateness
// behind the newest.
func NewTracker(wf *Workflow, rules []geo.Rule, lateness time.Duration) (*Tracker, error) {
	set, err := geo.NewSet(rules, geo.Options{Lateness: lateness})
	if err != nil {
		return nil, err
	}
	t := &Tracker{wf: wf, set: set, byRule: map[string]geo.Rule{}, late: lateness, cluster: map[string]string{}}
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
// join an incident, each call goes to the detector, the cluster changes it
// causes become incident changes, and a call near an active incident that
// no cluster took attaches to it. Calls the detector refuses (too late,
// already expired, a duplicate) are still attached or urgent-handled; the
// first such refusal is returned, wrapped, after the rest is done. After
// any other error the tracker's memory may be ahead of the store: rebuild
// it.
func (t *Tracker) ObserveAll(ctx context.Context, calls []Call) error {
	var refused error
	_, err := t.wf.cfg.Store.Update(ctx, func(ctx context.Context, tx Tx) error {
		for _, c := range calls {
			if c.Urgent {
				if err := t.urgent(ctx, tx, c); err != nil {
					return err
				}
			}
			addErr := t.set.Add(geo.Point{ID: c.ID, Time: c.ReceivedAt, Lat: c.Lat, Lon: c.Lon, Category: c.Category})
			if err := t.apply(ctx, tx); err != nil {
				return err
			}
			if !c.Urgent {
				if err := t.attachRepeat(ctx, tx, c); err != nil {
					return err
				}
			}
			if addErr != nil && refused == nil {
				refused = fmt.Errorf("detector refused call %s: %w", c.ID, addErr)
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
	_, err := t.wf.cfg.Store.Update(ctx, func(ctx context.Context, tx Tx) error {
		return t.apply(ctx, tx)
	})
	return err
}

// apply turns the detector's pending events into incident changes in tx.
func (t *Tracker) apply(ctx context.Context, tx Tx) error {
	t.geoEvs = t.set.TakeEvents(t.geoEvs[:0])
	if len(t.geoEvs) == 0 {
		return nil
	}
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
	}
	for _, e := range t.geoEvs {
		note(e.Rule, e.Cluster)
		for _, o := range e.Others {
			note(e.Rule, o)
		}
	}
	var gone []string
	for _, k := range order {
		e := alive[k]
		c, ok := t.set.Detector(e.Rule).Cluster(e.Cluster)
		if !ok {
			gone = append(gone, k)
			continue
		}
		if err := t.track(ctx, tx, k, c); err != nil {
			return err
		}
	}
	for _, k := range gone {
		if err := t.dissolve(ctx, tx, k); err != nil {
			return err
		}
	}
	return nil
}

// dissolve forgets a cluster; an incident left without live clusters is
// marked quiet.
func (t *Tracker) dissolve(ctx context.Context, tx Tx, key string) error {
	id, ok := t.cluster[key]
	delete(t.cluster, key)
	if !ok {
		return nil
	}
	inc, err := tx.Incident(ctx, id)
	if err != nil || !inc.State.Active() {
		return err
	}
	prev := inc.Version
	inc.Clusters = slices.DeleteFunc(inc.Clusters, func(s string) bool { return s == key })
	inc.Version, inc.UpdatedAt = prev+1, t.wf.now()
	if err := tx.PutIncident(ctx, inc, prev); err != nil {
		return err
	}
	evType := EventIncidentUpdated
	if len(inc.Clusters) == 0 {
		evType = EventIncidentQuiet
	}
	return tx.Append(ctx, EventInput{Type: evType, Actor: System.Name, Data: incidentEvent{Incident: inc}})
}

// track makes the incident of a live cluster match it: it finds the
// incident (by the cluster, else by the incidents its calls belong to,
// merging several into the oldest), or opens one.
func (t *Tracker) track(ctx context.Context, tx Tx, key string, c geo.Cluster) error {
	owners, err := tx.IncidentsOfCalls(ctx, c.Calls)
	if err != nil {
		return err
	}
	var cands []Incident
	seen := map[string]bool{}
	consider := func(id string) error {
		if id == "" || seen[id] {
			return nil
		}
		seen[id] = true
		inc, err := tx.Incident(ctx, id)
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
		if err := consider(owners[id]); err != nil {
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
		merged, err := t.wf.merge(ctx, tx, System, target.ID, others, "their clusters joined")
		if err != nil {
			return err
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
	for _, id := range ids {
		if !slices.Contains(inc.Calls, id) {
			fresh = append(fresh, id)
		}
	}
	if len(fresh) == 0 {
		return 0, nil
	}
	if inc.Categories == nil {
		inc.Categories = map[string]int{}
	}
	for _, id := range fresh {
		call, err := tx.Call(ctx, id)
		if err != nil {
			return 0, err
		}
		inc.Calls = append(inc.Calls, id)
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
	inc.Grade, inc.GradeReason = AutoGrade(len(inc.Calls), inc.Categories, inc.UrgentCalls, c.Recent, t.byRule[c.Rule].MinCalls)
	return t.create(ctx, tx, inc, "incident_opened", fmt.Sprintf("%d 起来电聚集", len(inc.Calls)))
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
	prev := inc.Version
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
		g, reason := AutoGrade(len(inc.Calls), inc.Categories, inc.UrgentCalls, c.Recent, t.byRule[c.Rule].MinCalls)
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
	if err := tx.PutIncident(ctx, inc, prev); err != nil {
		return err
	}
	if err := tx.Append(ctx, EventInput{Type: EventIncidentUpdated, Actor: System.Name, Data: incidentEvent{Incident: inc}}); err != nil {
		return err
	}
	if !raised {
		return nil
	}
	if err := tx.Append(ctx, EventInput{Type: EventIncidentGraded, Actor: System.Name, Data: incidentEvent{Incident: inc, Reason: inc.GradeReason}}); err != nil {
		return err
	}
	return t.wf.alert(ctx, tx, inc, "grade_raised", fmt.Sprintf("升级为 %s 级：%s", roman(inc.Grade), inc.GradeReason), inc.UrgentCalls > 0)
}

// nearest returns the active incident closest to a point within reach
// metres of its centroid (reach may depend on the incident), if any.
func nearest(incs []Incident, p orb.Point, reach func(Incident) float64, accept func(Incident) bool) (Incident, bool) {
	best, bestD := Incident{}, math.Inf(1)
	for _, inc := range incs {
		if !accept(inc) {
			continue
		}
		d := orbgeo.DistanceHaversine(p, orb.Point(inc.Centroid))
		if d <= reach(inc) && d < bestD {
			best, bestD = inc, d
		}
	}
	return best, !math.IsInf(bestD, 1)
}

// urgent handles a call flagged urgent by the call floor: it joins the
// nearest active incident within urgentJoinRadius (raising it to at least
// grade III), or opens an incident of its own at grade III; either way the
// leadership group is alerted at once.
func (t *Tracker) urgent(ctx context.Context, tx Tx, c Call) error {
	owners, err := tx.IncidentsOfCalls(ctx, []string{c.ID})
	if err != nil || owners[c.ID] != "" {
		return err // already handled (a replay after a restart)
	}
	active, err := tx.ActiveIncidents(ctx)
	if err != nil {
		return err
	}
	p := orb.Point{c.Lon, c.Lat}
	inc, found := nearest(active, p, func(Incident) float64 { return urgentJoinRadius }, func(Incident) bool { return true })
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
// category group): a repeat call about a known event (并单).
func (t *Tracker) attachRepeat(ctx context.Context, tx Tx, c Call) error {
	cat, ok := t.wf.cfg.Taxonomy.Category(c.Category)
	if !ok {
		return nil
	}
	owners, err := tx.IncidentsOfCalls(ctx, []string{c.ID})
	if err != nil || owners[c.ID] != "" {
		return err
	}
	active, err := tx.ActiveIncidents(ctx)
	if err != nil {
		return err
	}
	reach := func(inc Incident) float64 { return math.Max(inc.RadiusM, minRepeatRadius) + repeatCallBuffer }
	sameGroup := func(inc Incident) bool {
		for other := range inc.Categories {
			if oc, ok := t.wf.cfg.Taxonomy.Category(other); ok && oc.Group == cat.Group {
				return true
			}
		}
		return false
	}
	inc, found := nearest(active, orb.Point{c.Lon, c.Lat}, reach, sameGroup)
	if !found {
		return nil
	}
	prev := inc.Version
	if _, err := t.attach(ctx, tx, &inc, []string{c.ID}); err != nil {
		return err
	}
	inc.Version, inc.UpdatedAt = prev+1, t.wf.now()
	if err := tx.PutIncident(ctx, inc, prev); err != nil {
		return err
	}
	return tx.Append(ctx, EventInput{Type: EventIncidentUpdated, Actor: System.Name, Data: incidentEvent{Incident: inc, Reason: "repeat call " + c.ID}})
}
