package geo

import (
	"time"

	"github.com/paulmach/orb"
)

// WatchOptions tune a Watch. Zero fields take the defaults.
type WatchOptions struct {
	Baseline    BaselineOptions
	Calibration CalibrationOptions
	// Grading grades surges; zero takes DefaultGrading.
	Grading Grading
	// Warmup is how much of the stream the baseline must have seen before
	// anything is graded (default 7 days).
	Warmup time.Duration
	// Recalibrate is how often, in stream time, the calibration is drawn
	// again from the baseline as it is then (default 24 hours).
	Recalibrate time.Duration
	// Detector tunes the rules' detectors.
	Detector Options
}

// DefaultWarmup is WatchOptions.Warmup when zero.
const DefaultWarmup = 7 * 24 * time.Hour

// Alert is a cluster whose surge reached an alert grade, or a higher grade
// than it had.
type Alert struct {
	At             time.Time
	Rule           string
	Cluster        ClusterID
	Grade          Grade
	Calls          []string
	Categories     map[string]int
	Centroid       orb.Point
	Surge          Surge
	RecurrenceDays float64
}

// Watch runs rules' detectors over a call stream and grades their clusters
// by how unusual they are for the place, the hour and the kind of call,
// with a baseline learnt from the same stream as it goes. It raises an
// alert when a cluster first reaches an alert grade and again when its
// grade rises. It is what flare detect --alerts and the evaluation harness
// run, and shows in one place how the pieces fit. It is not safe for
// concurrent use.
type Watch struct {
	opts   WatchOptions
	rules  []Rule
	set    *Set
	base   *Baseline
	scorer *Scorer
	cal    *Calibration
	calAt  time.Time
	grades map[watchKey]Grade
	sched  ScoreSchedule
	events []Event
}

type watchKey struct {
	rule string
	id   ClusterID
}

// NewWatch returns a Watch of the rules, or an error wrapping
// ErrInvalidRule.
func NewWatch(rules []Rule, opts WatchOptions) (*Watch, error) {
	if opts.Warmup <= 0 {
		opts.Warmup = DefaultWarmup
	}
	if opts.Recalibrate <= 0 {
		opts.Recalibrate = 24 * time.Hour
	}
	if opts.Grading.Levels == ([4]float64{}) {
		opts.Grading = DefaultGrading()
	}
	opts.Calibration.Detector = opts.Detector
	set, err := NewSet(rules, opts.Detector)
	if err != nil {
		return nil, err
	}
	b := NewBaseline(opts.Baseline)
	return &Watch{opts: opts, rules: rules, set: set, base: b, scorer: NewScorer(b, opts.Calibration.Ladder), grades: make(map[watchKey]Grade)}, nil
}

// Baseline returns the watch's baseline.
func (w *Watch) Baseline() *Baseline { return w.base }

// Calibration returns the calibration in use, nil before the warmup ends.
func (w *Watch) Calibration() *Calibration { return w.cal }

// Learn counts a past call in the baseline only, as history read before
// the stream.
func (w *Watch) Learn(p Point) { w.base.Observe(p) }

// Add gives a call to the detectors and the baseline and returns the
// alerts it raises. It returns the detector's error for a call it rejects,
// which the baseline then does not count either.
func (w *Watch) Add(p Point) ([]Alert, error) {
	if err := w.set.Add(p); err != nil {
		w.set.TakeEvents(w.events[:0])
		return nil, err
	}
	w.base.Observe(p)
	w.events = w.set.TakeEvents(w.events[:0])
	if len(w.events) == 0 {
		return nil, nil
	}
	now := w.set.Now()
	warm := w.base.Observed() >= w.opts.Warmup
	if warm && (w.cal == nil || now.Sub(w.calAt) >= w.opts.Recalibrate) {
		cal, err := Calibrate(w.base, w.rules, now, w.opts.Calibration)
		if err != nil {
			return nil, err
		}
		w.cal, w.calAt = cal, now
	}
	var out []Alert
	for _, e := range w.events {
		k := watchKey{e.Rule, e.Cluster}
		switch e.Kind {
		case EventDissolved:
			delete(w.grades, k)
			continue
		case EventSplit:
			for _, o := range e.Others {
				w.grades[watchKey{e.Rule, o}] = w.grades[k]
			}
			continue
		case EventMerged:
			for _, o := range e.Others {
				ok := watchKey{e.Rule, o}
				if g := w.grades[ok]; g != 0 && (w.grades[k] == 0 || g < w.grades[k]) {
					w.grades[k] = g
				}
				delete(w.grades, ok)
			}
		case EventFormed, EventGrew:
		default:
			continue
		}
		if !w.sched.Due(e) || !warm {
			continue
		}
		d := w.set.Detector(e.Rule)
		f, ok := d.Footprint(e.Cluster)
		if !ok {
			continue
		}
		s := w.scorer.Score(d.Rule(), f, now)
		ri := w.cal.RecurrenceDays(e.Rule, s.Score)
		if ri*w.opts.Grading.maxWeight() < w.opts.Grading.Levels[0] {
			continue // a hot spot, whatever its categories
		}
		c, _ := d.Cluster(e.Cluster)
		g := w.opts.Grading.Grade(ri, c.Categories)
		if g == 0 {
			continue
		}
		if old := w.grades[k]; old != 0 && old <= g {
			continue
		}
		w.grades[k] = g
		out = append(out, Alert{At: now, Rule: e.Rule, Cluster: e.Cluster, Grade: g, Calls: c.Calls, Categories: c.Categories, Centroid: c.Centroid, Surge: s, RecurrenceDays: ri})
	}
	return out, nil
}
