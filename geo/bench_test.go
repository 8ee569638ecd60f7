package geo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/quadtree"

	"flare/citysim"
)

// spreadPositions generates n positions uniform over a square around
// Zhuhai whose area grows with n, so that the density stays at perKm2.
func spreadPositions(rng *rand.Rand, n int, perKm2 float64) [][2]float64 {
	side := math.Sqrt(float64(n)/perKm2) / 111.2 // degrees of latitude
	out := make([][2]float64, n)
	for i := range out {
		lat := 22.25 + (rng.Float64()-0.5)*side
		out[i] = [2]float64{lat, 113.55 + (rng.Float64()-0.5)*side/math.Cos(22.25*deg)}
	}
	return out
}

// positions generates n positions, either city-like (the simulator's
// Zhuhai: calls around busy places and across the districts) or uniform
// over the Zhuhai box.
func positions(tb testing.TB, rng *rand.Rand, n int, uniform bool) [][2]float64 {
	tb.Helper()
	out := make([][2]float64, n)
	if uniform {
		for i := range out {
			out[i] = [2]float64{21.95 + rng.Float64()*0.45, 113.15 + rng.Float64()*0.55}
		}
		return out
	}
	city, err := citysim.DefaultCity()
	if err != nil {
		tb.Fatal(err)
	}
	for i := range out {
		p, _, _ := city.Place(rng)
		out[i] = [2]float64{p[1], p[0]}
	}
	return out
}

// benchRule is the rule of the performance target.
var benchRule = Rule{Name: "bench", Eps: 250, MinCalls: 5, Window: 60 * time.Minute}

// streamer feeds a detector calls spread evenly in time, so that the window
// holds about n of them.
type streamer struct {
	pos  [][2]float64
	gap  time.Duration
	next int
	t    time.Time
}

func newStreamer(tb testing.TB, n int, dist string) *streamer {
	tb.Helper()
	rng := rand.New(rand.NewPCG(7, uint64(n)))
	m := max(4*n, 1<<18)
	var pos [][2]float64
	if dist == "fixed-density" {
		// About 20 neighbours within 250 m, whatever the window holds; the
		// positions repeat only after four windows.
		pos = spreadPositions(rng, 4*n, 4*100)
	} else {
		pos = positions(tb, rng, m, dist == "uniform")
	}
	return &streamer{pos: pos, gap: benchRule.Window / time.Duration(n), t: t0}
}

func (s *streamer) point() Point {
	p := s.pos[s.next%len(s.pos)]
	s.next++
	s.t = s.t.Add(s.gap)
	return Point{ID: strconv.Itoa(s.next), Time: s.t, Lat: p[0], Lon: p[1], Category: "waterlogging"}
}

// warm fills the detector to its steady state: a full window, with expiries
// under way.
func warm(tb testing.TB, d *Detector, s *streamer, n int) {
	tb.Helper()
	for i := 0; i < 2*n; i++ {
		if err := d.Add(s.point()); err != nil {
			tb.Fatal(err)
		}
	}
	d.TakeEvents(nil)
}

// cpuTime returns the CPU time the process has used, so that a benchmark
// can report its cost apart from the time it waited for a busy machine.
func cpuTime(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportLatency reports the mean and tail of per-arrival durations.
func reportLatency(b *testing.B, lat []time.Duration) {
	b.Helper()
	slices.Sort(lat)
	q := func(f float64) float64 { return float64(lat[min(len(lat)-1, int(f*float64(len(lat))))]) }
	b.ReportMetric(q(0.50), "p50-ns")
	b.ReportMetric(q(0.99), "p99-ns")
	b.ReportMetric(q(0.999), "p999-ns")
	b.ReportMetric(float64(lat[len(lat)-1]), "max-ns")
}

// BenchmarkArrival measures the cost of one arrival, including the expiry it
// triggers, with n calls in a 60-minute window (eps 250 m, minCalls 5): on
// the simulator's city and uniform over the Zhuhai box (both denser as the
// window holds more), and uniform at a fixed density over an area that grows
// with the window.
func BenchmarkArrival(b *testing.B) {
	for _, dist := range []string{"city", "uniform", "fixed-density"} {
		for _, n := range []int{1_000, 10_000, 50_000, 100_000} {
			b.Run(fmt.Sprintf("%s/window=%d", dist, n), func(b *testing.B) {
				d, err := NewDetector(benchRule, Options{})
				if err != nil {
					b.Fatal(err)
				}
				s := newStreamer(b, n, dist)
				warm(b, d, s, n)
				pts := make([]Point, b.N)
				for i := range pts {
					pts[i] = s.point()
				}
				lat := make([]time.Duration, b.N)
				var evs []Event
				b.ReportAllocs()
				cpu0 := cpuTime(b)
				b.ResetTimer()
				for i := range pts {
					start := time.Now()
					if err := d.Add(pts[i]); err != nil {
						b.Fatal(err)
					}
					evs = d.TakeEvents(evs[:0])
					lat[i] = time.Since(start)
				}
				b.StopTimer()
				b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
				b.ReportMetric(float64(d.Len()), "calls-in-window")
				reportLatency(b, lat)
			})
		}
	}
}

// BenchmarkBatchRerun measures the alternative the detector replaces:
// re-running a plain batch DBSCAN, with a grid index, over the whole window
// on each arrival.
func BenchmarkBatchRerun(b *testing.B) {
	for _, dist := range []string{"city", "uniform"} {
		for _, n := range []int{1_000, 10_000, 50_000} {
			b.Run(fmt.Sprintf("%s/window=%d", dist, n), func(b *testing.B) {
				s := newStreamer(b, n, dist)
				win := make([]Point, 0, n+1)
				for i := 0; i < n; i++ {
					win = append(win, s.point())
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					p := s.point()
					limit := p.Time.Add(-benchRule.Window)
					k := 0
					for k < len(win) && !win[k].Time.After(limit) {
						k++
					}
					win = append(win[k:], p)
					gridDBSCAN(win, benchRule.Eps, benchRule.MinCalls)
				}
			})
		}
	}
}

// gridDBSCAN is a plain batch DBSCAN with a hash grid of eps-sized cells in
// degrees; it returns the cluster label of each point (-1 for noise).
func gridDBSCAN(pts []Point, eps float64, minCalls int) []int {
	latStep := eps / orb.EarthRadius / deg * grow
	maxLat := 0.0
	for _, p := range pts {
		maxLat = math.Max(maxLat, math.Abs(p.Lat))
	}
	lonStep := latStep / math.Cos(math.Min(89, maxLat+latStep)*deg)
	type key struct{ r, c int32 }
	cells := make(map[key][]int32)
	keyOf := func(p Point) key {
		return key{int32(math.Floor(p.Lat / latStep)), int32(math.Floor(p.Lon / lonStep))}
	}
	for i, p := range pts {
		k := keyOf(p)
		cells[k] = append(cells[k], int32(i))
	}
	nbrs := func(i int, dst []int32) []int32 {
		p := pts[i]
		k := keyOf(p)
		for dr := int32(-1); dr <= 1; dr++ {
			for dc := int32(-1); dc <= 1; dc++ {
				for _, j := range cells[key{k.r + dr, k.c + dc}] {
					q := pts[j]
					if within(p.Lat, p.Lon, q.Lat, q.Lon, eps) {
						dst = append(dst, j)
					}
				}
			}
		}
		return dst
	}
	label := make([]int, len(pts))
	for i := range label {
		label[i] = -2 // unvisited
	}
	var buf, queue []int32
	next := 0
	for i := range pts {
		if label[i] != -2 {
			continue
		}
		buf = nbrs(i, buf[:0])
		if len(buf) < minCalls {
			label[i] = -1
			continue
		}
		label[i] = next
		queue = append(queue[:0], buf...)
		for len(queue) > 0 {
			j := queue[len(queue)-1]
			queue = queue[:len(queue)-1]
			if label[j] == -1 {
				label[j] = next
			}
			if label[j] != -2 {
				continue
			}
			label[j] = next
			buf = nbrs(int(j), buf[:0])
			if len(buf) >= minCalls {
				queue = append(queue, buf...)
			}
		}
		next++
	}
	return label
}

// BenchmarkIndex compares the neighbourhood index the detector uses (a grid
// of cells narrower than eps) with orb's quadtree, on the same sliding
// window: each op queries the neighbours of a new point, adds it and removes
// the oldest.
func BenchmarkIndex(b *testing.B) {
	const n = 50_000
	b.Run("grid", func(b *testing.B) {
		d, _ := NewDetector(benchRule, Options{})
		s := newStreamer(b, n, "city")
		var ring []int32
		add := func() int {
			p := s.point()
			i := d.alloc()
			d.pts[i] = point{lat: p.Lat, lon: p.Lon}
			d.bufs[0] = d.query(d.bufs[0][:0], p.Lat, p.Lon, -1)
			found := len(d.bufs[0])
			d.gridAdd(i)
			ring = append(ring, i)
			if len(ring) > n {
				d.gridRemove(ring[0])
				d.free = append(d.free, ring[0])
				ring = ring[1:]
			}
			return found
		}
		for i := 0; i < n; i++ {
			add()
		}
		b.ReportAllocs()
		b.ResetTimer()
		total := 0
		for i := 0; i < b.N; i++ {
			total += add()
		}
		b.ReportMetric(float64(total)/float64(b.N), "neighbours/op")
	})
	b.Run("quadtree", func(b *testing.B) {
		qt := quadtree.New(orb.Bound{Min: orb.Point{113, 21.5}, Max: orb.Point{114, 22.8}})
		s := newStreamer(b, n, "city")
		var ring []orb.Point
		var buf []orb.Pointer
		latStep := benchRule.Eps / orb.EarthRadius / deg * grow
		lonStep := latStep / math.Cos(23*deg)
		add := func() int {
			p := s.point()
			c := orb.Point{p.Lon, p.Lat}
			buf = qt.InBound(buf[:0], orb.Bound{Min: orb.Point{c[0] - lonStep, c[1] - latStep}, Max: orb.Point{c[0] + lonStep, c[1] + latStep}})
			found := 0
			for _, q := range buf {
				qp := q.Point()
				if within(c[1], c[0], qp[1], qp[0], benchRule.Eps) {
					found++
				}
			}
			qt.Add(c)
			ring = append(ring, c)
			if len(ring) > n {
				old := ring[0]
				qt.Remove(old, nil)
				ring = ring[1:]
			}
			return found
		}
		for i := 0; i < n; i++ {
			add()
		}
		b.ReportAllocs()
		b.ResetTimer()
		total := 0
		for i := 0; i < b.N; i++ {
			total += add()
		}
		b.ReportMetric(float64(total)/float64(b.N), "neighbours/op")
	})
}
