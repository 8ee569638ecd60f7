package geo

import (
	"fmt"
	"strconv"
	"testing"
	"time"
)

// BenchmarkArrivalScored is BenchmarkArrival with the surge score of the
// live path included: each arrival also enters the baseline, and every
// cluster event that ScoreSchedule finds due is scored (Footprint, Score
// over the window ladder, RecurrenceDays). The baseline has learnt 100,000
// calls of the same distribution over the week before; the calibration (two
// one-hour null streams, enough to give recurrence intervals) is drawn
// before the timer starts, as the live path draws it once a day off the
// arrival path. Compare its cpu-ns/op with BenchmarkArrival's.
func BenchmarkArrivalScored(b *testing.B) {
	for _, dist := range []string{"city", "uniform", "fixed-density"} {
		for _, n := range []int{1_000, 10_000, 50_000, 100_000} {
			b.Run(fmt.Sprintf("%s/window=%d", dist, n), func(b *testing.B) {
				d, err := NewDetector(benchRule, Options{})
				if err != nil {
					b.Fatal(err)
				}
				s := newStreamer(b, n, dist)
				base := NewBaseline(BaselineOptions{})
				const learnt = 100_000
				week := 7 * 24 * time.Hour
				for i := range learnt {
					p := s.pos[(i*7919)%len(s.pos)]
					base.Observe(Point{ID: "h" + strconv.Itoa(i), Time: s.t.Add(-week + time.Duration(i)*(week/learnt)), Lat: p[0], Lon: p[1], Category: "waterlogging"})
				}
				warm(b, d, s, n)
				base.Advance(s.t)
				cal, err := Calibrate(base, []Rule{benchRule}, s.t, CalibrationOptions{Replications: 2, Span: time.Hour})
				if err != nil {
					b.Fatal(err)
				}
				scorer := NewScorer(base, nil)
				var sched ScoreSchedule
				pts := make([]Point, b.N)
				for i := range pts {
					pts[i] = s.point()
				}
				lat := make([]time.Duration, b.N)
				var evs []Event
				scores := 0
				b.ReportAllocs()
				cpu0 := cpuTime(b)
				b.ResetTimer()
				for i := range pts {
					start := time.Now()
					if err := d.Add(pts[i]); err != nil {
						b.Fatal(err)
					}
					base.Observe(pts[i])
					evs = d.TakeEvents(evs[:0])
					for _, e := range evs {
						if !sched.Due(e) {
							continue
						}
						if f, ok := d.Footprint(e.Cluster); ok {
							sc := scorer.Score(benchRule, f, pts[i].Time)
							_ = cal.RecurrenceDays(benchRule.Name, sc.Score)
							scores++
						}
					}
					lat[i] = time.Since(start)
				}
				b.StopTimer()
				b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
				b.ReportMetric(float64(d.Len()), "calls-in-window")
				b.ReportMetric(float64(scores)/float64(b.N), "scores/op")
				reportLatency(b, lat)
			})
		}
	}
}

// BenchmarkCalibrate measures one calibration, off the arrival path: 40
// null days of the simulator's city at 3,000 calls a day through the five
// default rules.
func BenchmarkCalibrate(b *testing.B) {
	s := newStreamer(b, 3000, "city")
	base := NewBaseline(BaselineOptions{})
	week := 7 * 24 * time.Hour
	cats := []string{"waterlogging", "fallen_tree", "power_outage", "gas_leak", "fire", "noise", "other", "other", "other", "noise"}
	const learnt = 21_000
	for i := range learnt {
		p := s.pos[i%len(s.pos)]
		base.Observe(Point{ID: strconv.Itoa(i), Time: t0.Add(-week + time.Duration(i)*(week/learnt)), Lat: p[0], Lon: p[1], Category: cats[i%len(cats)]})
	}
	base.Advance(t0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := Calibrate(base, DefaultRules(), t0, CalibrationOptions{Seed: uint64(i)})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(c.Calls, "calls/replication")
	}
}
