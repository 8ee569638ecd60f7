package geo

import (
	"math"
	"slices"
	"time"

	"github.com/paulmach/orb"
)

// DefaultLadder is the window ladder of the surge score: windows ending
// now, of which the score takes the most unusual.
var DefaultLadder = []time.Duration{15 * time.Minute, 30 * time.Minute, 60 * time.Minute, 90 * time.Minute, 120 * time.Minute}

// Footprint is what the surge score needs of a cluster: where it is, how
// far it reaches and when its calls came.
type Footprint struct {
	Centroid orb.Point // [lon, lat]
	Radius   float64   // metres from the centroid to the farthest call
	Times    []time.Time
}

// Footprint returns the cluster's footprint.
func (c Cluster) Footprint() Footprint {
	return Footprint{Centroid: c.Centroid, Radius: c.Radius, Times: c.Times}
}

// Surge is a cluster's surge score: in the window of the ladder where the
// cluster's calls are most unusual, how many came, how many the baseline
// expected in its area, and the expectation-based Poisson log-likelihood
// ratio of the two.
type Surge struct {
	Observed int
	Expected float64
	Score    float64
	Window   time.Duration
}

// PoissonScore is the expectation-based Poisson log-likelihood ratio of
// observed calls against an expectation (Neill, 2005): o ln(o/e) + e - o
// when o > e, else 0.
func PoissonScore(observed int, expected float64) float64 {
	o := float64(observed)
	e := math.Max(expected, 1e-9)
	if o <= e {
		return 0
	}
	return o*math.Log(o/e) + e - o
}

// Scorer scores clusters against a Baseline. It is not safe for
// concurrent use; it reuses its scratch space.
type Scorer struct {
	b      *Baseline
	ladder []time.Duration
	exp    expectation
}

// NewScorer returns a Scorer on the baseline with the window ladder
// (DefaultLadder when nil).
func NewScorer(b *Baseline, ladder []time.Duration) *Scorer {
	if ladder == nil {
		ladder = DefaultLadder
	}
	ladder = slices.Clone(ladder)
	slices.Sort(ladder)
	return &Scorer{b: b, ladder: ladder}
}

// Baseline returns the scorer's baseline.
func (s *Scorer) Baseline() *Baseline { return s.b }

// Area returns the radius in metres of the disc a cluster's expectation is
// taken over: the cluster's radius and half the rule's eps, so that a
// cluster of calls at one point still covers the neighbourhood that made
// them one.
func Area(r Rule, f Footprint) float64 { return f.Radius + r.Eps/2 }

// Windows returns the windows of the ladder a rule's clusters are scored
// over: those no longer than the rule's window, and the rule's window when
// it is shorter than the ladder's longest.
func (s *Scorer) Windows(r Rule) []time.Duration {
	var out []time.Duration
	for _, w := range s.ladder {
		if w <= r.Window {
			out = append(out, w)
		}
	}
	if len(out) == 0 || (out[len(out)-1] != r.Window && r.Window < s.ladder[len(s.ladder)-1]) {
		out = append(out, r.Window)
	}
	return out
}

// Score returns the surge score of a cluster of the rule with the
// footprint at now: over each window of the ladder ending at now, the calls
// of the cluster received in it against what the baseline expects in the
// cluster's area then, maximised over the windows (the prospective
// space-time scan of Kulldorff, 2001, in the expectation-based form of
// Neill et al., 2005).
func (s *Scorer) Score(r Rule, f Footprint, now time.Time) Surge {
	s.exp.init(s.b, r, f.Centroid, Area(r, f))
	var best Surge
	first := true
	for _, w := range s.Windows(r) {
		from := now.Add(-w)
		o := 0
		for _, t := range f.Times {
			if t.After(from) && !t.After(now) {
				o++
			}
		}
		e := s.exp.over(from, now)
		sc := PoissonScore(o, e)
		if first || sc > best.Score {
			best = Surge{Observed: o, Expected: e, Score: sc, Window: w}
			first = false
		}
	}
	return best
}

// ScoreSchedule says when a cluster's surge score is worth computing again,
// so that the cost per arrival stays small however large clusters grow: at
// once when a cluster forms or merges, at every growth while it holds at
// most Small calls, and after that when it has grown by a share Growth since
// it was last scored or Every has passed. It is not safe for concurrent use.
type ScoreSchedule struct {
	// Small, Growth and Every default to 64 calls, 1/8 and 10 minutes.
	Small  int
	Growth float64
	Every  time.Duration
	last   map[scheduleKey]scored
}

type scheduleKey struct {
	rule string
	id   ClusterID
}

type scored struct {
	calls int
	at    time.Time
}

// Due reports whether the cluster of the event should be scored now, and
// when it should, counts it as scored. It forgets a cluster that dissolves
// or is absorbed.
func (s *ScoreSchedule) Due(e Event) bool {
	if s.last == nil {
		s.last = make(map[scheduleKey]scored)
		if s.Small <= 0 {
			s.Small = 64
		}
		if !(s.Growth > 0) {
			s.Growth = 1.0 / 8
		}
		if s.Every <= 0 {
			s.Every = 10 * time.Minute
		}
	}
	k := scheduleKey{e.Rule, e.Cluster}
	switch e.Kind {
	case EventDissolved:
		delete(s.last, k)
		return false
	case EventMerged:
		for _, o := range e.Others {
			delete(s.last, scheduleKey{e.Rule, o})
		}
	case EventFormed:
	case EventGrew:
		l, ok := s.last[k]
		if ok && e.Calls > s.Small && float64(e.Calls) < float64(l.calls)*(1+s.Growth) && e.At.Sub(l.at) < s.Every {
			return false
		}
	default:
		return false
	}
	s.last[k] = scored{e.Calls, e.At}
	return true
}
