package tracking

import (
	"math"
	"sync"
	"time"

	"flare/geo"
	"flare/incidents"
)

// SurgeOptions tune how the tracker judges its clusters against the
// baseline of normal call levels (docs/DETECT.md). Zero fields take the
// defaults.
type SurgeOptions struct {
	Calibration geo.CalibrationOptions
	// Grading grades surges; zero takes geo.DefaultGrading.
	Grading geo.Grading
	// Warmup is how much history the baseline must hold before clusters
	// are judged by it (default geo.DefaultWarmup); until then they grade
	// by their size (AutoGrade).
	Warmup time.Duration
	// Recalibrate is how often, in stream time, the calibration is drawn
	// again (default 24 hours).
	Recalibrate time.Duration
	// Live, when set, is where the tracker publishes its baseline and hot
	// spots for the API.
	Live *Live
}

// surge is the tracker's judgement of its clusters: the baseline, the
// scorer and the calibration, and each live cluster's latest verdict.
type surge struct {
	on       bool
	opts     SurgeOptions
	base     *geo.Baseline
	scorer   *geo.Scorer
	cal      *geo.Calibration
	calAt    time.Time
	sched    geo.ScoreSchedule
	verdicts map[string]verdict
	hot      map[string]Hotspot
	// maxWeight is the heaviest category weight of the grading.
	maxWeight float64
	hotDirty  bool
	live      *Live
}

// verdict is a cluster's grade by its surge: 0 for a hot spot.
type verdict struct {
	grade  incidents.Grade
	reason incidents.GradeReason
}

// Hotspot is a live cluster below the alert level: it opens no incident
// and raises no alert, and the leaders' map shows it.
type Hotspot struct {
	Rule           string         `json:"rule"`
	Centroid       [2]float64     `json:"centroid"` // [lon, lat]
	RadiusM        float64        `json:"radius_m"`
	Calls          int            `json:"calls"`
	Categories     map[string]int `json:"categories"`
	Observed       int            `json:"observed"`
	Expected       float64        `json:"expected"`
	Score          float64        `json:"score"`
	RecurrenceDays float64        `json:"recurrence_days"`
	WindowS        int            `json:"window_s"`
	At             time.Time      `json:"at"`
}

// UseBaseline makes the tracker judge its clusters by how unusual they are
// for the place, the hour and the kind of call, against b, which it then
// owns and keeps up to date with each call it takes. A cluster whose surge
// grades below the alert level is a hot spot: it opens no incident; a
// graded cluster opens an incident, or raises its grade, with a grade
// reason of kind surge. Urgent calls still open incidents alone and a
// leader's regrade still wins. Call it before the first call.
func (t *Tracker) UseBaseline(b *geo.Baseline, opts SurgeOptions) {
	if opts.Warmup <= 0 {
		opts.Warmup = geo.DefaultWarmup
	}
	if opts.Recalibrate <= 0 {
		opts.Recalibrate = 24 * time.Hour
	}
	if opts.Grading.Levels == ([4]float64{}) {
		opts.Grading = geo.DefaultGrading()
	}
	t.surge = surge{on: true, opts: opts, base: b, scorer: geo.NewScorer(b, opts.Calibration.Ladder),
		verdicts: map[string]verdict{}, hot: map[string]Hotspot{}, live: opts.Live, maxWeight: 1}
	for _, w := range opts.Grading.Weights {
		t.surge.maxWeight = math.Max(t.surge.maxWeight, w)
	}
	t.surge.live.publish(b, nil)
}

// Baseline returns the tracker's baseline, nil without one.
func (t *Tracker) Baseline() *geo.Baseline { return t.surge.base }

// Hotspots returns the live clusters below the alert level.
func (t *Tracker) Hotspots() []Hotspot { return t.surge.hotspots() }

// learn counts a call the detector took in the baseline.
func (t *Tracker) learn(p geo.Point) {
	if !t.surge.on {
		return
	}
	t.surge.live.lock()
	t.surge.base.Observe(p)
	t.surge.live.unlock()
}

// advanceBaseline moves the baseline's time to now.
func (t *Tracker) advanceBaseline(now time.Time) {
	if !t.surge.on {
		return
	}
	t.surge.live.lock()
	t.surge.base.Advance(now)
	t.surge.live.unlock()
}

// warm reports whether the baseline holds enough history to judge by.
func (s *surge) warm() bool { return s.on && s.base.Observed() >= s.opts.Warmup }

// judgeAll scores the clusters of the detector's events that are due (see
// geo.ScoreSchedule), calibrating first when the calibration is missing
// or a day old in stream time: between arrivals, so never while in use.
func (t *Tracker) judgeAll(evs []geo.Event) {
	s := &t.surge
	if !s.on {
		return
	}
	now := t.set.Now()
	warm := s.warm()
	if warm && len(evs) > 0 && (s.cal == nil || now.Sub(s.calAt) >= s.opts.Recalibrate) {
		s.live.lock()
		cal, err := geo.Calibrate(s.base, t.set.Rules(), now, s.opts.Calibration)
		s.live.unlock()
		if err == nil { // the rules were validated: it does not fail
			s.cal, s.calAt = cal, now
		}
	}
	warm = warm && s.cal != nil
	// The scores read the baseline while the API may read it too, and a
	// read may rebase its weights: they take the lock as well.
	s.live.lock()
	defer s.live.unlock()
	for _, e := range evs {
		k := clusterKey(e.Rule, e.Cluster)
		switch e.Kind {
		case geo.EventDissolved:
			s.forget(k)
		case geo.EventMerged:
			for _, o := range e.Others {
				s.forget(clusterKey(e.Rule, o))
			}
		case geo.EventSplit:
			for _, o := range e.Others {
				if v, ok := s.verdicts[k]; ok {
					s.verdicts[clusterKey(e.Rule, o)] = v
				}
			}
		}
		if !s.sched.Due(e) || !warm {
			continue
		}
		d := t.set.Detector(e.Rule)
		f, ok := d.Footprint(e.Cluster)
		if !ok {
			continue
		}
		sg := s.scorer.Score(d.Rule(), f, now)
		ri := s.cal.RecurrenceDays(e.Rule, sg.Score)
		g := incidents.Grade(0)
		if ri*s.maxWeight >= s.opts.Grading.Levels[0] { // else a hot spot whatever its categories
			c, _ := d.Cluster(e.Cluster)
			g = incidents.Grade(s.opts.Grading.Grade(ri, c.Categories))
		}
		s.verdicts[k] = verdict{grade: g, reason: incidents.GradeReason{Kind: incidents.GradeBySurge,
			Observed: sg.Observed, Expected: round3(sg.Expected), Score: round3(sg.Score),
			RecurrenceDays: round3(ri), WindowS: int(sg.Window / time.Second)}}
	}
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// forget drops a cluster that dissolved or was absorbed.
func (s *surge) forget(key string) {
	delete(s.verdicts, key)
	if _, ok := s.hot[key]; ok {
		delete(s.hot, key)
		s.hotDirty = true
	}
}

// verdict returns the cluster's latest verdict, if it was judged.
func (s *surge) verdict(key string) (verdict, bool) {
	if !s.on {
		return verdict{}, false
	}
	v, ok := s.verdicts[key]
	return v, ok
}

// hotspot keeps a cluster below the alert level on the map.
func (s *surge) hotspot(key string, c geo.Cluster, v verdict, now time.Time) {
	s.hot[key] = Hotspot{Rule: c.Rule, Centroid: [2]float64{round7(c.Centroid[0]), round7(c.Centroid[1])},
		RadiusM: math.Round(c.Radius*10) / 10, Calls: len(c.Calls), Categories: c.Categories,
		Observed: v.reason.Observed, Expected: v.reason.Expected, Score: v.reason.Score,
		RecurrenceDays: v.reason.RecurrenceDays, WindowS: v.reason.WindowS, At: now}
	s.hotDirty = true
}

// unhot notes that a cluster has an incident now.
func (s *surge) unhot(key string) {
	if _, ok := s.hot[key]; ok {
		delete(s.hot, key)
		s.hotDirty = true
	}
}

func (s *surge) hotspots() []Hotspot {
	out := make([]Hotspot, 0, len(s.hot))
	for _, h := range s.hot {
		out = append(out, h)
	}
	return out
}

// publishHot gives the API the hot spots when they changed.
func (t *Tracker) publishHot() {
	s := &t.surge
	if !s.on || !s.hotDirty {
		return
	}
	s.hotDirty = false
	s.live.publish(s.base, s.hotspots())
}

// surgeGrade returns the automatic grade of an incident that a judged
// cluster feeds: the cluster's surge grade, raised to grade III by an
// urgent call and to grade II by urgentForGradeII of them; 0 for a hot
// spot without urgent calls.
func surgeGrade(v verdict, urgentCalls int) (incidents.Grade, incidents.GradeReason) {
	g, r := v.grade, v.reason
	floor := incidents.Grade(0)
	switch {
	case urgentCalls >= urgentForGradeII:
		floor = incidents.GradeII
	case urgentCalls > 0:
		floor = incidents.GradeIII
	}
	if floor != 0 && (g == 0 || !g.AtLeast(floor)) {
		g = floor
		r.UrgentCalls = urgentCalls
	}
	return g, r
}

// Live is what the node's running tracker shares with the API: its
// baseline, read under a lock the tracker holds while it uses it, and its
// hot spots, copied at each change. Only the node that runs the
// detector has one; elsewhere Baseline reports false.
type Live struct {
	mu   sync.Mutex
	base *geo.Baseline
	hot  []Hotspot
}

func (l *Live) lock() {
	if l != nil {
		l.mu.Lock()
	}
}

func (l *Live) unlock() {
	if l != nil {
		l.mu.Unlock()
	}
}

func (l *Live) publish(b *geo.Baseline, hot []Hotspot) {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.base, l.hot = b, hot
	l.mu.Unlock()
}

// Withdraw forgets the published baseline: the node no longer runs the
// detector.
func (l *Live) Withdraw() { l.publish(nil, nil) }

// BaselineView is the baseline at one hour of the week, as the API serves
// it.
type BaselineView struct {
	Slot     int
	Cells    []geo.CellExpectation
	Hotspots []Hotspot
}

// Baseline returns the cells of the baseline with the calls of the
// categories (nil for every category) they are expected to have in the
// hour of the week of at, and the hot spots; false when this node runs no
// tracker with a baseline.
func (l *Live) Baseline(at time.Time, categories []string) (BaselineView, bool) {
	if l == nil {
		return BaselineView{}, false
	}
	l.mu.Lock() // Cells may rebase the baseline's weights
	defer l.mu.Unlock()
	if l.base == nil {
		return BaselineView{}, false
	}
	slot := l.base.HourOfWeek(at)
	return BaselineView{Slot: slot, Cells: l.base.Cells(slot, categories), Hotspots: append([]Hotspot(nil), l.hot...)}, true
}
