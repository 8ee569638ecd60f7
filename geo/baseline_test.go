package geo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/paulmach/orb"
)

// townStream returns days of calls from a town somewhere far from Zhuhai:
// a busy centre (Gaussian, 1 km) taking busy of every ten calls, the rest
// spread evenly over a 20 km square, at perHour calls an hour from 08:00
// to 22:00 and a fifth of that at night.
func townStream(seed uint64, start time.Time, days int, perHour float64, busy int) []Point {
	rng := rand.New(rand.NewPCG(seed, 1))
	const lat0, lon0 = -45.87, 170.50 // Dunedin
	cos := math.Cos(lat0 * deg)
	var pts []Point
	for t := start; t.Before(start.Add(time.Duration(days) * 24 * time.Hour)); t = t.Add(time.Minute) {
		rate := perHour / 60
		if h := t.Hour(); h < 8 || h >= 22 {
			rate /= 5
		}
		for n := poissonDraw(rng, rate); n > 0; n-- {
			var dy, dx float64 // km
			if rng.IntN(10) < busy {
				dy, dx = rng.NormFloat64(), rng.NormFloat64()
			} else {
				dy, dx = rng.Float64()*20-10, rng.Float64()*20-10
			}
			cat := "noise"
			if rng.IntN(5) == 0 {
				cat = "flood"
			}
			pts = append(pts, Point{
				ID:   fmt.Sprintf("c%d", len(pts)),
				Time: t.Add(time.Duration(rng.IntN(60)) * time.Second),
				Lat:  lat0 + dy/111.2, Lon: lon0 + dx/(111.2*cos), Category: cat,
			})
		}
	}
	return pts
}

// kmFrom returns the point dy, dx kilometres from the town centre.
func kmFrom(dy, dx float64) orb.Point {
	const lat0, lon0 = -45.87, 170.50
	return orb.Point{lon0 + dx/(111.2*math.Cos(lat0*deg)), lat0 + dy/111.2}
}

var nz = time.FixedZone("NZST", 12*3600)

func TestBaselineLearnsRates(t *testing.T) {
	start := time.Date(2026, 6, 1, 0, 0, 0, 0, nz) // a Monday
	pts := townStream(1, start, 21, 120, 5)
	now := start.Add(21 * 24 * time.Hour)
	b := BuildBaseline(BaselineOptions{}, pts, now)
	all := Rule{Name: "any"}
	// Evening, 2 km east of the centre (outside the busy core): the even
	// half of the calls, 120/2 per hour over 400 km², in a 1 km disc.
	at := time.Date(2026, 6, 22, 20, 0, 0, 0, nz)
	got := b.Expected(all, kmFrom(0, 5), 1000, at, at.Add(time.Hour))
	want := 60 * math.Pi / 400
	if math.Abs(got-want) > 0.25*want {
		t.Errorf("Expected(1 km disc 5 km out, 20:00) = %.3f, want about %.3f", got, want)
	}
	night := b.Expected(all, kmFrom(0, 5), 1000, at.Add(7*time.Hour), at.Add(8*time.Hour))
	if r := got / night; r < 3.5 || r > 6.5 {
		t.Errorf("evening/night expectation = %.2f, want about 5", r)
	}
	centre := b.Expected(all, kmFrom(0, 0), 1000, at, at.Add(time.Hour))
	if centre < 5*got {
		t.Errorf("Expected(centre) = %.3f, want far above the outskirts' %.3f", centre, got)
	}
	flood := b.Expected(Rule{Name: "f", Categories: []string{"flood"}}, kmFrom(0, 5), 1000, at, at.Add(time.Hour))
	if r := flood / got; r < 0.14 || r > 0.26 {
		t.Errorf("flood/all expectation = %.3f, want about 0.2", r)
	}
	unseen := b.Expected(Rule{Name: "v", Categories: []string{"volcanic ash"}}, kmFrom(0, 5), 1000, at, at.Add(time.Hour))
	if !(unseen > 0 && unseen < flood/100) {
		t.Errorf("Expected(category never seen) = %g, want positive and far below flood's %g", unseen, flood)
	}
	cells := b.Cells(b.HourOfWeek(at), nil)
	sum := 0.0
	for _, c := range cells {
		sum += c.Expected
	}
	if math.Abs(sum-120) > 15 {
		t.Errorf("Cells(20:00) sum to %.1f calls, want about the 120 an hour of the stream", sum)
	}
}

func TestBaselineLagKeepsASurgeOutOfItsOwnExpectation(t *testing.T) {
	start := time.Date(2026, 6, 1, 0, 0, 0, 0, nz)
	pts := townStream(2, start, 14, 60, 5)
	now := start.Add(14 * 24 * time.Hour)
	b := BuildBaseline(BaselineOptions{}, pts, now)
	r := Rule{Name: "f", Categories: []string{"flood"}, Eps: 300, MinCalls: 4, Window: time.Hour}
	village := kmFrom(8, -8)
	before := b.Expected(r, village, 500, now, now.Add(time.Hour))
	for i := range 20 {
		at := now.Add(time.Duration(i) * 2 * time.Minute)
		b.Observe(Point{ID: fmt.Sprint("s", i), Time: at, Lat: village[1], Lon: village[0], Category: "flood"})
	}
	b.Advance(now.Add(90 * time.Minute))
	b.Refresh()
	during := b.Expected(r, village, 500, now, now.Add(time.Hour))
	if during > 1.05*before {
		t.Errorf("expectation during the surge = %.4f, want it not raised by the surge's own calls (%.4f before)", during, before)
	}
	b.Advance(now.Add(5 * time.Hour))
	b.Refresh()
	if after := b.Expected(r, village, 500, now, now.Add(time.Hour)); after < 2*before {
		t.Errorf("expectation after the lag = %.4f, want the surge learnt (%.4f before)", after, before)
	}
}
