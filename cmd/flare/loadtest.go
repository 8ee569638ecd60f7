package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/paulmach/orb"

	"flare/citysim"
)

// loadConfig is the configuration of `flare loadtest`.
type loadConfig struct {
	url      string
	token    string
	posters  int
	rate     float64
	duration time.Duration
	warmup   time.Duration
	json     bool
	seed     uint64
	spread   string
	profile  string
	ws       wsLoadConfig
}

// intakeReport is what a load test measured of call intake.
type intakeReport struct {
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

func runLoadtest(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var c loadConfig
	fs := newFlagSet("loadtest", "Drives a running Flare with calls and reports throughput and latency; with --ws-clients, also WebSocket delivery.", stderr)
	fs.StringVar(&c.url, "url", "http://127.0.0.1:8080", "base URL of the Flare to load")
	fs.StringVar(&c.token, "token", "", "agent bearer token (see flare token --role agent)")
	fs.IntVar(&c.posters, "posters", 64, "concurrent HTTP clients posting calls")
	fs.Float64Var(&c.rate, "rate", 0, "calls per second in all (open loop); 0 posts as fast as the posters can")
	fs.DurationVar(&c.duration, "duration", 20*time.Second, "how long to measure")
	fs.DurationVar(&c.warmup, "warmup", 2*time.Second, "load before measuring starts (not counted)")
	fs.BoolVar(&c.json, "json", false, "print the report as JSON")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the generated calls")
	fs.StringVar(&c.spread, "spread", "city", "where the calls come from: city (around Zhuhai's busy places, as flare simulate places them) or box (evenly over 375 km² of Xiangzhou and Doumen)")
	fs.StringVar(&c.profile, "cpu-profile", "", "write the load tool's own CPU profile to this file (to tell its cost from the server's)")
	c.ws.register(fs)
	if err := parseFlags(fs, args, getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if c.profile != "" {
		f, err := os.Create(c.profile)
		if err != nil {
			return fmt.Errorf("--cpu-profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpu-profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	switch {
	case c.ws.clients < 0:
		return errors.New("--ws-clients must not be negative")
	case c.ws.clients > 0 && c.ws.connRate <= 0:
		return errors.New("--ws-connect-rate must be positive")
	case c.token == "" && c.ws.clients > 0 && (getenv("FLARE_SECRET") != "" || c.ws.dataDir != ""):
		// an agent token is minted with the other roles' tokens
	case c.token == "":
		return errors.New("--token is required (flare token --role agent)")
	case c.posters < 1:
		return errors.New("--posters must be at least 1")
	case c.rate < 0:
		return errors.New("--rate must not be negative")
	case c.duration <= 0:
		return errors.New("--duration must be positive")
	case c.duration+c.warmup > 2*time.Hour:
		return errors.New("--duration and --warmup add up to more than two hours")
	case c.spread != "city" && c.spread != "box":
		return fmt.Errorf("--spread must be city or box, not %q", c.spread)
	}
	if c.ws.clients > 0 {
		full, err := runWSLoad(ctx, c, c.ws, getenv, stdout)
		if err != nil {
			return err
		}
		if c.json {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(full)
		}
		if full.Intake != nil {
			printIntakeReport(stdout, *full.Intake)
		}
		printWSReport(stdout, full.WS)
		return nil
	}
	rep, err := loadIntake(ctx, c)
	if err != nil {
		return err
	}
	if c.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printIntakeReport(stdout, rep)
	return nil
}

// printIntakeReport writes the intake part of the text summary.
func printIntakeReport(stdout io.Writer, rep intakeReport) {
	mode := "as fast as possible"
	if rep.TargetRate > 0 {
		mode = fmt.Sprintf("%.0f calls/s target", rep.TargetRate)
	}
	fmt.Fprintf(stdout, "intake: %d posters, %s, %.1fs measured\n", rep.Posters, mode, rep.DurationS)
	fmt.Fprintf(stdout, "  acknowledged  %d (%.0f calls/s), failed %d\n", rep.Acknowledged, rep.AckPerSecond, rep.Failed)
	fmt.Fprintf(stdout, "  latency       p50 %.2f ms  p95 %.2f ms  p99 %.2f ms  max %.2f ms\n",
		rep.LatencyP50Ms, rep.LatencyP95Ms, rep.LatencyP99Ms, rep.LatencyMaxMs)
	for _, f := range rep.FirstFailures {
		fmt.Fprintf(stdout, "  failure: %s\n", f)
	}
}

// loadIntake posts generated calls and measures acknowledgement latency.
// In open-loop mode (rate > 0) each call has a scheduled send time and its
// latency counts from then, so a stalled server is not hidden by posters
// that wait for it.
func loadIntake(ctx context.Context, c loadConfig) (intakeReport, error) {
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: c.posters, MaxConnsPerHost: c.posters},
	}
	defer client.CloseIdleConnections()
	city, err := citysim.DefaultCity()
	if err != nil {
		return intakeReport{}, err
	}
	start := time.Now()
	measureFrom := start.Add(c.warmup)
	end := measureFrom.Add(c.duration)
	ctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()

	// The schedule: each value is the time a call should be sent.
	schedule := make(chan time.Time, c.posters)
	go func() {
		defer close(schedule)
		if c.rate == 0 {
			for ctx.Err() == nil {
				select {
				case schedule <- time.Now():
				case <-ctx.Done():
				}
			}
			return
		}
		interval := time.Duration(float64(time.Second) / c.rate)
		for next := start; ctx.Err() == nil; next = next.Add(interval) {
			if d := time.Until(next); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return
				}
			}
			select {
			case schedule <- next:
			case <-ctx.Done():
			}
		}
	}()

	var (
		mu        sync.Mutex
		latencies []time.Duration
		failed    int
		failures  []string
		lastSeq   int64
		acked     []int64
		wg        sync.WaitGroup
	)
	for p := 0; p < c.posters; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(c.seed, uint64(p)))
			place := placer(c.spread, city)
			var mine []time.Duration
			var myFailed int
			var myFailures []string
			var myLast int64
			var myAcked []int64
			for due := range schedule {
				// The description carries the send time, from which WebSocket
				// clients measure delivery latency.
				lat, lon := place(rng)
				body := fmt.Sprintf(`{"lat":%.6f,"lon":%.6f,"category":%q,"description":"lt:%d"}`,
					lat, lon, loadCategories[rng.IntN(len(loadCategories))], due.UnixNano())
				req, _ := http.NewRequestWithContext(context.WithoutCancel(ctx), "POST", c.url+"/api/v1/calls", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+c.token)
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
		}(p)
	}
	wg.Wait()
	if len(latencies) == 0 && failed == 0 {
		return intakeReport{}, errors.New("no call was sent in the measured period")
	}
	slices.Sort(latencies)
	ms := func(q float64) float64 {
		if len(latencies) == 0 {
			return 0
		}
		i := int(q * float64(len(latencies)-1))
		return float64(latencies[i]) / float64(time.Millisecond)
	}
	return intakeReport{
		Posters: c.posters, TargetRate: c.rate, DurationS: c.duration.Seconds(),
		Acknowledged: len(latencies), Failed: failed,
		AckPerSecond: float64(len(latencies)) / c.duration.Seconds(),
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

var loadCategories = []string{"waterlogging", "fallen_tree", "power_outage", "water_supply", "traffic", "noise", "road_damage", "other"}
