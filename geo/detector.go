package geo

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"
	"unsafe"
)

// Errors wrapped by Add when it rejects a point.
var (
	// ErrLate means the point arrived after the allowed lateness: its time
	// is earlier than the detector's time minus Options.Lateness.
	ErrLate = errors.New("later than the allowed lateness")
	// ErrExpired means the point's time is already outside the window. An
	// error wrapping it also wraps ErrLate.
	ErrExpired = errors.New("already outside the window")
	// ErrDuplicate means a point with the same id is already in the window.
	ErrDuplicate = errors.New("id already in the window")
	// ErrInvalidPoint means the point's position or time cannot be used.
	ErrInvalidPoint = errors.New("invalid point")
)

// Point is one call as the detector sees it.
type Point struct {
	ID       string
	Time     time.Time
	Lat, Lon float64 // degrees, WGS-84 or whatever datum all points share
	Category string
}

// Options tune a Detector beyond its Rule.
type Options struct {
	// Lateness is how far behind the detector's time a point may arrive and
	// still be taken. Zero takes no point older than the newest one seen.
	Lateness time.Duration
	// Growth is the span over which cluster summaries count recent calls
	// (Cluster.Recent). Zero means DefaultGrowth.
	Growth time.Duration
}

// DefaultGrowth is the span of Cluster.Recent when Options.Growth is zero.
const DefaultGrowth = 10 * time.Minute

// ClusterID identifies a cluster within one detector for as long as it
// lives. IDs are assigned in order from 1 and never reused.
type ClusterID uint64

// Detector is the streaming cluster detector for one Rule. It is not safe
// for concurrent use.
type Detector struct {
	rule     Rule
	opts     Options
	minCalls int32
	window   int64 // nanoseconds
	lateness int64
	now      int64 // unix nanoseconds; math.MinInt64 before the first point
	seq      uint64
	step     uint64 // counts arrivals and expiries
	nextID   ClusterID

	grid   *grid
	blocks blockTable // occupied cells, eight by eight
	ncells int
	byID   map[ClusterID]*component
	ids    idTable    // points in the window by id
	pts    []point    // slab; free slots are listed in free
	hot    []hotPoint // beside pts
	free   []int32
	queue  []queued // live points by (time, seq), from head on
	head   int
	live   int

	// Scratch space reused across calls.
	fpBuf    []int32   // members, for Footprint
	nbuf     []nref    // neighbour lists; see nbrs.go
	freeRuns [][]int32 // free runs of nbuf by size class
	spanBuf  []span
	lists    []cellList
	bufs     [1][]int32
	lost     []int32
	reanchor []int32
	suspects []*cell
	acc      []cellCount
	pend     []int32
	cellIx   cellIndex
	touched  []*component
	spare    []*component
	bfs      bfsState
	mark     uint32

	own    []Event
	events *[]Event
}

// point is one call in the window. What arrivals and expiries read and
// write on every neighbour lives apart, in hotPoint.
type point struct {
	t int64

	id       string
	idHash   uint64
	category string
	seq      uint64
	lat, lon float64
}

// hotPoint holds what every arrival and expiry reads and writes on each
// neighbour, in an array of its own, one cache line a point.
type hotPoint struct {
	cell   *cell  // nil when the slot is free
	n      int32  // neighbours in the window, itself included
	anchor int32  // for a border point, the core it belongs through; else -1
	gen    uint32 // incremented when the slot is freed
	// The point's neighbour list is d.nbuf[off:off+len], in a run of
	// 1<<class entries (class 0: no run), followed by tail[:nin]; see
	// nbrs.go. Entries for points that have left the window are dropped
	// lazily, by compact.
	off, len int32
	// The first pre entries of the list are points that come before this
	// one in the expiry queue, so that they have all left when it does.
	pre   uint16
	class uint8
	core  bool
	nin   uint8
	tail  [3]nref
}

// nref refers to a point in a slot; it is stale once the slot's gen moves on.
type nref struct {
	idx int32
	gen uint32
}

// entry is a point as a cell lists it, with its position kept inline so that
// a neighbourhood scan reads memory in order.
type entry struct {
	lat, lon float64
	cos      float32 // cos(lat), rounded down
	idx      int32
}

// cosDown returns c as a float32 no greater than c.
func cosDown(c float64) float32 {
	f := float32(c)
	if float64(f) > c {
		f = math.Nextafter32(f, 0)
	}
	return f
}

// block holds the occupied cells of eight rows by eight columns, so that a
// neighbourhood query looks up a few blocks rather than every cell.
// The points of each row of the block are listed together, column by
// column, so that a query reads a row's cells as one run of memory.
type block struct {
	cells [64]*cell
	rows  [8]strip
	n     int
}

// strip lists the points of one row of a block: es[end[k-1]:end[k]] are the
// points of column k (es[:end[0]] those of column 0), in no order.
type strip struct {
	es  []entry
	end [8]int32
}

// start returns where column k's points begin.
func (s *strip) start(k int) int32 {
	if k == 0 {
		return 0
	}
	return s.end[k-1]
}

// add puts e among column k's points. It moves at most one point of each
// later column: the first of each goes to the end of its run.
func (s *strip) add(k int, e entry) {
	s.es = append(s.es, entry{})
	for j := 7; j > k; j-- {
		if a, b := s.start(j), s.end[j]; a < b {
			s.es[b] = s.es[a]
		}
		s.end[j]++
	}
	s.es[s.end[k]] = e
	s.end[k]++
}

// remove takes the point idx out of column k. It moves at most one point
// of each later column: the last of each goes to the start of its run.
func (s *strip) remove(k int, idx int32) {
	a, b := s.start(k), s.end[k]
	at := a
	for s.es[at].idx != idx {
		at++
	}
	hole := b - 1
	s.es[at] = s.es[hole]
	s.end[k]--
	for j := k + 1; j < 8; j++ {
		if a, b := s.end[j-1]+1, s.end[j]; a < b {
			s.es[hole] = s.es[b-1]
			hole = b - 1
		}
		s.end[j]--
	}
	s.es[hole] = entry{}
	s.es = s.es[:len(s.es)-1]
}

func blockKey(r, c int32) (uint64, int) {
	return uint64(uint32(r>>3))<<32 | uint64(uint32(c>>3)), int(r&7)<<3 | int(c&7)
}

func blockKey0(r, c int32) uint64 {
	k, _ := blockKey(r, c)
	return k
}

// cellAt returns the cell at row r, column c, or nil.
func (d *Detector) cellAt(r, c int32) *cell {
	k, i := blockKey(r, c)
	if b := d.blocks.get(k); b != nil {
		return b.cells[i]
	}
	return nil
}

// cell is one grid cell holding at least one point.
type cell struct {
	edges    []edge
	row, col int32
	cores    int32 // core points in the cell
	anchored int32 // border points whose anchor is in the cell
	comp     *component
	blk      *block
	at       int32 // index in blk
	compPos  int32
	mark     uint32
	front    int32
}

// edge links two cells that hold core points within eps of each other. Of
// the two cells, the one first in (row, col) order owns the link: its edge
// counts the pairs of neighbouring core points between them in n, and the
// other's edge holds notOwner. back is the index of the edge the other way
// in to.edges.
type edge struct {
	to   *cell
	n    int32
	back int32
}

// notOwner is the count in the edge of the cell that does not own a link.
const notOwner = -1

// NewDetector returns a detector for the rule, or an error wrapping
// ErrInvalidRule.
func NewDetector(r Rule, opts Options) (*Detector, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if opts.Lateness < 0 {
		return nil, fmt.Errorf("lateness %s is negative: %w", opts.Lateness, ErrInvalidRule)
	}
	if opts.Growth < 0 {
		return nil, fmt.Errorf("growth %s is negative: %w", opts.Growth, ErrInvalidRule)
	}
	if opts.Growth == 0 {
		opts.Growth = DefaultGrowth
	}
	d := &Detector{
		rule:     r,
		opts:     opts,
		minCalls: int32(r.MinCalls),
		window:   int64(r.Window),
		lateness: int64(opts.Lateness),
		now:      math.MinInt64,
		grid:     newGrid(r.Eps),
		blocks:   newBlockTable(),
		byID:     make(map[ClusterID]*component),
		ids:      newIDTable(),
	}
	d.events = &d.own
	return d, nil
}

// Rule returns the detector's rule.
func (d *Detector) Rule() Rule { return d.rule }

// Len returns the number of points in the window.
func (d *Detector) Len() int { return d.live }

// Now returns the detector's time: the latest of the point times it has
// taken and the times it was advanced to. It is the zero time before either.
func (d *Detector) Now() time.Time {
	if d.now == math.MinInt64 {
		return time.Time{}
	}
	return time.Unix(0, d.now).UTC()
}

// TakeEvents appends the cluster events that arrivals and expiries produced
// since the last call to dst, forgets them, and returns the extended slice.
func (d *Detector) TakeEvents(dst []Event) []Event {
	dst = append(dst, *d.events...)
	clear(*d.events)
	*d.events = (*d.events)[:0]
	return dst
}

// checkPoint returns the point's time in unix nanoseconds, or an error
// wrapping ErrInvalidPoint.
func checkPoint(p Point) (int64, error) {
	if !(p.Lat >= -90 && p.Lat <= 90) {
		return 0, fmt.Errorf("point %q: latitude %v is outside [-90, 90]: %w", p.ID, p.Lat, ErrInvalidPoint)
	}
	if !(p.Lon >= -180 && p.Lon <= 180) {
		return 0, fmt.Errorf("point %q: longitude %v is outside [-180, 180]: %w", p.ID, p.Lon, ErrInvalidPoint)
	}
	if p.Time.IsZero() {
		return 0, fmt.Errorf("point %q: time is missing: %w", p.ID, ErrInvalidPoint)
	}
	t := p.Time.UnixNano()
	if y := p.Time.Year(); y < 1900 || y > 2200 {
		return 0, fmt.Errorf("point %q: time %s is out of range: %w", p.ID, p.Time.Format(time.RFC3339), ErrInvalidPoint)
	}
	return t, nil
}

// Add advances the detector's time to the point's time when that is later,
// expiring what falls out of the window, then takes the point if the rule
// matches its category. A point older than the detector's time is taken when
// it is within Options.Lateness and still inside the window; otherwise Add
// returns an error wrapping ErrLate (and ErrExpired when it is outside the
// window) and changes nothing. A point whose id is still in the window after
// the advance gives an error wrapping ErrDuplicate, and an unusable position
// or time one wrapping ErrInvalidPoint.
func (d *Detector) Add(p Point) error {
	t, err := checkPoint(p)
	if err != nil {
		return err
	}
	if err := d.admit(p.ID, t); err != nil {
		return err
	}
	d.advance(t)
	if !d.rule.Matches(p.Category) {
		return nil
	}
	h := idHash(p.ID)
	if d.has(p.ID, h) {
		return fmt.Errorf("point %q: %w", p.ID, ErrDuplicate)
	}
	d.insert(p, t, h)
	return nil
}

// has reports whether a point with the id, which hashes to h, is in the
// window.
func (d *Detector) has(id string, h uint64) bool {
	return d.ids.find(h, id, d.pts) >= 0
}

// admit checks a point's time against the detector's time.
func (d *Detector) admit(id string, t int64) error {
	if d.now == math.MinInt64 || t >= d.now {
		return nil
	}
	behind := time.Duration(d.now - t)
	if t <= d.now-d.window {
		return fmt.Errorf("point %q is %s behind, past the %s window: %w: %w", id, behind, time.Duration(d.window), ErrLate, ErrExpired)
	}
	if t < d.now-d.lateness {
		return fmt.Errorf("point %q is %s behind, past the %s lateness: %w", id, behind, time.Duration(d.lateness), ErrLate)
	}
	return nil
}

// Advance moves the detector's time forward to t, expiring every point
// received at or before t minus the window. An earlier t changes nothing.
func (d *Detector) Advance(t time.Time) {
	d.advance(t.UnixNano())
}

func (d *Detector) advance(t int64) {
	if t <= d.now {
		return
	}
	d.now = t
	limit := t - d.window
	for d.head < len(d.queue) && d.queue[d.head].t <= limit {
		i := d.queue[d.head].idx
		d.dequeue()
		d.expire(i)
	}
}

// query appends to dst the points within eps of (lat, lon), leaving out the
// point skip. Candidates pass cheap tests that only ever discard points
// farther than eps, then orb's geo.DistanceHaversine decides.
func (d *Detector) query(dst []int32, lat, lon float64, skip int32) []int32 {
	return d.queryCos(dst, lat, lon, math.Cos(lat*deg), skip)
}

// queryCos is query given cosLat = math.Cos(lat*deg). It gathers the runs
// of entries of the cells to visit first, so that the processor can overlap
// their reads, then prunes the entries and asks orb about the rest.
func (d *Detector) queryCos(dst []int32, lat, lon, cosLat float64, skip int32) []int32 {
	g := d.grid
	d.spanBuf = g.spans(d.spanBuf[:0], lat, lon, cosLat)
	lists := d.lists[:0]
	for si, s := range d.spanBuf {
		ri := s.info
		// Columns c0..c1 taken modulo ncols, a block's run at a time.
		for c := s.c0; c <= s.c1; {
			col := c % ri.ncols
			if col < 0 {
				col += ri.ncols
			}
			n := min(s.c1-c, (col|7)-col, ri.ncols-1-col) // more columns in this block
			c += n + 1
			k, at := blockKey(s.row, col)
			b := d.blocks.get(k)
			if b == nil {
				continue
			}
			st := &b.rows[at>>3]
			if es := st.es[st.start(at&7):st.end[(at&7)+int(n)]]; len(es) > 0 {
				lists = append(lists, cellList{es: es, span: int32(si)})
			}
		}
	}
	// A candidate is pruned when it is farther than eps in latitude, farther
	// than the span allows in longitude, or surely far: the haversine term
	// a = sin²(dLat/2) + cos·cos'·sin²(dLon/2) is bounded from below with
	// sin x >= x - x³/6 (0 <= x <= 1) and with the cosines lowered by a
	// relative 1e-12, and that bound exceeds sin²(eps/2R), itself widened by
	// a relative 1e-9, far beyond the rounding error of either computation.
	// Whatever is left, orb decides.
	// x³/6 is computed as x³ times 1/6 rounded, which moves the bound by
	// less than 1e-16 of itself, far inside the 1e-9 widening.
	const sixth = 1.0 / 6
	epsDeg, lim := g.epsDeg, g.sinHalf*g.sinHalf
	cq := cosLat * (1 - 1e-12)
	for _, l := range lists {
		dLon := d.spanBuf[l.span].dLon
		for k := range l.es {
			e := &l.es[k]
			dl := math.Abs(e.lat - lat)
			if dl > epsDeg {
				continue
			}
			dn := math.Abs(e.lon - lon)
			if dn > 180 {
				dn = 360 - dn
			}
			if dn > dLon || e.idx == skip {
				continue
			}
			if x, y := dl*(deg/2), dn*(deg/2); x <= 1 && y <= 1 {
				sx, sy := x*(1-x*x*sixth), y*(1-y*y*sixth)
				if sx*sx+cq*float64(e.cos)*sy*sy > lim {
					continue
				}
			}
			if within(lat, lon, e.lat, e.lon, g.eps) {
				dst = append(dst, e.idx)
			}
		}
	}
	clear(lists)
	d.lists = lists[:0]
	return dst
}

// cellList is a run of cells' entries as a query found them.
type cellList struct {
	es   []entry
	span int32
}

// compact drops stale entries from point i's neighbour list and returns it.
func (d *Detector) compact(i int32) []nref {
	h := &d.hot[i]
	nb := d.nbrs(i)
	k, pre := 0, 0
	for j, r := range nb {
		if d.hot[r.idx].gen == r.gen {
			nb[k] = r
			k++
			if j < int(h.pre) {
				pre++
			}
		}
	}
	h.len, h.pre = int32(k), uint16(pre)
	return nb[:k]
}

func (d *Detector) alloc() int32 {
	if n := len(d.free); n > 0 {
		i := d.free[n-1]
		d.free = d.free[:n-1]
		return i
	}
	d.pts = append(d.pts, point{})
	d.hot = append(d.hot, hotPoint{anchor: -1})
	return int32(len(d.pts) - 1)
}

// insert takes a point, whose id hashes to idh, into the window and updates
// the clusters.
func (d *Detector) insert(p Point, t int64, idh uint64) {
	d.beginStep()
	i := d.alloc()
	d.seq++
	q := &d.pts[i]
	q.id, q.category, q.t, q.seq, q.lat, q.lon = p.ID, p.Category, t, d.seq, p.Lat, p.Lon
	h := &d.hot[i]
	h.anchor = -1
	q.idHash = idh
	d.ids.put(idh, i)
	cosLat := math.Cos(p.Lat * deg)
	found := d.queryCos(d.bufs[0][:0], p.Lat, p.Lon, cosLat, -1)
	d.bufs[0] = found
	me := nref{idx: i, gen: h.gen}
	// Room for the neighbours found and about as many to come.
	if need := 2*len(found) + 8; h.class != listClass(need) {
		d.newList(i, need)
	}
	h.n = int32(len(found)) + 1
	d.gridAddCos(i, cosLat)
	if d.enqueue(i) {
		// Every neighbour found comes before i in the queue.
		h.pre = uint16(min(len(found), math.MaxUint16))
	}
	d.live++

	// Link the new point and its neighbours, each neighbour touched once.
	// Points that become core: the new one, and neighbours that reach
	// minCalls with it.
	fresh := d.lost[:0]
	if h.n >= d.minCalls {
		fresh = append(fresh, i)
	}
	own := d.nbuf[h.off : h.off+int32(len(found))]
	for k, r := range found {
		own[k] = nref{idx: r, gen: d.hot[r].gen}
	}
	h.len = int32(len(found))
	for _, r := range found {
		o := &d.hot[r]
		if !o.pushTail(me) {
			d.addNbr(o, me)
		}
		o.n++
		if o.n == d.minCalls {
			fresh = append(fresh, r)
		}
	}
	for _, c := range fresh {
		d.makeCore(c, d.compact(c))
	}
	d.lost = fresh[:0]
	if h := &d.hot[i]; !h.core && h.anchor < 0 {
		if a := d.latestCore(d.nbrs(i)); a >= 0 {
			d.setAnchor(i, a)
		}
	}
	d.endStep(p.ID)
}

// expire takes point i out of the window and updates the clusters.
func (d *Detector) expire(i int32) {
	d.beginStep()
	id := d.pts[i].id
	d.ids.del(d.pts[i].idHash, i)
	// The live neighbours of i, leaving out those that came before it in
	// the queue without looking at them: they have all left. The list is
	// dropped with i, so it is filtered in place without bookkeeping.
	// Each live neighbour loses one; those of them that are core and fall
	// below minCalls are lost, and lose that status once i has left.
	nb := d.nbrs(i)[d.hot[i].pre:]
	lost := d.lost[:0]
	k := 0
	for _, r := range nb {
		if q := &d.hot[r.idx]; q.gen == r.gen {
			nb[k] = r
			k++
			if q.n--; q.core && q.n < d.minCalls {
				lost = append(lost, r.idx)
			}
		}
	}
	nb = nb[:k]
	reanchor := d.reanchor[:0]
	if d.hot[i].core {
		reanchor = d.unmakeCore(i, nb, reanchor)
	} else if d.hot[i].anchor >= 0 {
		d.unanchor(i)
	}
	d.gridRemove(i)
	d.live--
	d.hot[i].gen++ // from here on, references to i are stale

	for _, r := range lost {
		reanchor = d.unmakeCore(r, d.compact(r), reanchor)
		reanchor = append(reanchor, r)
	}
	d.lost = lost[:0]
	for _, x := range reanchor {
		q := &d.hot[x]
		if q.core || q.anchor >= 0 || d.hot[x].cell == nil {
			continue
		}
		if a := d.latestCore(d.compact(x)); a >= 0 {
			d.setAnchor(x, a)
		}
	}
	d.reanchor = reanchor[:0]
	d.pts[i] = point{}
	h := &d.hot[i]
	*h = hotPoint{off: h.off, class: h.class, gen: h.gen, anchor: -1}
	d.free = append(d.free, i)
	d.checkSplits()
	d.endStep(id)
}

// latestCore returns the core point among nb received last (the one that
// stays longest), or -1.
func (d *Detector) latestCore(nb []nref) int32 {
	best := int32(-1)
	for _, ref := range nb {
		r := ref.idx
		if !d.hot[r].core {
			continue
		}
		q := &d.pts[r]
		if best < 0 || q.t > d.pts[best].t || q.t == d.pts[best].t && q.seq > d.pts[best].seq {
			best = r
		}
	}
	return best
}

// makeCore turns point c, whose neighbours are nb, into a core point.
func (d *Detector) makeCore(c int32, nb []nref) {
	if d.hot[c].anchor >= 0 {
		d.unanchor(c)
	}
	d.hot[c].core = true
	a := d.hot[c].cell
	if a.comp == nil {
		d.newComponent(a)
	}
	a.cores++
	d.touch(a.comp)
	a.comp.size++
	a.comp.cores++
	// Non-core neighbours without an anchor are anchored at c. Then the
	// core neighbours are counted per cell, and each cell linked once.
	acc, pend := d.countCores(a, nb, -1)
	for _, r := range pend {
		d.setAnchor(r, c)
	}
	for _, x := range acc {
		d.link(a, x.c, x.n)
	}
	d.clearAcc(acc)
}

// cellCount is a number of core points in a cell.
type cellCount struct {
	c    *cell
	n    int32
	slot int32 // in cellIndex
}

// cellIndex finds a cell's entry in the counts being made by countCores: an
// open-addressing table of indices into them, plus one, keyed by the cell's
// address. Entries are cleared after use, one per cell counted.
type cellIndex [256]int16

func cellHash(c *cell) int {
	return int((uint64(uintptr(unsafe.Pointer(c))) * 0x9e3779b97f4a7c15) >> 56)
}

// countCores counts the core points among nb per cell other than a, without
// touching those cells, and lists the non-core points among nb whose anchor
// is anchor (-1: that have none). Its loop makes no calls, so that its
// variables stay in registers.
func (d *Detector) countCores(a *cell, nb []nref, anchor int32) ([]cellCount, []int32) {
	acc := d.acc[:0]
	if cap(acc) < len(d.cellIx)/2 {
		acc = make([]cellCount, 0, len(d.cellIx)/2)
	}
	if cap(d.pend) < len(nb) {
		d.pend = make([]int32, 0, 2*len(nb))
	}
	pend := d.pend[:len(nb)]
	np := 0
	ix := &d.cellIx
	hot := d.hot
	last := -1
	for _, ref := range nb {
		q := &hot[ref.idx]
		if !q.core {
			if q.anchor == anchor {
				pend[np] = ref.idx
				np++
			}
			continue
		}
		if q.cell == a {
			continue
		}
		b := q.cell
		if last >= 0 && acc[last].c == b {
			acc[last].n++
			continue
		}
		h := cellHash(b) & (len(ix) - 1)
		var k int
		for {
			k = int(ix[h]) - 1
			if k < 0 {
				if len(acc) == cap(acc) {
					// Too many cells for the table: b is counted on an
					// entry of its own, found by a search.
					k = slices.IndexFunc(acc, func(x cellCount) bool { return x.c == b })
					if k < 0 {
						k = len(acc)
						acc = append(acc, cellCount{c: b, slot: -1})
					}
				} else {
					k = len(acc)
					ix[h] = int16(k + 1)
					acc = acc[:k+1]
					acc[k] = cellCount{c: b, slot: int32(h)}
				}
				break
			}
			if acc[k].c == b {
				break
			}
			h = (h + 1) & (len(ix) - 1)
		}
		last = k
		acc[last].n++
	}
	return acc, pend[:np]
}

func (d *Detector) clearAcc(acc []cellCount) {
	for _, x := range acc {
		if x.slot >= 0 {
			d.cellIx[x.slot] = 0
		}
	}
	clear(acc)
	d.acc = acc[:0]
}

// unmakeCore turns core point c, whose neighbours are nb, into a non-core
// one. Border points anchored at c lose their anchor and are appended to
// reanchor.
func (d *Detector) unmakeCore(c int32, nb []nref, reanchor []int32) []int32 {
	d.hot[c].core = false
	a := d.hot[c].cell
	acc, pend := d.countCores(a, nb, c)
	for _, r := range pend {
		d.unanchor(r)
	}
	reanchor = append(reanchor, pend...)
	for _, x := range acc {
		d.unlink(a, x.c, x.n)
	}
	d.clearAcc(acc)
	comp := a.comp
	d.touch(comp)
	comp.size--
	comp.cores--
	a.cores--
	if a.cores == 0 {
		d.leave(a)
	}
	return reanchor
}

func (d *Detector) setAnchor(x, c int32) {
	d.hot[x].anchor = c
	a := d.hot[c].cell
	a.anchored++
	d.touch(a.comp)
	a.comp.size++
}

func (d *Detector) unanchor(x int32) {
	a := d.hot[d.hot[x].anchor].cell
	d.hot[x].anchor = -1
	a.anchored--
	d.touch(a.comp)
	a.comp.size--
}

// gridAdd puts point i in its cell.
func (d *Detector) gridAdd(i int32) {
	d.gridAddCos(i, math.Cos(d.pts[i].lat*deg))
}

// gridAddCos is gridAdd given cosLat = math.Cos(lat*deg) of the point.
func (d *Detector) gridAddCos(i int32, cosLat float64) {
	p := &d.pts[i]
	r := d.grid.row(p.lat)
	col := d.grid.info(r).col(p.lon)
	k, at := blockKey(r, col)
	b := d.blocks.get(k)
	if b == nil {
		b = &block{}
		d.blocks.put(k, b)
	}
	c := b.cells[at]
	if c == nil {
		c = &cell{row: r, col: col, blk: b, at: int32(at)}
		b.cells[at] = c
		b.n++
		d.ncells++
	}
	d.hot[i].cell = c
	b.rows[at>>3].add(at&7, entry{lat: p.lat, lon: p.lon, cos: cosDown(cosLat), idx: i})
}

// entries returns the points in the cell.
func (c *cell) entries() []entry {
	s := &c.blk.rows[c.at>>3]
	k := int(c.at & 7)
	return s.es[s.start(k):s.end[k]]
}

// gridRemove takes point i out of its cell, dropping the cell when empty.
func (d *Detector) gridRemove(i int32) {
	c := d.hot[i].cell
	b := c.blk
	s := &b.rows[c.at>>3]
	k := int(c.at & 7)
	s.remove(k, i)
	d.hot[i].cell = nil
	if s.start(k) == s.end[k] {
		b.cells[c.at] = nil
		c.blk = nil
		d.ncells--
		if b.n--; b.n == 0 {
			d.blocks.del(blockKey0(c.row, c.col))
		}
	}
}

// The queue holds the live points in order of (time, seq), with the times
// inline, so that expiry reads it front to back without touching the
// points. Arrivals almost always go at the back; a late one is put in its
// place by a binary search and a shift over the calls after it, which are
// at most the calls of the allowed lateness.

// queued is a point in the expiry queue.
type queued struct {
	t   int64
	seq uint64
	idx int32
}

func (q queued) before(o queued) bool { return q.t < o.t || q.t == o.t && q.seq < o.seq }

// enqueue adds point i to the expiry queue, and reports whether it went at
// the back, after every other point in the window.
func (d *Detector) enqueue(i int32) bool {
	p := &d.pts[i]
	e := queued{t: p.t, seq: p.seq, idx: i}
	live := d.queue[d.head:]
	n := len(live)
	if n == 0 || !e.before(live[n-1]) {
		d.queue = append(d.queue, e)
		return true
	}
	k := sort.Search(n, func(j int) bool { return e.before(live[j]) })
	d.queue = append(d.queue, queued{})
	live = d.queue[d.head:]
	copy(live[k+1:], live[k:n])
	live[k] = e
	return false
}

// dequeue drops the front of the expiry queue.
func (d *Detector) dequeue() {
	d.head++
	if d.head == len(d.queue) {
		d.queue, d.head = d.queue[:0], 0
	} else if d.head >= 1024 && d.head*2 >= len(d.queue) {
		n := copy(d.queue, d.queue[d.head:])
		d.queue, d.head = d.queue[:n], 0
	}
}
