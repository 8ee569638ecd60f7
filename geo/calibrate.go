package geo

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// CalibrationOptions tune Calibrate. Zero fields take the defaults.
type CalibrationOptions struct {
	// Replications is how many null streams are drawn (default 40).
	Replications int
	// Span is the length of each null stream (default 24 hours).
	Span time.Duration
	// Seed makes the draws repeatable.
	Seed uint64
	// Ladder is the scorer's window ladder (DefaultLadder when nil).
	Ladder []time.Duration
	// Detector tunes the detectors run over the null streams.
	Detector Options
}

// Calibration turns surge scores into recurrence intervals: for each rule,
// the distribution of the highest score anywhere in the area over a span,
// under the null hypothesis that calls come as the baseline expects.
type Calibration struct {
	// At is the start of the span the null streams covered.
	At   time.Time
	Span time.Duration
	// Maxima are, per rule, the highest score of each replication (0 when
	// no cluster formed), in replication order.
	Maxima map[string][]float64
	// Calls is the mean number of calls in a null stream.
	Calls float64
	rules int
	fits  map[string]gumbel
}

// gumbel is a Gumbel law fitted to the positive maxima, with the share q of
// replications that had any cluster; with fewer than minFit positive
// maxima, an exponential tail of unit rate from the largest instead.
type gumbel struct {
	q, mu, beta float64
	sparse      bool
}

// minFit is the fewest positive maxima a Gumbel law is fitted to, and
// sparseBeta the scale of the tail taken with fewer.
const (
	minFit     = 5
	sparseBeta = 2
)

// fitGumbel fits a Gumbel law to the positive maxima by the method of
// moments.
func fitGumbel(m []float64) gumbel {
	var pos []float64
	top := 0.0
	for _, v := range m {
		if v > 0 {
			pos = append(pos, v)
			top = math.Max(top, v)
		}
	}
	n := float64(max(len(m), 1))
	if len(pos) < minFit {
		// Few null streams formed a cluster at all: the chance that one
		// does and scores x is taken as (k+1)/(n+1) e^-((x-top)/2): half
		// the Chernoff bound's rate for a Poisson count beyond the largest
		// seen, since where clusters are that rare the expectation itself
		// rests on few calls.
		return gumbel{q: (float64(len(pos)) + 1) / (n + 1), mu: top, beta: sparseBeta, sparse: true}
	}
	g := gumbel{q: float64(len(pos)) / n}
	var mean, sq float64
	for _, v := range pos {
		mean += v
	}
	mean /= float64(len(pos))
	for _, v := range pos {
		sq += (v - mean) * (v - mean)
	}
	sd := math.Sqrt(sq / float64(len(pos)-1))
	g.beta = math.Max(sd*math.Sqrt(6)/math.Pi, 0.05)
	g.mu = mean - 0.5772156649*g.beta
	return g
}

// tail returns the chance that a span's highest score reaches x.
func (g gumbel) tail(x float64) float64 {
	if g.sparse {
		return g.q * math.Min(1, math.Exp(-(x-g.mu)/g.beta))
	}
	return g.q * -math.Expm1(-math.Exp(-(x-g.mu)/g.beta))
}

// Calibrate draws opts.Replications null streams of opts.Span from at:
// Poisson counts per minute at the baseline's rate for each category group,
// placed by the baseline's shares of coarse cells and place cells, uniform
// within a place cell. It runs the rules' detectors over each, scores every
// cluster as it forms or grows, and keeps each rule's highest score per
// stream. A Gumbel law fitted to those maxima (Abrams, Kleinman and
// Kulldorff, 2010) gives recurrence intervals beyond the replications.
// Its cost is that of running the detectors and the scorer over
// Replications x Span of calls. It returns an error wrapping
// ErrInvalidRule when a rule is invalid.
func Calibrate(b *Baseline, rules []Rule, at time.Time, opts CalibrationOptions) (*Calibration, error) {
	if opts.Replications <= 0 {
		opts.Replications = 40
	}
	if opts.Span <= 0 {
		opts.Span = 24 * time.Hour
	}
	if err := ValidateRules(rules); err != nil {
		return nil, err
	}
	b.Refresh()
	c := &Calibration{At: at, Span: opts.Span, Maxima: make(map[string][]float64), rules: len(rules), fits: make(map[string]gumbel)}
	null := newNullModel(b)
	rng := rand.New(rand.NewPCG(opts.Seed, uint64(at.UnixNano())))
	scorer := NewScorer(b, opts.Ladder)
	var events []Event
	total := 0
	for rep := 0; rep < opts.Replications; rep++ {
		pts := null.draw(rng, at, opts.Span, rep)
		total += len(pts)
		set, err := NewSet(rules, opts.Detector)
		if err != nil {
			return nil, err
		}
		best := make(map[string]float64, len(rules))
		var sched ScoreSchedule
		for _, p := range pts {
			if err := set.Add(p); err != nil {
				continue
			}
			events = set.TakeEvents(events[:0])
			for _, e := range events {
				if !sched.Due(e) {
					continue
				}
				d := set.Detector(e.Rule)
				f, ok := d.Footprint(e.Cluster)
				if !ok {
					continue
				}
				s := scorer.Score(d.Rule(), f, p.Time)
				best[e.Rule] = math.Max(best[e.Rule], s.Score)
			}
		}
		for _, r := range rules {
			c.Maxima[r.Name] = append(c.Maxima[r.Name], best[r.Name])
		}
	}
	c.Calls = float64(total) / float64(opts.Replications)
	for name, m := range c.Maxima {
		c.fits[name] = fitGumbel(m)
	}
	return c, nil
}

// MaxRecurrenceDays caps recurrence intervals, which a fitted tail would
// otherwise carry to infinity.
const MaxRecurrenceDays = 1e6

// RecurrenceDays returns how often, in days, a score at least this high
// would appear by chance under the rule somewhere in the area, under any of
// the calibrated rules: the rule's Gumbel tail gives the chance p that a
// span's highest score reaches it, exceedances are taken to come as a
// Poisson process (rate -ln(1-p) per span), and the rate is multiplied by
// the number of rules. It returns 0 for a rule not calibrated.
func (c *Calibration) RecurrenceDays(rule string, score float64) float64 {
	g, ok := c.fits[rule]
	if !ok {
		return 0
	}
	rate := -math.Log1p(-math.Min(g.tail(score), 1-1e-12))
	if rate <= 0 {
		return MaxRecurrenceDays
	}
	days := c.Span.Hours() / 24 / (rate * float64(c.rules))
	return math.Min(days, MaxRecurrenceDays)
}

// nullModel draws calls as the baseline expects them.
type nullModel struct {
	b      *Baseline
	groups int
	coarse []placeKey
	// cum[g] is the cumulative share of group g over coarse; place[i][g]
	// the cumulative share over coarse[i]'s place cells, then its empty
	// cells as a whole.
	cum   [][]float64
	place [][][]float64
	names []string
}

func newNullModel(b *Baseline) *nullModel {
	m := &nullModel{b: b, groups: len(b.total), names: b.names}
	for k, c := range b.coarse {
		if c.share != nil {
			m.coarse = append(m.coarse, k)
		}
	}
	slices.SortFunc(m.coarse, func(p, q placeKey) int {
		if p.row != q.row {
			return cmp.Compare(p.row, q.row)
		}
		return cmp.Compare(p.col, q.col)
	})
	m.cum = make([][]float64, m.groups)
	m.place = make([][][]float64, len(m.coarse))
	K2 := float64(b.opts.Coarse * b.opts.Coarse)
	for g := 1; g < m.groups; g++ {
		acc := 0.0
		for _, k := range m.coarse {
			acc += b.coarse[k].share[g]
			m.cum[g] = append(m.cum[g], acc)
		}
	}
	for i, k := range m.coarse {
		pc := b.coarse[k]
		slices.SortFunc(pc.places, func(p, q placeKey) int {
			if p.row != q.row {
				return cmp.Compare(p.row, q.row)
			}
			return cmp.Compare(p.col, q.col)
		})
		m.place[i] = make([][]float64, m.groups)
		for g := 1; g < m.groups; g++ {
			acc := 0.0
			for _, f := range pc.places {
				if s := b.fine[f].share; s != nil {
					acc += s[g]
				}
				m.place[i][g] = append(m.place[i][g], acc)
			}
			acc += (K2 - float64(len(pc.places))) * pc.rest[g]
			m.place[i][g] = append(m.place[i][g], acc)
		}
	}
	return m
}

func pick(rng *rand.Rand, cum []float64) int {
	if len(cum) == 0 {
		return -1
	}
	x := rng.Float64() * cum[len(cum)-1]
	i, _ := slices.BinarySearch(cum, x)
	return min(i, len(cum)-1)
}

// draw returns one null stream of span from at, in time order.
func (m *nullModel) draw(rng *rand.Rand, at time.Time, span time.Duration, rep int) []Point {
	b := m.b
	var pts []Point
	for t := at; t.Before(at.Add(span)); t = t.Add(time.Minute) {
		h := b.HourOfWeek(t)
		for g := 1; g < m.groups; g++ {
			n := poissonDraw(rng, b.rateOf(h, g)/60)
			for ; n > 0; n-- {
				ci := pick(rng, m.cum[g])
				if ci < 0 {
					break
				}
				ck := m.coarse[ci]
				pc := b.coarse[ck]
				var cell placeKey
				if j := pick(rng, m.place[ci][g]); j < len(pc.places) {
					cell = pc.places[j]
				} else {
					k := int32(b.opts.Coarse)
					cell = placeKey{ck.row*k + rng.Int32N(k), ck.col*k + rng.Int32N(k)}
				}
				bd := b.bound(cell)
				pts = append(pts, Point{
					ID:       fmt.Sprintf("null-%d-%d", rep, len(pts)),
					Time:     t.Add(time.Duration(rng.Int64N(int64(time.Minute)))),
					Lat:      math.Min(90, bd.Min[1]+rng.Float64()*(bd.Max[1]-bd.Min[1])),
					Lon:      wrapLon(bd.Min[0] + rng.Float64()*(bd.Max[0]-bd.Min[0])),
					Category: m.names[g-1],
				})
			}
		}
	}
	slices.SortStableFunc(pts, func(p, q Point) int { return p.Time.Compare(q.Time) })
	return pts
}

func wrapLon(lon float64) float64 {
	for lon > 180 {
		lon -= 360
	}
	for lon < -180 {
		lon += 360
	}
	return lon
}

// poissonDraw draws from a Poisson law of mean lambda.
func poissonDraw(r *rand.Rand, lambda float64) int {
	if !(lambda > 0) {
		return 0
	}
	if lambda > 50 {
		return max(0, int(math.Round(lambda+math.Sqrt(lambda)*r.NormFloat64())))
	}
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// Grade is an alert grade: 1 is grade I (red, most severe) to 4, grade IV
// (blue); 0 is below the alert level, a hot spot that does not alert.
type Grade int

// String returns the grade as a Roman numeral, or "" below the alert level.
func (g Grade) String() string {
	switch g {
	case 1:
		return "I"
	case 2:
		return "II"
	case 3:
		return "III"
	case 4:
		return "IV"
	}
	return ""
}

// Grading turns a recurrence interval and a cluster's categories into a
// grade.
type Grading struct {
	// Levels are the weighted recurrence intervals in days at which grades
	// IV, III, II and I begin.
	Levels [4]float64
	// Weights multiply the recurrence interval by category; a cluster takes
	// the mean weight of its calls, and a category not listed weighs 1.
	Weights map[string]float64
}

// DefaultGrading returns the default grades: IV from once in 2 days, III
// from once in 30 days, II from once in 300 days and I from once in 3,000
// days, with gas leaks, fires and building safety weighing 3.
func DefaultGrading() Grading {
	return Grading{
		Levels:  [4]float64{2, 30, 300, 3000},
		Weights: map[string]float64{"gas_leak": 3, "fire": 3, "building_safety": 3},
	}
}

// Weight returns the mean weight of the calls counted by category.
func (g Grading) Weight(categories map[string]int) float64 {
	var sum, n float64
	for c, k := range categories {
		w, ok := g.Weights[c]
		if !ok {
			w = 1
		}
		sum += w * float64(k)
		n += float64(k)
	}
	if n == 0 {
		return 1
	}
	return sum / n
}

func (g Grading) maxWeight() float64 {
	w := 1.0
	for _, v := range g.Weights {
		w = math.Max(w, v)
	}
	return w
}

// Grade returns the grade of a cluster whose surge recurs once in
// recurrenceDays and whose calls are counted by category.
func (g Grading) Grade(recurrenceDays float64, categories map[string]int) Grade {
	ri := recurrenceDays * g.Weight(categories)
	for i := 3; i >= 0; i-- {
		if ri >= g.Levels[i] {
			return Grade(4 - i)
		}
	}
	return 0
}
