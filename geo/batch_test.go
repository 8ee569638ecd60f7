package geo

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"
	orbgeo "github.com/paulmach/orb/geo"
)

// This file holds the reference: a plain batch DBSCAN over a window, and
// checks that compare the detector with it.

// batchResult is what a batch DBSCAN finds over a set of points.
type batchResult struct {
	pts   []Point
	core  []bool
	comp  []int   // component of each core point; -1 for others
	nbrs  [][]int // neighbours of each point, itself left out
	ncomp int
}

// batchDBSCAN runs DBSCAN over pts the plain way: every pair is tested with
// orb's haversine distance.
func batchDBSCAN(pts []Point, eps float64, minCalls int) batchResult {
	n := len(pts)
	r := batchResult{pts: pts, core: make([]bool, n), comp: make([]int, n), nbrs: make([][]int, n)}
	for i := range pts {
		for j := i + 1; j < n; j++ {
			a := orb.Point{pts[i].Lon, pts[i].Lat}
			b := orb.Point{pts[j].Lon, pts[j].Lat}
			if orbgeo.DistanceHaversine(a, b) <= eps {
				r.nbrs[i] = append(r.nbrs[i], j)
				r.nbrs[j] = append(r.nbrs[j], i)
			}
		}
	}
	for i := range pts {
		r.core[i] = len(r.nbrs[i])+1 >= minCalls
		r.comp[i] = -1
	}
	for i := range pts {
		if !r.core[i] || r.comp[i] >= 0 {
			continue
		}
		stack := []int{i}
		r.comp[i] = r.ncomp
		for len(stack) > 0 {
			x := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for _, y := range r.nbrs[x] {
				if r.core[y] && r.comp[y] < 0 {
					r.comp[y] = r.ncomp
					stack = append(stack, y)
				}
			}
		}
		r.ncomp++
	}
	return r
}

// windowAt returns the points of pts in the window (t-w, t].
func windowAt(pts []Point, t time.Time, w time.Duration) []Point {
	var out []Point
	for _, p := range pts {
		if p.Time.After(t.Add(-w)) && !p.Time.After(t) {
			out = append(out, p)
		}
	}
	return out
}

// compareBatch checks that clusters are exactly what a batch DBSCAN finds in
// window: the same core calls grouped the same way, each border call in a
// cluster that has a core call within eps of it, and no noise.
func compareBatch(tb testing.TB, clusters []Cluster, window []Point, r Rule) error {
	tb.Helper()
	var in []Point
	for _, p := range window {
		if r.Matches(p.Category) {
			in = append(in, p)
		}
	}
	b := batchDBSCAN(in, r.Eps, r.MinCalls)
	index := make(map[string]int, len(in))
	for i, p := range in {
		index[p.ID] = i
	}
	owner := make(map[string]ClusterID)
	compOf := make(map[int]ClusterID)
	for _, c := range clusters {
		if len(c.CoreCalls) == 0 {
			return fmt.Errorf("cluster %d has no core call", c.ID)
		}
		for _, id := range c.Calls {
			if _, ok := index[id]; !ok {
				return fmt.Errorf("cluster %d holds call %s, which is not in the window", c.ID, id)
			}
			if o, ok := owner[id]; ok {
				return fmt.Errorf("call %s is in clusters %d and %d", id, o, c.ID)
			}
			owner[id] = c.ID
		}
		for _, id := range c.CoreCalls {
			i := index[id]
			if !b.core[i] {
				return fmt.Errorf("cluster %d: call %s is core, want non-core (%d neighbours)", c.ID, id, len(b.nbrs[i])+1)
			}
			if o, ok := compOf[b.comp[i]]; ok && o != c.ID {
				return fmt.Errorf("core calls of one batch cluster are split between clusters %d and %d", o, c.ID)
			}
			compOf[b.comp[i]] = c.ID
		}
		if !slices.IsSortedFunc(c.Calls, func(x, y string) int { return in[index[x]].Time.Compare(in[index[y]].Time) }) {
			return fmt.Errorf("cluster %d: calls are not in time order", c.ID)
		}
	}
	if len(compOf) != b.ncomp || len(clusters) != b.ncomp {
		return fmt.Errorf("got %d clusters covering %d batch clusters, want %d", len(clusters), len(compOf), b.ncomp)
	}
	coreOf := make(map[string]bool)
	for _, c := range clusters {
		for _, id := range c.CoreCalls {
			coreOf[id] = true
		}
	}
	for i, p := range in {
		if b.core[i] {
			if !coreOf[p.ID] {
				return fmt.Errorf("call %s is not core, want core (%d neighbours, min %d)", p.ID, len(b.nbrs[i])+1, r.MinCalls)
			}
			continue
		}
		o, inCluster := owner[p.ID]
		hasCore := false
		okCore := false
		for _, j := range b.nbrs[i] {
			if b.core[j] {
				hasCore = true
				if owner[in[j].ID] == o {
					okCore = true
				}
			}
		}
		switch {
		case hasCore && !inCluster:
			return fmt.Errorf("border call %s is in no cluster", p.ID)
		case !hasCore && inCluster:
			return fmt.Errorf("noise call %s is in cluster %d", p.ID, o)
		case inCluster && !okCore:
			return fmt.Errorf("border call %s is in cluster %d, which has no core call within eps", p.ID, o)
		}
	}
	return nil
}

// checkInvariants checks the detector's internal bookkeeping against a brute
// force recount.
func checkInvariants(tb testing.TB, d *Detector) error {
	tb.Helper()
	var live []int32
	for i := range d.pts {
		if d.hot[i].cell != nil {
			live = append(live, int32(i))
		}
	}
	if len(live) != d.live || len(live) != len(d.queue)-d.head {
		return fmt.Errorf("live points %d, d.live %d, queue %d", len(live), d.live, len(d.queue)-d.head)
	}
	for k := d.head + 1; k < len(d.queue); k++ {
		if !d.queue[k-1].before(d.queue[k]) {
			return fmt.Errorf("expiry queue out of order at %d", k)
		}
	}
	pairs := make(map[[2]*cell]int32)
	for _, i := range live {
		p := &d.pts[i]
		n := int32(1)
		for _, j := range live {
			q := &d.pts[j]
			if i == j || !within(p.lat, p.lon, q.lat, q.lon, d.rule.Eps) {
				continue
			}
			n++
			if d.hot[i].core && d.hot[j].core && d.hot[i].cell != d.hot[j].cell {
				pairs[[2]*cell{d.hot[i].cell, d.hot[j].cell}]++
			}
		}
		h := &d.hot[i]
		if n != h.n {
			return fmt.Errorf("point %s: n = %d, want %d", p.id, h.n, n)
		}
		if h.core != (n >= d.minCalls) {
			return fmt.Errorf("point %s: core = %v with n = %d", p.id, h.core, n)
		}
		if h.core && h.anchor >= 0 {
			return fmt.Errorf("core point %s has an anchor", p.id)
		}
		if h.anchor >= 0 {
			a := &d.pts[h.anchor]
			if !d.hot[h.anchor].core || d.hot[h.anchor].cell == nil || !within(p.lat, p.lon, a.lat, a.lon, d.rule.Eps) {
				return fmt.Errorf("point %s: anchor %s is not a core neighbour", p.id, a.id)
			}
		}
		if pc := h.cell; d.cellAt(pc.row, pc.col) != pc || !slices.ContainsFunc(pc.entries(), func(e entry) bool { return e.idx == i }) {
			return fmt.Errorf("point %s: cell bookkeeping is off", p.id)
		}
	}
	anchoredIn := make(map[*cell]int32)
	for _, i := range live {
		if a := d.hot[i].anchor; a >= 0 {
			anchoredIn[d.hot[a].cell]++
		}
	}
	comps := make(map[*component][2]int32)
	var cells []*cell
	d.blocks.all(func(b *block) {
		for _, c := range b.cells {
			if c != nil {
				cells = append(cells, c)
			}
		}
	})
	if len(cells) != d.ncells {
		return fmt.Errorf("%d cells, d.ncells %d", len(cells), d.ncells)
	}
	for _, c := range cells {
		var cores int32
		for _, e := range c.entries() {
			if d.hot[e.idx].core {
				cores++
			}
		}
		anchored := anchoredIn[c]
		if cores != c.cores || anchored != c.anchored {
			return fmt.Errorf("cell %x: cores %d anchored %d, want %d %d", cellKey(c.row, c.col), c.cores, c.anchored, cores, anchored)
		}
		if (cores > 0) != (c.comp != nil) {
			return fmt.Errorf("cell %x: %d cores, component %p", cellKey(c.row, c.col), cores, c.comp)
		}
		for k, e := range c.edges {
			if want, got := pairs[[2]*cell{c, e.to}], edgePairs(c, k); got != want || e.to.comp != c.comp {
				return fmt.Errorf("cell %x: edge count %d, want %d", cellKey(c.row, c.col), got, want)
			}
			if back := e.to.edges[e.back]; back.to != c || int(back.back) != k || (e.n == notOwner) == owns(c, e.to) {
				return fmt.Errorf("cell %x: edge %d does not match its reverse", cellKey(c.row, c.col), k)
			}
		}
		want := 0
		for k := range pairs {
			if k[0] == c {
				want++
			}
		}
		if want != len(c.edges) {
			return fmt.Errorf("cell %x: %d edges, want %d", cellKey(c.row, c.col), len(c.edges), want)
		}
		if c.comp != nil {
			if c.comp.cells[c.compPos] != c {
				return fmt.Errorf("cell %x: compPos is off", cellKey(c.row, c.col))
			}
			s := comps[c.comp]
			comps[c.comp] = [2]int32{s[0] + cores + anchored, s[1] + cores}
		}
	}
	for c, s := range comps {
		if c.size != s[0] || c.cores != s[1] || c.dead {
			return fmt.Errorf("cluster %d: size %d cores %d dead %v, want %d %d", c.id, c.size, c.cores, c.dead, s[0], s[1])
		}
	}
	return nil
}

// eventModel replays events and checks them against the clusters.
type eventModel struct {
	size map[ClusterID]int
}

func (m *eventModel) apply(tb testing.TB, evs []Event, clusters []Cluster) error {
	tb.Helper()
	if m.size == nil {
		m.size = make(map[ClusterID]int)
	}
	now := make(map[ClusterID]int, len(clusters))
	for _, c := range clusters {
		now[c.ID] = len(c.Calls)
	}
	mentioned := make(map[ClusterID]bool)
	for _, e := range evs {
		mentioned[e.Cluster] = true
		switch e.Kind {
		case EventFormed:
			if _, ok := m.size[e.Cluster]; ok {
				return fmt.Errorf("%v: cluster already lives", e)
			}
		case EventGrew, EventShrank, EventMerged, EventSplit:
			if _, ok := m.size[e.Cluster]; !ok {
				return fmt.Errorf("%v: cluster is unknown", e)
			}
		case EventDissolved:
			if _, ok := m.size[e.Cluster]; !ok {
				return fmt.Errorf("%v: cluster is unknown", e)
			}
			delete(m.size, e.Cluster)
			continue
		}
		switch e.Kind {
		case EventMerged:
			for _, o := range e.Others {
				if _, ok := m.size[o]; !ok {
					return fmt.Errorf("%v: merged cluster %d is unknown", e, o)
				}
				delete(m.size, o)
			}
		case EventSplit:
			for _, o := range e.Others {
				m.size[o] = now[o]
				mentioned[o] = true
			}
		}
		m.size[e.Cluster] = e.Calls
	}
	if len(m.size) != len(now) {
		return fmt.Errorf("events leave %d clusters, want %d", len(m.size), len(now))
	}
	for id, n := range now {
		got, ok := m.size[id]
		if !ok {
			return fmt.Errorf("cluster %d lives without a formed event", id)
		}
		if got != n {
			return fmt.Errorf("cluster %d: events say %d calls, want %d (mentioned %v)", id, got, n, mentioned[id])
		}
	}
	return nil
}

// describe renders a stream for failure messages.
func describe(r Rule, lateness time.Duration, pts []Point) string {
	var b strings.Builder
	fmt.Fprintf(&b, "rule %s lateness %s\n", r, lateness)
	base := pts[0].Time
	for _, p := range pts {
		fmt.Fprintf(&b, "  {%q, %s, %.9f, %.9f, %q}\n", p.ID, p.Time.Sub(base), p.Lat, p.Lon, p.Category)
	}
	return b.String()
}

func sortedIDs(ids []ClusterID) []ClusterID {
	out := slices.Clone(ids)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// edgePairs returns the count of a's link k.
func edgePairs(a *cell, k int) int32 {
	e := &a.edges[k]
	if owns(a, e.to) {
		return e.n
	}
	return e.to.edges[e.back].n
}
