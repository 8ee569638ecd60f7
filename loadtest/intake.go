package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/paulmach/orb"
	"golang.org/x/time/rate"

	"flare/citysim"
)

// IntakeReport is what a load test measured of call intake.
type IntakeReport struct {
	Posters       int      `json:"posters"`
	TargetRate    float64  `json:"target_rate"` // calls/s; 0 = as fast as the posters go
	DurationS     float64  `json:"duration_s"`
	Acknowledged  int      `json:"acknowledged"`
	Failed        int      `json:"failed"`
	AckPerSecond  float64  `json:"ack_per_second"`
	LatencyP50Ms  float64  `json:"latency_p50_ms"`
	LatencyP95Ms  float64  `json:"latency_p95_ms"`
	LatencyP99Ms  float64  `json:"latency_p99_ms"`
	LatencyMaxMs  float64  `json:"latency_max_ms"`
	LastSeq       int64    `json:"last_seq"` // highest seq acknowledged
	FirstFailures []string `json:"first_failures,omitempty"`
	acked         []int64  // seqs of every call acknowledged, warm-up included
}

// writeText writes the intake part of the text summary.
func (rep *IntakeReport) writeText(w io.Writer) {
	mode := "as fast as possible"
	if rep.TargetRate > 0 {
		mode = fmt.Sprintf("%.0f calls/s target", rep.TargetRate)
	}
	fmt.Fprintf(w, "intake: %d posters, %s, %.1fs measured\n", rep.Posters, mode, rep.DurationS)
	fmt.Fprintf(w, "  acknowledged  %d (%.0f calls/s), failed %d\n", rep.Acknowledged, rep.AckPerSecond, rep.Failed)
	fmt.Fprintf(w, "  latency       p50 %.2f ms  p95 %.2f ms  p99 %.2f ms  max %.2f ms\n",
		rep.LatencyP50Ms, rep.LatencyP95Ms, rep.LatencyP99Ms, rep.LatencyMaxMs)
	for _, f := range rep.FirstFailures {
		fmt.Fprintf(w, "  failure: %s\n", f)
	}
}

// maxBacklog bounds the calls that are due but not yet taken by a poster:
// past it the schedule waits for the posters, and a stalled server is seen
// as the latency of the calls queued so far.
const maxBacklog = 1 << 18

// schedule returns the times calls are due, closed when ctx ends. With
// perSecond 0 a call is due whenever a poster is free; otherwise a token
// bucket spaces the calls, and they queue (up to maxBacklog) while the
// posters are busy, so that a slow server does not slow the offered load.
func schedule(ctx context.Context, perSecond float64, posters int, start time.Time) <-chan time.Time {
	if perSecond == 0 {
		out := make(chan time.Time, posters)
		go func() {
			defer close(out)
			for ctx.Err() == nil {
				select {
				case out <- time.Now():
				case <-ctx.Done():
				}
			}
		}()
		return out
	}
	backlog := maxBacklog
	if end, ok := ctx.Deadline(); ok {
		backlog = min(backlog, int(perSecond*end.Sub(start).Seconds())+posters)
	}
	out := make(chan time.Time, backlog)
	// The burst lets the schedule make up for its own late wake-ups (up to
	// 20 ms); the bucket starts empty, so the run does not open with one.
	burst := max(1, int(perSecond/50))
	lim := rate.NewLimiter(rate.Limit(perSecond), burst)
	lim.AllowN(start, burst)
	go func() {
		defer close(out)
		timer := time.NewTimer(0)
		defer timer.Stop()
		for ctx.Err() == nil {
			now := time.Now()
			due := now.Add(lim.ReserveN(now, 1).DelayFrom(now))
			timer.Reset(time.Until(due))
			select {
			case <-timer.C:
			case <-ctx.Done():
				return
			}
			select {
			case out <- due:
			case <-ctx.Done():
			}
		}
	}()
	return out
}

// runIntake posts generated calls and measures acknowledgement latency.
// In open-loop mode (a rate) each call has a scheduled send time and its
// latency counts from then, so a stalled server is not hidden by posters
// that wait for it.
func runIntake(ctx context.Context, c Config) (IntakeReport, error) {
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: c.Posters, MaxConnsPerHost: c.Posters},
	}
	defer client.CloseIdleConnections()
	city, err := citysim.DefaultCity()
	if err != nil {
		return IntakeReport{}, err
	}
	start := time.Now()
	measureFrom := start.Add(c.Warmup)
	end := measureFrom.Add(c.Duration)
	ctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	due := schedule(ctx, c.Rate, c.Posters, start)

	var (
		mu        sync.Mutex
		latencies []time.Duration
		failed    int
		failures  []string
		lastSeq   int64
		acked     []int64
		wg        sync.WaitGroup
	)
	for p := range c.Posters {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(c.Seed, uint64(p)))
			place := placer(c.Spread, city)
			var mine []time.Duration
			var myFailed int
			var myFailures []string
			var myLast int64
			var myAcked []int64
			for due := range due {
				// The description carries the send time, from which WebSocket
				// clients measure delivery latency.
				lat, lon := place(rng)
				body := fmt.Sprintf(`{"lat":%.6f,"lon":%.6f,"category":%q,"description":"lt:%d"}`,
					lat, lon, categories[rng.IntN(len(categories))], due.UnixNano())
				req, _ := http.NewRequestWithContext(context.WithoutCancel(ctx), "POST", c.URL+"/api/v1/calls", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+c.Token)
				req.Header.Set("Content-Type", "application/json")
				res, err := client.Do(req)
				done := time.Now()
				if done.After(end) {
					if res != nil {
						res.Body.Close()
					}
					break
				}
				ok := err == nil && res.StatusCode == http.StatusCreated
				if ok {
					var stored struct {
						Seq int64 `json:"seq"`
					}
					if json.NewDecoder(res.Body).Decode(&stored) == nil {
						myLast = max(myLast, stored.Seq)
						myAcked = append(myAcked, stored.Seq)
					}
				}
				if res != nil {
					if !ok && len(myFailures) < 3 {
						b, _ := io.ReadAll(io.LimitReader(res.Body, 300))
						myFailures = append(myFailures, fmt.Sprintf("%d %s", res.StatusCode, strings.TrimSpace(string(b))))
					}
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
				} else if len(myFailures) < 3 {
					myFailures = append(myFailures, err.Error())
				}
				if due.Before(measureFrom) {
					continue
				}
				if ok {
					mine = append(mine, done.Sub(due))
				} else {
					myFailed++
				}
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			failed += myFailed
			lastSeq = max(lastSeq, myLast)
			acked = append(acked, myAcked...)
			if len(failures) < 5 {
				failures = append(failures, myFailures...)
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(latencies) == 0 && failed == 0 {
		return IntakeReport{}, errors.New("no call was sent in the measured period")
	}
	slices.Sort(latencies)
	ms := func(q float64) float64 {
		if len(latencies) == 0 {
			return 0
		}
		i := int(q * float64(len(latencies)-1))
		return float64(latencies[i]) / float64(time.Millisecond)
	}
	return IntakeReport{
		Posters: c.Posters, TargetRate: c.Rate, DurationS: c.Duration.Seconds(),
		Acknowledged: len(latencies), Failed: failed,
		AckPerSecond: float64(len(latencies)) / c.Duration.Seconds(),
		LatencyP50Ms: ms(0.50), LatencyP95Ms: ms(0.95), LatencyP99Ms: ms(0.99), LatencyMaxMs: ms(1),
		LastSeq: lastSeq, FirstFailures: failures, acked: acked,
	}, nil
}

// placer returns the function that places the calls of one poster.
func placer(spread string, city *citysim.City) func(*rand.Rand) (lat, lon float64) {
	if spread == "box" {
		return func(rng *rand.Rand) (float64, float64) {
			return 22.22 + rng.Float64()*0.14, 113.30 + rng.Float64()*0.24
		}
	}
	return func(rng *rand.Rand) (float64, float64) {
		for {
			// The body carries six decimals: a place on a district's edge
			// may fall outside once rounded.
			p, _, _ := city.Place(rng)
			lat, lon := math.Round(p.Lat()*1e6)/1e6, math.Round(p.Lon()*1e6)/1e6
			if citysim.Locate(city.Districts, orb.Point{lon, lat}) != nil {
				return lat, lon
			}
		}
	}
}

// categories are the categories of the generated calls.
var categories = []string{"waterlogging", "fallen_tree", "power_outage", "water_supply", "traffic", "noise", "road_damage", "other"}
