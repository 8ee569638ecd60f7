package geo

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/paulmach/orb"
	orbgeo "github.com/paulmach/orb/geo"
)

var t0 = time.Date(2026, 7, 1, 20, 0, 0, 0, time.UTC)

// stream is one random test case: a rule and calls in arrival order.
type stream struct {
	rule     Rule
	lateness time.Duration
	pts      []Point
}

var categories = []string{"waterlogging", "fallen_tree", "fire", "noise"}

// genStream makes a random stream. Its shape varies: blobs of calls around a
// few centres, calls on a lattice whose steps are exactly eps long, or calls
// anywhere on Earth, near the poles and across the antimeridian; with equal
// times, repeated positions, late arrivals and long gaps that empty most of
// the window.
func genStream(rng *rand.Rand, n int) stream {
	s := stream{}
	r := Rule{Name: "r", MinCalls: 1 + rng.IntN(6), Window: time.Duration(1+rng.IntN(30)) * time.Minute}
	if rng.IntN(3) == 0 {
		r.Categories = []string{"waterlogging", "fire"}
	}
	if rng.IntN(3) == 0 {
		s.lateness = time.Duration(rng.IntN(20)) * time.Minute
	}
	mode := rng.IntN(4)
	var pos func() (lat, lon float64)
	switch mode {
	case 0, 1: // blobs
		r.Eps = 20 + rng.Float64()*400
		lat0, lon0 := 22.27+rng.Float64()*0.1, 113.55+rng.Float64()*0.1
		if mode == 1 {
			lat0 = -89.9 + rng.Float64()*179.8
			lon0 = 179.99 - rng.Float64()*0.02
			if rng.IntN(2) == 0 {
				lat0 = math.Copysign(89.99+rng.Float64()*0.01, lat0)
			}
		}
		spread := r.Eps / 111_000 * (0.5 + 3*rng.Float64())
		ncent := 1 + rng.IntN(4)
		cents := make([][2]float64, ncent)
		for k := range cents {
			cents[k] = [2]float64{lat0 + rng.NormFloat64()*spread*2, lon0 + rng.NormFloat64()*spread*2}
		}
		pos = func() (float64, float64) {
			c := cents[rng.IntN(ncent)]
			lat := math.Max(-90, math.Min(90, c[0]+rng.NormFloat64()*spread))
			lon := c[1] + rng.NormFloat64()*spread
			if lon >= 180 {
				lon -= 360
			}
			return lat, lon
		}
	case 2: // lattice: many pairs exactly eps apart
		step := math.Ldexp(1, -10-rng.IntN(4)) // degrees, exact in binary
		lat0 := float64(rng.IntN(40)) + 0.5
		lon0 := 113.0
		a := orb.Point{lon0, lat0}
		b := orb.Point{lon0, lat0 + step}
		if rng.IntN(2) == 0 {
			b = orb.Point{lon0 + step, lat0}
		}
		r.Eps = orbgeo.DistanceHaversine(a, b)
		if r.Eps < MinEps {
			r.Eps = MinEps
		}
		pos = func() (float64, float64) {
			return lat0 + step*float64(rng.IntN(5)), lon0 + step*float64(rng.IntN(5))
		}
	default: // anywhere, with a large eps
		r.Eps = 1000 + rng.Float64()*99_000
		pos = func() (float64, float64) {
			switch rng.IntN(4) {
			case 0:
				return 89.5 + rng.Float64()*0.5, rng.Float64()*360 - 180
			case 1:
				return -89.5 - rng.Float64()*0.5, rng.Float64()*360 - 180
			case 2:
				return rng.Float64()*4 - 2, 179 + rng.Float64()*2
			}
			return rng.Float64()*2 + 40, rng.Float64()*2 + 10
		}
	}
	s.rule = r
	t := t0
	var prev []Point
	for i := 0; i < n; i++ {
		switch k := rng.IntN(20); {
		case k < 6: // same time as the previous call
		case k < 16:
			t = t.Add(time.Duration(rng.IntN(120)) * time.Second)
		case k < 19:
			t = t.Add(time.Duration(rng.IntN(int(r.Window/time.Second)+1)) * time.Second)
		default:
			t = t.Add(r.Window * time.Duration(1+rng.IntN(3)))
		}
		at := t
		if s.lateness > 0 && rng.IntN(6) == 0 {
			at = t.Add(-time.Duration(rng.Int64N(int64(s.lateness) + int64(time.Minute))))
		}
		p := Point{ID: fmt.Sprintf("c%d", i), Time: at, Category: categories[rng.IntN(len(categories))]}
		if len(prev) > 0 && rng.IntN(7) == 0 {
			q := prev[rng.IntN(len(prev))]
			p.Lat, p.Lon = q.Lat, q.Lon
		} else {
			p.Lat, p.Lon = pos()
		}
		if p.Lon > 180 {
			p.Lon -= 360
		}
		prev = append(prev, p)
		s.pts = append(s.pts, p)
	}
	return s
}

// runStream feeds a stream to a detector and compares it with a batch
// DBSCAN after every arrival and every expiry.
func runStream(tb testing.TB, s stream, invariants bool) error {
	tb.Helper()
	d, err := NewDetector(s.rule, Options{Lateness: s.lateness})
	if err != nil {
		return err
	}
	var taken []Point
	var model eventModel
	var evs []Event
	full := 0
	check := func(what string) error {
		var cl []Cluster
		if full++; full%16 == 0 {
			cl = d.Clusters()
		} else {
			cl = membership(d)
		}
		if err := compareBatch(tb, cl, windowAt(taken, d.Now(), s.rule.Window), s.rule); err != nil {
			return fmt.Errorf("after %s at %s: %w", what, d.Now().Sub(t0), err)
		}
		evs = d.TakeEvents(evs[:0])
		if err := model.apply(tb, evs, cl); err != nil {
			return fmt.Errorf("after %s at %s: events: %w", what, d.Now().Sub(t0), err)
		}
		if invariants {
			if err := checkInvariants(tb, d); err != nil {
				return fmt.Errorf("after %s at %s: %w", what, d.Now().Sub(t0), err)
			}
		}
		return nil
	}
	// expireUntil advances through every expiry time up to t, checking at
	// each one.
	expireUntil := func(t time.Time) error {
		for {
			next := time.Time{}
			for _, p := range taken {
				e := p.Time.Add(s.rule.Window)
				if e.After(d.Now()) && !e.After(t) && (next.IsZero() || e.Before(next)) {
					next = e
				}
			}
			if next.IsZero() {
				return nil
			}
			d.Advance(next)
			if err := check("expiry"); err != nil {
				return err
			}
		}
	}
	for _, p := range s.pts {
		now := d.Now()
		wantErr := error(nil)
		if !now.IsZero() && p.Time.Before(now) {
			switch {
			case !p.Time.After(now.Add(-s.rule.Window)):
				wantErr = ErrExpired
			case p.Time.Before(now.Add(-s.lateness)):
				wantErr = ErrLate
			}
		}
		if wantErr == nil {
			if err := expireUntil(p.Time); err != nil {
				return err
			}
		}
		err := d.Add(p)
		if !errors.Is(err, wantErr) || (wantErr == nil) != (err == nil) {
			return fmt.Errorf("Add(%s at %s) = %v, want %v", p.ID, p.Time.Sub(t0), err, wantErr)
		}
		if err != nil {
			continue
		}
		taken = append(taken, p)
		if err := check("arrival of " + p.ID); err != nil {
			return err
		}
	}
	if len(taken) > 0 {
		last := taken[0].Time
		for _, p := range taken {
			if p.Time.After(last) {
				last = p.Time
			}
		}
		if err := expireUntil(last.Add(s.rule.Window)); err != nil {
			return err
		}
	}
	if d.Len() != 0 {
		return fmt.Errorf("Len() = %d after all expiries, want 0", d.Len())
	}
	return nil
}

func TestDetectorMatchesBatch(t *testing.T) {
	streams, maxLen := 3000, 120
	if raceEnabled {
		streams = 500
	}
	if testing.Short() {
		streams, maxLen = 300, 80
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < streams; i++ {
		s := genStream(rng, 1+rng.IntN(maxLen))
		if err := runStream(t, s, i%10 == 0); err != nil {
			t.Fatalf("stream %d: %v\n%s", i, err, describe(s.rule, s.lateness, s.pts))
		}
	}
}

// membership returns the clusters with only their ids, calls and core calls:
// what the comparison with the batch needs, without the cost of hulls.
func membership(d *Detector) []Cluster {
	var out []Cluster
	for _, g := range d.groups() {
		c := Cluster{ID: g.id}
		for _, i := range g.members {
			p := &d.pts[i]
			c.Calls = append(c.Calls, p.id)
			if d.hot[i].core {
				c.CoreCalls = append(c.CoreCalls, p.id)
			}
		}
		out = append(out, c)
	}
	return out
}

func TestClusterByIDMatchesClusters(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	streams := 200
	if raceEnabled || testing.Short() {
		streams = 40
	}
	for i := 0; i < streams; i++ {
		s := genStream(rng, 1+rng.IntN(80))
		d, err := NewDetector(s.rule, Options{Lateness: s.lateness})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range s.pts {
			if d.Add(p) != nil {
				continue
			}
			all := d.Clusters()
			for _, c := range all {
				got, ok := d.Cluster(c.ID)
				if !ok || !reflect.DeepEqual(got, c) {
					t.Fatalf("stream %d: Cluster(%d) = %+v, %v; want %+v", i, c.ID, got, ok, c)
				}
			}
			if len(d.byID) != len(all) {
				t.Fatalf("stream %d: %d clusters indexed by id, want %d", i, len(d.byID), len(all))
			}
			if _, ok := d.Cluster(d.nextID + 1); ok {
				t.Fatalf("Cluster(unknown id) found a cluster")
			}
		}
	}
}

func TestAddRejects(t *testing.T) {
	r := Rule{Name: "r", Eps: 100, MinCalls: 2, Window: 30 * time.Minute}
	base := Point{ID: "a", Time: t0, Lat: 22.27, Lon: 113.56, Category: "fire"}
	at := func(id string, d time.Duration) Point {
		p := base
		p.ID, p.Time = id, t0.Add(d)
		return p
	}
	tests := []struct {
		name     string
		lateness time.Duration
		p        Point
		want     error
	}{
		{"in order is taken", 0, at("b", 11*time.Minute), nil},
		{"same time is taken", 0, at("b", 10*time.Minute), nil},
		{"late within lateness is taken", 5 * time.Minute, at("b", 6*time.Minute), nil},
		{"late past lateness is rejected", 5 * time.Minute, at("b", 4*time.Minute), ErrLate},
		{"outside the window is rejected as expired", time.Hour, at("b", -25*time.Minute), ErrExpired},
		{"outside the window is also late", time.Hour, at("b", -25*time.Minute), ErrLate},
		{"same id in the window is rejected", 0, at("a", 10*time.Minute), ErrDuplicate},
		{"same id after it expired is taken", 0, at("a", 31*time.Minute), nil},
		{"bad latitude is rejected", 0, Point{ID: "b", Time: t0.Add(10 * time.Minute), Lat: 91, Category: "x"}, ErrInvalidPoint},
		{"NaN longitude is rejected", 0, Point{ID: "b", Time: t0.Add(10 * time.Minute), Lon: math.NaN(), Category: "x"}, ErrInvalidPoint},
		{"missing time is rejected", 0, Point{ID: "b", Category: "x"}, ErrInvalidPoint},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := NewDetector(r, Options{Lateness: tt.lateness})
			if err != nil {
				t.Fatal(err)
			}
			if err := d.Add(base); err != nil {
				t.Fatal(err)
			}
			d.Advance(t0.Add(10 * time.Minute))
			err = d.Add(tt.p)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("Add(%s at %s) = %v, want %v", tt.p.ID, tt.p.Time.Sub(t0), err, tt.want)
			}
			s, _ := NewSet([]Rule{r}, Options{Lateness: tt.lateness})
			s.Add(base)
			s.Advance(t0.Add(10 * time.Minute))
			if err := s.Add(tt.p); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("Set.Add(%s at %s) = %v, want %v", tt.p.ID, tt.p.Time.Sub(t0), err, tt.want)
			}
		})
	}
}
