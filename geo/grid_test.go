package geo

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/paulmach/orb"
	orbgeo "github.com/paulmach/orb/geo"
)

func cellKey(r, c int32) uint64 { return uint64(uint32(r))<<32 | uint64(uint32(c)) }

// randomPlace returns a position anywhere, often near a pole or the
// antimeridian.
func randomPlace(rng *rand.Rand) (lat, lon float64) {
	switch rng.IntN(4) {
	case 0:
		lat = math.Copysign(90-rng.Float64()*rng.Float64()*2, rng.Float64()-0.5)
	case 1:
		lat = rng.Float64()*2 - 1
	default:
		lat = rng.Float64()*180 - 90
	}
	lon = rng.Float64()*360 - 180
	if rng.IntN(3) == 0 {
		lon = math.Copysign(180-rng.Float64()*rng.Float64(), lon)
	}
	return lat, lon
}

// TestCellsAreCliques checks the property the clusters rely on: any two
// points in one cell are neighbours by orb's haversine distance.
func TestCellsAreCliques(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 20000; i++ {
		eps := MinEps * math.Pow(MaxEps/MinEps, rng.Float64())
		g := newGrid(eps)
		lat, lon := randomPlace(rng)
		r := g.row(lat)
		ri := g.info(r)
		c := ri.col(lon)
		// Two random points of that cell, corners included.
		pick := func() (float64, float64) {
			la := ri.latLo + g.rowDeg*[]float64{0, 1 - 1e-12, rng.Float64()}[rng.IntN(3)]
			lo := -180 + ri.colDeg*(float64(c)+[]float64{0, 1 - 1e-12, rng.Float64()}[rng.IntN(3)])
			return math.Min(90, la), lo
		}
		la1, lo1 := pick()
		la2, lo2 := pick()
		if d := orbgeo.DistanceHaversine(orb.Point{lo1, la1}, orb.Point{lo2, la2}); d > eps {
			t.Fatalf("DistanceHaversine(%v,%v to %v,%v) = %v in one cell, want <= eps %v", la1, lo1, la2, lo2, d, eps)
		}
	}
}

// queryDetector returns a detector for index queries alone (no call is
// ever core), with a random eps between MinEps and MaxEps.
func queryDetector(t *testing.T, rng *rand.Rand) (float64, *Detector) {
	t.Helper()
	eps := MinEps * math.Pow(MaxEps/MinEps, rng.Float64())
	d, err := NewDetector(Rule{Name: "q", Eps: eps, MinCalls: 1000, Window: MaxWindow}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return eps, d
}

// TestQueryFindsEveryNeighbour compares neighbourhood queries with a brute
// force search, anywhere on Earth.
func TestQueryFindsEveryNeighbour(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	rounds := 200
	if raceEnabled || testing.Short() {
		rounds = 40
	}
	for round := 0; round < rounds; round++ {
		eps, d := queryDetector(t, rng)
		lat0, lon0 := randomPlace(rng)
		spread := eps / 111_000 * 3
		var pts [][2]float64
		for i := 0; i < 150; i++ {
			lat := math.Max(-90, math.Min(90, lat0+rng.NormFloat64()*spread))
			lon := lon0 + rng.NormFloat64()*spread/math.Max(0.05, math.Cos(lat0*deg))
			lon = math.Mod(lon+540, 360) - 180
			idx := d.alloc()
			d.pts[idx] = point{lat: lat, lon: lon}
			d.gridAdd(idx)
			pts = append(pts, [2]float64{lat, lon})
		}
		for i, p := range pts {
			got := map[int32]bool{}
			for _, j := range d.query(nil, p[0], p[1], int32(i)) {
				got[j] = true
			}
			for j, q := range pts {
				want := j != i && orbgeo.DistanceHaversine(orb.Point{p[1], p[0]}, orb.Point{q[1], q[0]}) <= eps
				if got[int32(j)] != want {
					t.Fatalf("eps %v: query(%v) has %v = %v, want %v", eps, p, q, got[int32(j)], want)
				}
			}
		}
	}
}

// TestQueryAtEps places pairs of points within a few parts in 10^6 of eps
// apart, where the cheap bounds of a query come closest to deciding wrongly,
// and checks that a query agrees with orb's haversine distance on each.
func TestQueryAtEps(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	rounds := 20000
	if raceEnabled || testing.Short() {
		rounds = 4000
	}
	rels := []float64{-1e-6, -1e-8, -1e-9, -5e-10, -1e-10, -1e-12, 0, 1e-12, 1e-10, 1e-9, 1e-6}
	near, far := 0, 0
	for round := 0; round < rounds; round++ {
		eps, d := queryDetector(t, rng)
		lat, lon := randomPlace(rng)
		lat = math.Max(-89.9, math.Min(89.9, lat))
		p := orb.Point{lon, lat}
		q := orbgeo.PointAtBearingAndDistance(p, rng.Float64()*360, eps*(1+rels[rng.IntN(len(rels))]))
		want := orbgeo.DistanceHaversine(p, q) <= eps
		if want {
			near++
		} else {
			far++
		}
		i := d.alloc()
		d.pts[i] = point{lat: q[1], lon: q[0]}
		d.gridAdd(i)
		got := len(d.query(nil, lat, lon, -1)) == 1
		if got != want {
			t.Fatalf("eps %v: query(%v) finds %v = %v, want %v (orb: %v m)", eps, p, q, got, want, orbgeo.DistanceHaversine(p, q))
		}
	}
	if near == 0 || far == 0 {
		t.Fatalf("%d pairs within eps and %d beyond: want both", near, far)
	}
}

// TestStrip checks a strip's runs against a model under random additions
// and removals.
func TestStrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 11))
	var s strip
	var model [8][]int32
	next := int32(0)
	for i := 0; i < 20000; i++ {
		k := rng.IntN(8)
		if n := len(model[k]); n > 0 && rng.IntN(2) == 0 {
			j := rng.IntN(n)
			s.remove(k, model[k][j])
			model[k] = append(model[k][:j], model[k][j+1:]...)
		} else {
			next++
			s.add(k, entry{idx: next})
			model[k] = append(model[k], next)
		}
		total := 0
		for k := range model {
			run := s.es[s.start(k):s.end[k]]
			got := make([]int32, 0, len(run))
			for _, e := range run {
				got = append(got, e.idx)
			}
			want := slices.Clone(model[k])
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("step %d: column %d holds %v, want %v", i, k, got, want)
			}
			total += len(want)
		}
		if len(s.es) != total {
			t.Fatalf("step %d: %d entries, want %d", i, len(s.es), total)
		}
	}
}
