// Package surgeeval is Flare's evaluation harness for surge alerts: it runs
// the live alerting path (geo.Watch) over a background call stream with
// injected surges, and reports how many surges were caught at grade III or
// above, how soon, and how many alerts were false. Its table is kept in
// docs/DETECT.md; `FLARE_SURGE_EVAL=1 go test ./surgeeval -run TestTable -v`
// prints it.
package surgeeval

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/paulmach/orb"

	"flare/citysim"
	"flare/geo"
)

// Background is an ordinary call stream and the categories surges in it
// are about.
type Background struct {
	Name string
	// Generate returns the stream's calls from start over days, in time
	// order.
	Generate func(seed uint64, start time.Time, days int) ([]geo.Point, error)
	// Categories are the categories surges are drawn from.
	Categories []string
	Start      time.Time
}

// Zhuhai is the simulator's normal city (flare simulate --scenarios none)
// at callsPerDay.
func Zhuhai(callsPerDay float64) Background {
	return Background{
		Name:       fmt.Sprintf("citysim Zhuhai, %.0f calls/day", callsPerDay),
		Categories: []string{"waterlogging", "fallen_tree", "power_outage", "water_supply", "gas_leak", "fire", "road_damage", "building_safety"},
		Start:      time.Date(2026, 6, 1, 6, 0, 0, 0, citysim.Zone),
		Generate: func(seed uint64, start time.Time, days int) ([]geo.Point, error) {
			calls, err := citysim.Generate(citysim.Config{Seed: seed, Start: start, Duration: time.Duration(days) * 24 * time.Hour, CallsPerDay: callsPerDay})
			if err != nil {
				return nil, err
			}
			pts := make([]geo.Point, len(calls))
			for i, c := range calls {
				pts[i] = geo.Point{ID: c.ID, Time: c.ReceivedAt, Lat: c.Lat, Lon: c.Lon, Category: c.Category}
			}
			return pts, nil
		},
	}
}

// County is a second background of another shape, on another continent and
// with categories in another language: a rural county south of Santiago de
// Chile, 60 by 40 km, with one market town and forty villages, a road along
// which a tenth of the calls come, calls busiest in the evening and on
// weekends, and a weekly market morning.
func County(callsPerDay float64) Background {
	cats := []struct {
		name string
		w    float64
	}{
		{"anegamiento", 4}, {"árbol caído", 3}, {"corte de luz", 6}, {"fuga de gas", 1}, {"incendio", 2},
		{"ruido", 20}, {"basura", 15}, {"agua potable", 8}, {"camino dañado", 10}, {"otro", 31},
	}
	return Background{
		Name:       fmt.Sprintf("county of villages (Chile), %.0f calls/day", callsPerDay),
		Categories: []string{"anegamiento", "árbol caído", "corte de luz", "fuga de gas", "incendio", "agua potable", "camino dañado"},
		Start:      time.Date(2026, 6, 1, 0, 0, 0, 0, time.FixedZone("CLT", -4*3600)),
		Generate: func(seed uint64, start time.Time, days int) ([]geo.Point, error) {
			rng := rand.New(rand.NewPCG(seed, 77))
			const lat0, lon0 = -34.30, -70.80
			cos := math.Cos(lat0 * math.Pi / 180)
			type place struct{ dy, dx, sigma, w float64 }
			places := []place{{0, 0, 1.2, 30}}
			for range 40 {
				places = append(places, place{rng.Float64()*40 - 20, rng.Float64()*60 - 30, 0.3 + rng.Float64()*0.5, 0.5 + rng.Float64()*2})
			}
			var wsum float64
			cum := make([]float64, len(places))
			for i, p := range places {
				wsum += p.w
				cum[i] = wsum
			}
			var cw float64
			for _, c := range cats {
				cw += c.w
			}
			hourly := [24]float64{0.3, 0.2, 0.15, 0.1, 0.1, 0.15, 0.3, 0.6, 0.9, 1.0, 1.1, 1.1, 1.0, 0.9, 0.9, 1.0, 1.1, 1.3, 1.6, 1.9, 2.0, 1.7, 1.1, 0.6}
			var hsum float64
			for _, h := range hourly {
				hsum += h
			}
			var pts []geo.Point
			end := start.Add(time.Duration(days) * 24 * time.Hour)
			for t := start; t.Before(end); t = t.Add(time.Minute) {
				l := t.In(start.Location())
				rate := callsPerDay * hourly[l.Hour()] / hsum / 60
				if wd := l.Weekday(); wd == time.Saturday || wd == time.Sunday {
					rate *= 1.3
				}
				market := l.Weekday() == time.Wednesday && l.Hour() >= 8 && l.Hour() < 13
				for n := poisson(rng, rate); n > 0; n-- {
					var dy, dx float64
					switch x := rng.Float64(); {
					case x < 0.1: // along the road, north to south
						dy, dx = rng.Float64()*40-20, rng.NormFloat64()*0.15+5
					case x < 0.15:
						dy, dx = rng.Float64()*40-20, rng.Float64()*60-30
					case market && x < 0.3: // the market square
						dy, dx = rng.NormFloat64()*0.2+0.5, rng.NormFloat64()*0.2-0.4
					default:
						k, _ := slices.BinarySearch(cum, rng.Float64()*wsum)
						p := places[min(k, len(places)-1)]
						dy, dx = p.dy+rng.NormFloat64()*p.sigma, p.dx+rng.NormFloat64()*p.sigma
					}
					x := rng.Float64() * cw
					cat := cats[len(cats)-1].name
					for _, c := range cats {
						if x < c.w {
							cat = c.name
							break
						}
						x -= c.w
					}
					pts = append(pts, geo.Point{
						ID:   fmt.Sprintf("cty-%d-%07d", seed, len(pts)+1),
						Time: t.Add(time.Duration(rng.IntN(60)) * time.Second),
						Lat:  lat0 + dy/111.2, Lon: lon0 + dx/(111.2*cos), Category: cat,
					})
				}
			}
			slices.SortStableFunc(pts, func(p, q geo.Point) int { return p.Time.Compare(q.Time) })
			return pts, nil
		},
	}
}

func poisson(r *rand.Rand, lambda float64) int {
	if lambda <= 0 {
		return 0
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

// SurgeRules are the rules the harness runs: one per category surges are
// drawn from, loose enough that four calls spread over 800 m and 90
// minutes can form a cluster (the default rules, at five to eight calls,
// cannot catch a surge of four by construction).
func SurgeRules(categories []string) []geo.Rule {
	var rules []geo.Rule
	for i, c := range categories {
		rules = append(rules, geo.Rule{Name: fmt.Sprintf("surge%d", i+1), Categories: []string{c}, Eps: 800, MinCalls: 3, Window: 2 * time.Hour})
	}
	return rules
}

// Config sets up a run.
type Config struct {
	Background Background
	Seed       uint64
	// Warmup and Days are the days the baseline learns before anything is
	// graded, and the days evaluated after them.
	Warmup, Days int
	// Surges is how many surges are injected into the evaluated days.
	Surges int
	// Rules are the rules run; nil takes SurgeRules.
	Rules []geo.Rule
	// Watch tunes the alerting path; its Warmup is set from Warmup.
	Watch geo.WatchOptions
}

// Injected is one injected surge.
type Injected struct {
	Start    time.Time
	Calls    int
	Span     time.Duration
	RadiusM  float64
	Category string
	Centre   orb.Point
	// Detected says whether an alert of grade III or above held one of its
	// calls; CallsToDetect and ToDetect say after how many of its calls and
	// how long after its first.
	Detected      bool
	CallsToDetect int
	ToDetect      time.Duration
}

// Result is what a run found.
type Result struct {
	Background string
	Days       int
	Injected   []Injected
	// False counts the alerts holding no injected call by grade (index 1
	// to 4 for grades I to IV).
	False [5]int
	// EveryClusterIII counts the clusters holding no injected call when
	// they form: the false grade III alerts of a policy that grades every
	// cluster III.
	EveryClusterIII int
	// Severe lists the false alerts of grade II or above.
	Severe  []geo.Alert
	Alerts  int
	Elapsed time.Duration
}

// Detected returns the share of injected surges detected at grade III or
// above.
func (r Result) Detected() float64 {
	n := 0
	for _, s := range r.Injected {
		if s.Detected {
			n++
		}
	}
	return float64(n) / float64(max(len(r.Injected), 1))
}

// Medians returns the median calls and minutes to detection of the
// detected surges.
func (r Result) Medians() (calls float64, minutes float64) {
	var c, m []float64
	for _, s := range r.Injected {
		if s.Detected {
			c = append(c, float64(s.CallsToDetect))
			m = append(m, s.ToDetect.Minutes())
		}
	}
	return median(c), median(m)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// FalseAtLeast returns the false alerts of grade g or more severe.
func (r Result) FalseAtLeast(g geo.Grade) int {
	n := 0
	for i := 1; i <= int(g); i++ {
		n += r.False[i]
	}
	return n
}

// Run generates the background, injects the surges, runs the alerting path
// over the stream in time order and scores the alerts.
func Run(cfg Config) (Result, error) {
	began := time.Now()
	bg := cfg.Background
	pts, err := bg.Generate(cfg.Seed, bg.Start, cfg.Warmup+cfg.Days)
	if err != nil {
		return Result{}, err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 99))
	evalStart := bg.Start.Add(time.Duration(cfg.Warmup) * 24 * time.Hour)
	res := Result{Background: bg.Name, Days: cfg.Days}
	surgeOf := map[string]int{}
	if cfg.Surges > 0 {
		slot := time.Duration(cfg.Days) * 24 * time.Hour / time.Duration(cfg.Surges)
		for i := range cfg.Surges {
			// Each surge in its own slot, clear of the next one, centred
			// where an ordinary call came from.
			s := Injected{
				Start:    evalStart.Add(time.Duration(i)*slot + time.Duration(rng.Int64N(int64(slot-3*time.Hour)))),
				Calls:    4 + rng.IntN(27),
				Span:     time.Duration(20+rng.IntN(71)) * time.Minute,
				RadiusM:  100 + rng.Float64()*700,
				Category: bg.Categories[rng.IntN(len(bg.Categories))],
			}
			anchor := pts[rng.IntN(len(pts))]
			s.Centre = orb.Point{anchor.Lon, anchor.Lat}
			cos := math.Cos(anchor.Lat * math.Pi / 180)
			for k := range s.Calls {
				at := s.Start
				if k > 0 {
					at = s.Start.Add(time.Duration(rng.Int64N(int64(s.Span))))
				}
				r := s.RadiusM * math.Sqrt(rng.Float64())
				th := rng.Float64() * 2 * math.Pi
				id := fmt.Sprintf("surge-%d-%02d", i, k)
				surgeOf[id] = i
				pts = append(pts, geo.Point{ID: id, Time: at, Lat: anchor.Lat + r*math.Sin(th)/111_195, Lon: anchor.Lon + r*math.Cos(th)/(111_195*cos), Category: s.Category})
			}
			res.Injected = append(res.Injected, s)
		}
		slices.SortStableFunc(pts, func(p, q geo.Point) int { return p.Time.Compare(q.Time) })
	}
	rules := cfg.Rules
	if rules == nil {
		rules = SurgeRules(bg.Categories)
	}
	opts := cfg.Watch
	opts.Warmup = time.Duration(cfg.Warmup) * 24 * time.Hour
	w, err := geo.NewWatch(rules, opts)
	if err != nil {
		return Result{}, err
	}
	naive, err := geo.NewSet(rules, opts.Detector)
	if err != nil {
		return Result{}, err
	}
	seen := make([]int, len(res.Injected)) // surge calls so far
	var events []geo.Event
	for _, p := range pts {
		if i, ok := surgeOf[p.ID]; ok {
			seen[i]++
		}
		alerts, err := w.Add(p)
		if err != nil {
			continue
		}
		if naive.Add(p) == nil && p.Time.After(evalStart) {
			events = naive.TakeEvents(events[:0])
			for _, e := range events {
				if e.Kind != geo.EventFormed {
					continue
				}
				c, _ := naive.Detector(e.Rule).Cluster(e.Cluster)
				if !slices.ContainsFunc(c.Calls, func(id string) bool { _, ok := surgeOf[id]; return ok }) {
					res.EveryClusterIII++
				}
			}
		} else {
			naive.TakeEvents(events[:0])
		}
		for _, a := range alerts {
			res.Alerts++
			hit := -1
			for _, id := range a.Calls {
				if i, ok := surgeOf[id]; ok {
					hit = i
					break
				}
			}
			if hit < 0 {
				res.False[a.Grade]++
				if a.Grade <= 2 {
					res.Severe = append(res.Severe, a)
				}
				continue
			}
			s := &res.Injected[hit]
			if a.Grade <= 3 && !s.Detected {
				s.Detected, s.CallsToDetect, s.ToDetect = true, seen[hit], a.At.Sub(s.Start)
			}
		}
	}
	res.Elapsed = time.Since(began)
	return res, nil
}

// Row returns the result as a row of the table in docs/DETECT.md.
func (r Result) Row() string {
	calls, minutes := r.Medians()
	detected, medCalls, medMin := fmt.Sprintf("%.1f %%", 100*r.Detected()), fmt.Sprintf("%.0f", calls), fmt.Sprintf("%.0f", minutes)
	if len(r.Injected) == 0 {
		detected, medCalls, medMin = "-", "-", "-"
	}
	per := func(n int, days float64) string { return fmt.Sprintf("%.2f", float64(n)*days/float64(r.Days)) }
	return fmt.Sprintf("| %s | %d | %d | %s | %s | %s | %s / %s / %s / %s | %s | %s | %s | %.0f s |",
		r.Background, r.Days, len(r.Injected), detected, medCalls, medMin,
		per(r.False[4], 30), per(r.False[3], 30), per(r.False[2], 30), per(r.False[1], 30),
		per(r.FalseAtLeast(2), 30), per(r.FalseAtLeast(3), 3), per(r.EveryClusterIII, 3), r.Elapsed.Seconds())
}

// Header is the header of the table Row fills.
const Header = "| background | days | surges | detected III+ | median calls | median min | false per 30 d IV / III / II / I | false II+ per 30 d | false III+ per 3 d | every cluster III: false per 3 d | run |\n" +
	"|---|---|---|---|---|---|---|---|---|---|---|"

// Misses lists the surges not detected and the false alerts of grade II
// or above, one line each.
func (r Result) Misses() string {
	var b strings.Builder
	for _, s := range r.Injected {
		if !s.Detected {
			fmt.Fprintf(&b, "missed: %d %s calls over %s within %.0f m at %s (%.4f, %.4f)\n", s.Calls, s.Category, s.Span, s.RadiusM, s.Start.Format(time.RFC3339), s.Centre[1], s.Centre[0])
		}
	}
	for _, a := range r.Severe {
		fmt.Fprintf(&b, "false grade %s: %s at %s, %d calls %v, %d observed against %.3f over %s, score %.2f, once in %.0f days\n",
			a.Grade, a.Rule, a.At.Format(time.RFC3339), len(a.Calls), a.Categories, a.Surge.Observed, a.Surge.Expected, a.Surge.Window, a.Surge.Score, a.RecurrenceDays)
	}
	return b.String()
}
