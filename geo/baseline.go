package geo

import (
	"math"
	"slices"
	"time"

	"github.com/paulmach/orb"
)

// HoursPerWeek is the number of hour-of-week slots of a Baseline: Monday
// 00:00 to 00:59 is slot 0, Sunday 23:00 to 23:59 is slot 167.
const HoursPerWeek = 168

// MaxBaselineGroups is how many distinct categories a Baseline tells
// apart; the categories seen after that many share one last group.
const MaxBaselineGroups = 64

// BaselineOptions tune a Baseline. Zero fields take the defaults below.
type BaselineOptions struct {
	// CellSize is the side of a place cell in metres (default 300).
	CellSize float64
	// Coarse is how many place cells make one side of a coarse cell, the
	// level sparse cells are shrunk towards (default 8).
	Coarse int
	// HalfLife is how long it takes a call's weight to halve (default 28
	// days).
	HalfLife time.Duration
	// Lag is how long a call waits before it enters the baseline (default 2
	// hours), so that a surge under way does not raise its own
	// expectation.
	Lag time.Duration
	// Refresh is how often, in stream time, the expectations are
	// recomputed from the counts (default 1 hour).
	Refresh time.Duration
	// Zone gives the hour of the week; nil takes the zone of the first call
	// observed.
	Zone *time.Location
	// CellPrior, CoarsePrior and GroupPrior are the prior strengths in
	// calls (defaults 16, 1 and 2); see docs/DETECT.md.
	CellPrior, CoarsePrior, GroupPrior float64
	// HourPrior is the prior strength of an hour-of-week rate in hours of
	// exposure (default 2), and ShareMix that of a group's share of an
	// hour's calls in calls (default 20).
	HourPrior, ShareMix float64
}

func (o BaselineOptions) withDefaults() BaselineOptions {
	def := func(v *float64, d float64) {
		if !(*v > 0) {
			*v = d
		}
	}
	def(&o.CellSize, 300)
	def(&o.CellPrior, 16)
	def(&o.CoarsePrior, 1)
	def(&o.GroupPrior, 2)
	def(&o.HourPrior, 2)
	def(&o.ShareMix, 20)
	if o.Coarse <= 0 {
		o.Coarse = 8
	}
	if o.HalfLife <= 0 {
		o.HalfLife = 28 * 24 * time.Hour
	}
	if o.Lag <= 0 {
		o.Lag = 2 * time.Hour
	}
	if o.Refresh <= 0 {
		o.Refresh = time.Hour
	}
	return o
}

// placeKey names a cell of the baseline's grid: a latitude row and, within
// the row's band of coarse rows, a longitude column.
type placeKey struct{ row, col int32 }

// counts are the exponentially weighted call counts of one cell: n[0] for
// every category, n[1+g] for group g.
type counts struct {
	n []float64
	// share is the derived expectation of each group (index as n): for a
	// coarse cell the share of the whole area's calls, for a place cell the
	// share of its coarse cell's.
	share []float64
	// places lists a coarse cell's place cells with calls.
	places []placeKey
	// rest is a coarse cell's share, per group, of each place cell without
	// calls.
	rest []float64
}

// pending is a call waiting out the lag.
type pending struct {
	t     int64
	fine  placeKey
	group int
}

// Baseline is the expected number of calls per place cell, hour of the week
// and category group, learned from past calls and updated as they arrive.
// Place cells form a grid of CellSize metres derived from the coordinates
// alone, so it works anywhere on Earth. Counts are weighted by
// exp(-age/tau) (tau = HalfLife / ln 2), and sparse cells are shrunk
// towards their coarse cell, and coarse cells towards the whole area
// (docs/DETECT.md gives the formula). It is not safe for concurrent use.
type Baseline struct {
	opts   BaselineOptions
	dlat   float64 // degrees of latitude per cell
	tau    float64 // nanoseconds
	ref    int64   // weights are exp((t-ref)/tau)
	now    int64
	queued []pending
	qhead  int
	zone   *time.Location

	groups map[string]int
	names  []string

	// exposure[h] is the weighted number of hours observed in slot h;
	// byHour[h][g] the weighted calls (g as in counts.n).
	exposure [HoursPerWeek]float64
	byHour   [HoursPerWeek][]float64
	total    []float64 // weighted calls over every slot, per group

	fine   map[placeKey]*counts
	coarse map[placeKey]*counts

	// Derived at each refresh: rate[h][g] calls per hour in the whole area,
	// unseen the share of a coarse cell without calls.
	rate        [HoursPerWeek][]float64
	unseen      float64
	refreshed   int64
	dirty       bool
	started     bool
	slotEnd     int64 // end of the current hour slot
	slot        int
	firstSeenAt int64
}

// NewBaseline returns an empty Baseline.
func NewBaseline(opts BaselineOptions) *Baseline {
	opts = opts.withDefaults()
	b := &Baseline{
		opts:   opts,
		dlat:   opts.CellSize / orb.EarthRadius / deg,
		tau:    float64(opts.HalfLife) / math.Ln2,
		zone:   opts.Zone,
		groups: make(map[string]int),
		fine:   make(map[placeKey]*counts),
		coarse: make(map[placeKey]*counts),
		total:  make([]float64, 1),
	}
	for h := range b.byHour {
		b.byHour[h] = make([]float64, 1)
	}
	return b
}

// BuildBaseline returns a Baseline that has observed the points, in time
// order, and been advanced to now: how a detector that starts or takes over
// rebuilds it from the store's past calls.
func BuildBaseline(opts BaselineOptions, points []Point, now time.Time) *Baseline {
	b := NewBaseline(opts)
	sorted := slices.Clone(points)
	slices.SortStableFunc(sorted, func(p, q Point) int { return p.Time.Compare(q.Time) })
	for _, p := range sorted {
		b.Observe(p)
	}
	b.Advance(now)
	b.Refresh()
	return b
}

// Options returns the options in use, defaults filled in.
func (b *Baseline) Options() BaselineOptions { return b.opts }

// Zone returns the zone of the hour of the week, nil before the first call.
func (b *Baseline) Zone() *time.Location { return b.zone }

// Observed returns how long the baseline has watched the stream: from its
// first call to its time.
func (b *Baseline) Observed() time.Duration {
	if !b.started {
		return 0
	}
	return time.Duration(b.now - b.firstSeenAt)
}

// HourOfWeek returns the slot of t in the baseline's zone (UTC before the
// first call when no zone was given).
func (b *Baseline) HourOfWeek(t time.Time) int {
	z := b.zone
	if z == nil {
		z = time.UTC
	}
	l := t.In(z)
	return (int(l.Weekday())+6)%7*24 + l.Hour()
}

// group returns the index in counts.n of the category, adding it.
func (b *Baseline) group(cat string) int {
	if g, ok := b.groups[cat]; ok {
		return g
	}
	if len(b.names) >= MaxBaselineGroups {
		return len(b.names) // the last group
	}
	b.names = append(b.names, cat)
	g := len(b.names)
	b.groups[cat] = g
	b.total = append(b.total, 0)
	for h := range b.byHour {
		b.byHour[h] = append(b.byHour[h], 0)
	}
	for _, m := range []map[placeKey]*counts{b.fine, b.coarse} {
		for _, c := range m {
			c.n = append(c.n, 0)
		}
	}
	return g
}

// lookup returns the group index of the category without adding it, and
// false when it was never seen.
func (b *Baseline) lookup(cat string) (int, bool) {
	g, ok := b.groups[cat]
	if !ok && len(b.names) >= MaxBaselineGroups {
		return len(b.names), true
	}
	return g, ok
}

// cosBand is the cosine of the latitude of the centre of a coarse row,
// which sets the longitude step of every cell in it, so that place cells
// nest in coarse cells.
func (b *Baseline) cosBand(row int32) float64 {
	k := int32(b.opts.Coarse)
	crow := floorDiv(row, k)
	lat := (float64(crow) + 0.5) * float64(k) * b.dlat
	return math.Max(math.Cos(math.Min(math.Abs(lat), 90)*deg), 0.01)
}

func floorDiv(a, k int32) int32 {
	q := a / k
	if a%k != 0 && a < 0 {
		q--
	}
	return q
}

// cellOf returns the place cell holding (lat, lon).
func (b *Baseline) cellOf(lat, lon float64) placeKey {
	row := int32(math.Floor(lat / b.dlat))
	return placeKey{row, int32(math.Floor(lon * b.cosBand(row) / b.dlat))}
}

func (b *Baseline) coarseOf(c placeKey) placeKey {
	k := int32(b.opts.Coarse)
	return placeKey{floorDiv(c.row, k), floorDiv(c.col, k)}
}

// Bound returns the place cell's bounds.
func (b *Baseline) bound(c placeKey) orb.Bound {
	lat0 := float64(c.row) * b.dlat
	step := b.dlat / b.cosBand(c.row)
	lon0 := float64(c.col) * step
	return orb.Bound{Min: orb.Point{lon0, lat0}, Max: orb.Point{lon0 + step, lat0 + b.dlat}}
}

// area returns the place cell's area in square metres.
func (b *Baseline) area(c placeKey) float64 {
	bd := b.bound(c)
	r := orb.EarthRadius
	return r * r * (bd.Max[0] - bd.Min[0]) * deg * math.Abs(math.Sin(bd.Max[1]*deg)-math.Sin(bd.Min[1]*deg))
}

// Observe counts a call. Calls should come in time order; one older than
// the baseline's time is counted at that time. The call enters the
// expectations after the lag, at a refresh.
func (b *Baseline) Observe(p Point) {
	if !(p.Lat >= -90 && p.Lat <= 90 && p.Lon >= -180 && p.Lon <= 180) || p.Time.IsZero() {
		return
	}
	t := p.Time.UnixNano()
	if !b.started {
		if b.zone == nil {
			b.zone = p.Time.Location()
		}
		b.started = true
		b.ref, b.now, b.firstSeenAt, b.refreshed = t, t, t, t
		b.slotEnd = math.MinInt64
	}
	b.Advance(p.Time)
	b.queued = append(b.queued, pending{t: max(t, b.now), fine: b.cellOf(p.Lat, p.Lon), group: b.group(p.Category)})
}

// Advance moves the baseline's time forward to t: it counts the hours
// watched, admits the calls whose lag has passed and refreshes the
// expectations when Refresh has passed since the last time.
func (b *Baseline) Advance(t time.Time) {
	if !b.started {
		return
	}
	n := t.UnixNano()
	if n <= b.now {
		return
	}
	b.expose(b.now, n)
	b.now = n
	lag := int64(b.opts.Lag)
	for b.qhead < len(b.queued) && b.queued[b.qhead].t <= n-lag {
		b.admit(b.queued[b.qhead])
		b.qhead++
	}
	if b.qhead > 1024 && b.qhead*2 > len(b.queued) {
		b.queued = append(b.queued[:0], b.queued[b.qhead:]...)
		b.qhead = 0
	}
	if n-b.refreshed >= int64(b.opts.Refresh) {
		b.Refresh()
	}
}

// weight returns the stored weight of a call at t.
func (b *Baseline) weight(t int64) float64 {
	x := float64(t-b.ref) / b.tau
	if x > 30 {
		b.rebase(t)
		x = 0
	}
	return math.Exp(x)
}

// rebase moves the weights' reference time to t, so that they stay finite.
func (b *Baseline) rebase(t int64) {
	f := math.Exp(-float64(t-b.ref) / b.tau)
	scale := func(v []float64) {
		for i := range v {
			v[i] *= f
		}
	}
	for h := range b.byHour {
		b.exposure[h] *= f
		scale(b.byHour[h])
	}
	scale(b.total)
	for _, m := range []map[placeKey]*counts{b.fine, b.coarse} {
		for _, c := range m {
			scale(c.n)
		}
	}
	b.ref = t
}

// expose adds the weighted hours between from and to to their slots.
func (b *Baseline) expose(from, to int64) {
	for from < to {
		if from >= b.slotEnd {
			l := time.Unix(0, from).In(b.zone)
			start := time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), 0, 0, 0, b.zone)
			b.slotEnd = start.Add(time.Hour).UnixNano()
			b.slot = b.HourOfWeek(l)
		}
		end := min(to, b.slotEnd)
		w0, w1 := b.weight(from), b.weight(end)
		b.exposure[b.slot] += (w1 - w0) * b.tau / float64(time.Hour)
		from = end
	}
}

func (b *Baseline) admit(q pending) {
	w := b.weight(q.t)
	h := b.HourOfWeek(time.Unix(0, q.t))
	b.byHour[h][0] += w
	b.byHour[h][q.group] += w
	b.total[0] += w
	b.total[q.group] += w
	for _, cell := range [2]struct {
		m map[placeKey]*counts
		k placeKey
	}{{b.fine, q.fine}, {b.coarse, b.coarseOf(q.fine)}} {
		c := cell.m[cell.k]
		if c == nil {
			c = &counts{n: make([]float64, len(b.total))}
			cell.m[cell.k] = c
			if cell.k == q.fine {
				pc := b.coarse[b.coarseOf(q.fine)]
				if pc == nil {
					pc = &counts{n: make([]float64, len(b.total))}
					b.coarse[b.coarseOf(q.fine)] = pc
				}
				pc.places = append(pc.places, q.fine)
			}
		}
		c.n[0] += w
		c.n[q.group] += w
	}
	b.dirty = true
}

// Refresh recomputes the expectations from the counts now, instead of at
// the next Refresh period.
func (b *Baseline) Refresh() {
	b.refreshed = b.now
	ng := len(b.total)
	if !b.started {
		return
	}
	s := b.weight(b.now) // stored units per call of weight 1 now
	o := b.opts
	// Rates: the whole area's calls per hour in each slot, shrunk towards
	// the same hour of the day over the week, and each group's share of a
	// slot's calls shrunk towards its share overall.
	var hod [24][2]float64
	var allT, allE float64
	for h := range HoursPerWeek {
		hod[h%24][0] += b.byHour[h][0]
		hod[h%24][1] += b.exposure[h]
		allT += b.byHour[h][0]
		allE += b.exposure[h]
	}
	overall := 0.0
	if allE > 0 {
		overall = allT / allE
	}
	for h := range HoursPerWeek {
		prior := overall
		if hod[h%24][1] > 0 {
			prior = hod[h%24][0] / hod[h%24][1]
		}
		k := o.HourPrior * s
		all := (b.byHour[h][0] + k*prior) / (b.exposure[h] + k)
		if b.exposure[h]+k == 0 {
			all = 0
		}
		if len(b.rate[h]) != ng {
			b.rate[h] = make([]float64, ng)
		}
		b.rate[h][0] = all
		m := o.ShareMix * s
		for g := 1; g < ng; g++ {
			pg := (b.total[g] + s) / (b.total[0] + s)
			b.rate[h][g] = all * (b.byHour[h][g] + m*pg) / (b.byHour[h][0] + m)
		}
	}
	// Coarse cells: Dirichlet towards a uniform share of the area for every
	// call; then each group by a gamma-Poisson shrink towards the calls of
	// every category, normalised.
	M := float64(len(b.coarse) + 1)
	bp := o.CoarsePrior * s
	N := b.total[0]
	b.unseen = bp / M / (N + bp)
	kap := o.GroupPrior * s
	var seenAll float64
	sum := make([]float64, ng)
	for _, c := range b.coarse {
		if len(c.share) != ng {
			c.share = make([]float64, ng)
			c.rest = make([]float64, ng)
		}
		sa := (c.n[0] + bp/M) / (N + bp)
		c.share[0] = sa
		seenAll += sa
		for g := 1; g < ng; g++ {
			c.share[g] = sa * (c.n[g] + kap) / (b.total[g]*sa + kap)
			sum[g] += c.share[g]
		}
	}
	for _, c := range b.coarse {
		for g := 1; g < ng; g++ {
			if sum[g] > 0 {
				c.share[g] *= seenAll / sum[g]
			}
		}
	}
	// Place cells within a coarse cell: Dirichlet towards a uniform share
	// of its place cells for every call; each group as above.
	K2 := float64(o.Coarse * o.Coarse)
	ap := o.CellPrior * s
	for _, pc := range b.coarse {
		empty := K2 - float64(len(pc.places))
		restAll := (ap / K2) / (pc.n[0] + ap)
		pc.rest[0] = restAll
		for g := range sum {
			sum[g] = 0
		}
		for _, k := range pc.places {
			c := b.fine[k]
			if len(c.share) != ng {
				c.share = make([]float64, ng)
			}
			fa := (c.n[0] + ap/K2) / (pc.n[0] + ap)
			c.share[0] = fa
			for g := 1; g < ng; g++ {
				c.share[g] = fa * (c.n[g] + kap) / (pc.n[g]*fa + kap)
				sum[g] += c.share[g]
			}
		}
		for g := 1; g < ng; g++ {
			r := restAll * kap / (pc.n[g]*restAll + kap)
			z := sum[g] + empty*r
			pc.rest[g] = r / z
			for _, k := range pc.places {
				b.fine[k].share[g] /= z
			}
		}
	}
	b.dirty = false
}

// density returns the expected calls per hour per square metre of the
// group (0 for every category) at the place cell, apart from the hourly
// rate: the cell's share of the area's calls divided by its area.
func (b *Baseline) density(k placeKey, g int) float64 {
	pc := b.coarse[b.coarseOf(k)]
	if pc == nil || pc.share == nil {
		return b.unseen / (float64(b.opts.Coarse*b.opts.Coarse) * b.area(k))
	}
	if g >= len(pc.share) { // a group seen after the last refresh
		g = 0
	}
	f := pc.rest[g]
	if c := b.fine[k]; c != nil && c.share != nil {
		f = c.share[g]
	}
	return pc.share[g] * f / b.area(k)
}

// Groups returns the group indexes of the categories, 0 alone for all.
func (b *Baseline) groupsOf(r Rule) []int {
	if r.allCategories() {
		return []int{0}
	}
	out := make([]int, 0, len(r.Categories))
	for _, c := range r.Categories {
		if g, ok := b.lookup(c); ok {
			out = append(out, g)
		} else {
			out = append(out, -1) // never seen: one call in all calls so far
		}
	}
	return out
}

// rateOf returns the whole area's expected calls per hour in slot h of
// group g (-1 for a category never seen).
func (b *Baseline) rateOf(h, g int) float64 {
	r := b.rate[h]
	if len(r) == 0 {
		return 0
	}
	if g < 0 {
		s := b.weight(b.now)
		return r[0] * s / (b.total[0] + s)
	}
	if g >= len(r) { // seen after the last refresh
		s := b.weight(b.now)
		return r[0] * s / (b.total[0] + s)
	}
	return r[g]
}

// hours returns, per slot, the hours of [from, to) in it, as a list of
// (slot, hours).
func (b *Baseline) hours(from, to time.Time, dst []slotHours) []slotHours {
	z := b.zone
	if z == nil {
		z = time.UTC
	}
	for from.Before(to) {
		l := from.In(z)
		next := time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), 0, 0, 0, z).Add(time.Hour)
		if next.After(to) {
			next = to
		}
		dst = append(dst, slotHours{b.HourOfWeek(l), next.Sub(from).Hours()})
		from = next
	}
	return dst
}

type slotHours struct {
	slot  int
	hours float64
}

// Expected returns how many calls of the rule's categories the baseline
// expects in the disc of radius metres around centre, received in
// [from, to).
func (b *Baseline) Expected(r Rule, centre orb.Point, radius float64, from, to time.Time) float64 {
	var e expectation
	e.init(b, r, centre, radius)
	return e.over(from, to)
}

// expectation is the expected count of a rule's calls in one disc, kept per
// group so that the window ladder reuses the space part.
type expectation struct {
	b      *Baseline
	groups []int
	space  []float64 // per group: the disc's share of the area's calls
	slots  []slotHours
}

// discPoints is the number of points of the sunflower pattern over which
// a disc's expectation is integrated.
const discPoints = 32

func (e *expectation) init(b *Baseline, r Rule, centre orb.Point, radius float64) {
	e.b = b
	e.groups = b.groupsOf(r)
	e.space = e.space[:0]
	for range e.groups {
		e.space = append(e.space, 0)
	}
	area := math.Pi * radius * radius
	cos := math.Max(math.Cos(centre[1]*deg), 1e-6)
	mPerDeg := orb.EarthRadius * deg
	var last placeKey
	var dens []float64
	for i := range discPoints {
		rr := radius * math.Sqrt((float64(i)+0.5)/discPoints)
		th := float64(i) * 2.399963229728653 // the golden angle
		lat := centre[1] + rr*math.Sin(th)/mPerDeg
		lon := centre[0] + rr*math.Cos(th)/(mPerDeg*cos)
		k := b.cellOf(math.Max(-90, math.Min(90, lat)), lon)
		if i == 0 || k != last {
			dens = dens[:0]
			for _, g := range e.groups {
				gg := g
				if gg < 0 || gg >= len(b.total) {
					gg = 0 // a category never seen is spread as every call
				}
				dens = append(dens, b.density(k, gg))
			}
			last = k
		}
		for j := range e.groups {
			e.space[j] += dens[j] * area / discPoints
		}
	}
}

func (e *expectation) over(from, to time.Time) float64 {
	e.slots = e.b.hours(from, to, e.slots[:0])
	total := 0.0
	for j, g := range e.groups {
		t := 0.0
		for _, s := range e.slots {
			t += e.b.rateOf(s.slot, g) * s.hours
		}
		total += t * e.space[j]
	}
	return total
}

// CellExpectation is one place cell's expected calls in one hour of the
// week.
type CellExpectation struct {
	// Bound is the cell's extent, [lon, lat] corners.
	Bound orb.Bound
	// Expected is the calls expected in the hour.
	Expected float64
	// Seen is the weighted count of calls the cell has had, of every
	// category.
	Seen float64
}

// Cells returns the place cells that have had calls, with the calls of the
// categories (nil or "all" for every category) they are expected to have
// in the hour-of-week slot (0 is Monday 00:00), ordered south to north then
// west to east: what a map layer of the baseline draws.
func (b *Baseline) Cells(slot int, categories []string) []CellExpectation {
	if slot < 0 || slot >= HoursPerWeek || b.rate[slot] == nil {
		return nil
	}
	r := Rule{Categories: categories}
	groups := b.groupsOf(r)
	keys := make([]placeKey, 0, len(b.fine))
	for k := range b.fine {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(p, q placeKey) int {
		if p.row != q.row {
			return int(p.row - q.row)
		}
		return int(p.col - q.col)
	})
	s := b.weight(b.now)
	out := make([]CellExpectation, 0, len(keys))
	for _, k := range keys {
		c := b.fine[k]
		if c.share == nil {
			continue
		}
		e := 0.0
		for _, g := range groups {
			gg := g
			if gg < 0 || gg >= len(b.total) {
				gg = 0
			}
			e += b.rateOf(slot, g) * b.density(k, gg) * b.area(k)
		}
		out = append(out, CellExpectation{Bound: b.bound(k), Expected: e, Seen: c.n[0] / s})
	}
	return out
}
