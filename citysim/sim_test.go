package citysim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"flare/callfile"
	"flare/geo"
)

// generate runs a simulation or fails the test.
func generate(tb testing.TB, cfg Config) []callfile.Call {
	tb.Helper()
	calls, err := Generate(cfg)
	if err != nil {
		tb.Fatalf("Generate(%+v) = %v", cfg, err)
	}
	return calls
}

// repoDir returns the repository's root: the nearest folder up with a go.mod.
func repoDir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("repository root not found")
		}
		dir = parent
	}
}

// districtFiles returns the district boundary files to test on, by name:
// the project's own small fixture always, and the real boundaries from the
// shared data folder beside the repository (../shared/data) when it is
// there.
func districtFiles(tb testing.TB) map[string]string {
	tb.Helper()
	root := repoDir(tb)
	files := map[string]string{"fixture": filepath.Join(root, "testdata", "districts.geojson")}
	if p := filepath.Join(root, "..", "shared", "data", "zhuhai-districts.geojson"); fileExists(p) {
		files["shared"] = p
	}
	return files
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func TestGenerateIsDeterministic(t *testing.T) {
	cfg := Config{Seed: 42, Duration: 6 * time.Hour, Scenarios: DefaultScenarios()}
	a, b := generate(t, cfg), generate(t, cfg)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("Generate(seed 42) twice gave different calls")
	}
	cfg.Seed = 43
	if c := generate(t, cfg); reflect.DeepEqual(a, c) {
		t.Fatalf("Generate(seed 43) = Generate(seed 42), want different calls")
	}
}

func TestGenerateShapesTheDay(t *testing.T) {
	calls := generate(t, Config{Seed: 1})
	city, err := DefaultCity()
	if err != nil {
		t.Fatal(err)
	}
	byHour := make([]int, 24)
	ids := map[string]bool{}
	for i, c := range calls {
		if i > 0 && c.ReceivedAt.Before(calls[i-1].ReceivedAt) {
			t.Fatalf("call %s comes before the call ahead of it", c.ID)
		}
		if ids[c.ID] {
			t.Fatalf("id %s repeats", c.ID)
		}
		ids[c.ID] = true
		if Locate(city.Districts, orb.Point{c.Lon, c.Lat}) == nil {
			t.Errorf("call %s at %v,%v is in no district", c.ID, c.Lat, c.Lon)
		}
		byHour[c.ReceivedAt.In(Zone).Hour()]++
	}
	if n := len(calls); n < DefaultCallsPerDay*8/10 || n > DefaultCallsPerDay*12/10 {
		t.Errorf("Generate(one day) made %d calls, want about %d", n, DefaultCallsPerDay)
	}
	if byHour[10] < 4*byHour[3] {
		t.Errorf("calls at 10:00 = %d, at 03:00 = %d; want office hours several times busier", byHour[10], byHour[3])
	}
}

func TestOutputReadsBack(t *testing.T) {
	calls := generate(t, Config{Seed: 7, Duration: 3 * time.Hour, Scenarios: DefaultScenarios()})
	for _, f := range []callfile.Format{callfile.CSV, callfile.JSONL} {
		t.Run(f.String()+" reads back whole", func(t *testing.T) {
			var buf bytes.Buffer
			w := callfile.NewWriter(&buf, f)
			for _, c := range calls {
				if err := w.Write(c); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			back, err := callfile.NewReader(&buf).ReadAll(func(e *callfile.RowError) error { return e })
			if err != nil {
				t.Fatalf("ReadAll = %v", err)
			}
			if len(back) != len(calls) {
				t.Fatalf("read back %d calls, want %d", len(back), len(calls))
			}
			for i := range back {
				back[i].Line = 0
				if !back[i].ReceivedAt.Equal(calls[i].ReceivedAt) {
					t.Fatalf("call %d time = %v, want %v", i, back[i].ReceivedAt, calls[i].ReceivedAt)
				}
				back[i].ReceivedAt = calls[i].ReceivedAt
			}
			if !reflect.DeepEqual(back, calls) {
				t.Errorf("read back calls differ from those written")
			}
		})
	}
}

func TestScenariosMakeClusters(t *testing.T) {
	city, err := DefaultCity()
	if err != nil {
		t.Fatal(err)
	}
	day := DefaultStart.Add(-6 * time.Hour) // midnight
	tests := []struct {
		name      string
		from, to  time.Duration // after midnight, looked at every 10 minutes
		rule      string
		min       int // clusters of the rule at once, at the best time
		districts int // distinct districts of their centroids then
		none      bool
	}{
		{"typhoon floods streets across districts", 22 * time.Hour, 26 * time.Hour, "waterlogging", 4, 3, false},
		{"typhoon fells trees", 22 * time.Hour, 26 * time.Hour, "fallen_tree", 2, 1, false},
		{"gas leak is found", 10*time.Hour + 30*time.Minute, 11 * time.Hour, "gas_leak_fire", 1, 1, false},
		{"power cut is found", 19 * time.Hour, 19*time.Hour + 40*time.Minute, "power_outage", 1, 1, false},
		{"quiet morning has no flood", 7 * time.Hour, 9 * time.Hour, "waterlogging", 0, 0, true},
	}
	type snapshot struct {
		counts    map[string]int
		districts map[string]map[string]bool
	}
	for _, seed := range []uint64{1, 2, 3} {
		// Snapshots every 10 minutes through the day, from one pass.
		calls := generate(t, Config{Seed: seed, Scenarios: DefaultScenarios()})
		set, err := geo.NewSet(geo.DefaultRules(), geo.Options{})
		if err != nil {
			t.Fatal(err)
		}
		snaps := map[time.Time]snapshot{}
		next := 0
		for at := DefaultStart; !at.After(DefaultStart.Add(DefaultDuration)); at = at.Add(10 * time.Minute) {
			for ; next < len(calls) && !calls[next].ReceivedAt.After(at); next++ {
				c := calls[next]
				if err := set.Add(geo.Point{ID: c.ID, Time: c.ReceivedAt, Lat: c.Lat, Lon: c.Lon, Category: c.Category}); err != nil {
					t.Fatalf("Add(%s) = %v", c.ID, err)
				}
			}
			set.Advance(at)
			s := snapshot{counts: map[string]int{}, districts: map[string]map[string]bool{}}
			for _, c := range set.Clusters() {
				s.counts[c.Rule]++
				if s.districts[c.Rule] == nil {
					s.districts[c.Rule] = map[string]bool{}
				}
				if d := Locate(city.Districts, c.Centroid); d != nil {
					s.districts[c.Rule][d.Code] = true
				}
			}
			snaps[at] = s
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/seed=%d", tt.name, seed), func(t *testing.T) {
				best, bestDistricts, ok := 0, 0, false
				for at := day.Add(tt.from); !at.After(day.Add(tt.to)); at = at.Add(10 * time.Minute) {
					s, found := snaps[at]
					if !found {
						t.Fatalf("no snapshot at %s", at)
					}
					n, nd := s.counts[tt.rule], len(s.districts[tt.rule])
					if n > best || n == best && nd > bestDistricts {
						best, bestDistricts = n, nd
					}
					ok = ok || n >= tt.min && nd >= tt.districts
				}
				if tt.none && best != 0 {
					t.Errorf("clusters of rule %s = %d, want none", tt.rule, best)
				}
				if !ok {
					t.Errorf("clusters of rule %s at best = %d in %d districts, want at least %d in %d at once", tt.rule, best, bestDistricts, tt.min, tt.districts)
				}
			})
		}
	}
}

// TestRealDistricts reads DataV district boundaries (the real ones when the
// shared data is there, and the project's small stand-in always) and
// generates calls inside them.
func TestRealDistricts(t *testing.T) {
	for name, path := range districtFiles(t) {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			ds, err := ParseDistricts(data)
			if err != nil {
				t.Fatalf("ParseDistricts(%s) = %v", path, err)
			}
			want := map[string]string{"440402": "香洲区", "440403": "斗门区", "440404": "金湾区"}
			got := map[string]string{}
			for _, d := range ds {
				got[d.Code] = d.Name
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("ParseDistricts(%s) codes = %v, want %v", path, got, want)
			}
			calls := generate(t, Config{Seed: 5, Duration: 4 * time.Hour, Districts: ds})
			if len(calls) == 0 {
				t.Fatalf("Generate(districts of %s) made no calls", path)
			}
			seen := map[string]int{}
			for _, c := range calls {
				d := Locate(ds, orb.Point{c.Lon, c.Lat})
				if d == nil {
					t.Fatalf("call %s at %v,%v is outside the districts of %s", c.ID, c.Lat, c.Lon, path)
				}
				seen[d.Code]++
			}
			for code := range want {
				if seen[code] == 0 {
					t.Errorf("Generate(districts of %s) put no call in %s, want calls in every district", path, code)
				}
			}
		})
	}
}

func TestParseDistrictsRejects(t *testing.T) {
	for _, tt := range []struct{ name, src string }{
		{"not json fails", "{"},
		{"no features fails", `{"type":"FeatureCollection","features":[]}`},
		{"point feature fails", `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"name":"x"},"geometry":{"type":"Point","coordinates":[1,2]}}]}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseDistricts([]byte(tt.src)); err == nil {
				t.Errorf("ParseDistricts(%s) = nil error, want one", tt.src)
			}
		})
	}
}

// fakeClock is a clock that moves only when slept on.
type fakeClock struct {
	mu    sync.Mutex
	t     time.Time
	slept time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d > 0 {
		c.mu.Lock()
		c.t = c.t.Add(d)
		c.slept += d
		c.mu.Unlock()
	}
	return nil
}

// flareStub is a test server for POST /api/v1/calls that checks each request
// and answers like Flare: 201, 200 for a replay, 422 for a bad category, one
// 503 first for calls whose id ends in 7.
type flareStub struct {
	tb       testing.TB
	mu       sync.Mutex
	seen     map[string]int
	bodies   []postBody
	failOnce map[string]bool
}

func (s *flareStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fail := func(status int, code, field, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg, "field": field}})
	}
	if r.Method != http.MethodPost || r.URL.Path != "/api/v1/calls" {
		s.tb.Errorf("request %s %s, want POST /api/v1/calls", r.Method, r.URL.Path)
		fail(404, "not_found", "", "no such route")
		return
	}
	if got := r.Header.Get("Authorization"); got != "Bearer tok-agent" {
		fail(401, "unauthorized", "", "bad token")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		s.tb.Errorf("Content-Type = %q, want application/json", ct)
	}
	raw, _ := io.ReadAll(r.Body)
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		s.tb.Errorf("body %s is not JSON: %v", raw, err)
	}
	for _, k := range []string{"id", "received_at", "lat", "lon", "address", "category", "description", "urgent"} {
		if _, ok := fields[k]; !ok {
			s.tb.Errorf("body %s lacks %q", raw, k)
		}
	}
	var b postBody
	json.Unmarshal(raw, &b)
	if _, err := time.Parse(time.RFC3339, b.ReceivedAt); err != nil {
		s.tb.Errorf("received_at %q is not RFC 3339", b.ReceivedAt)
	}
	if key := r.Header.Get("Idempotency-Key"); key != b.ID {
		s.tb.Errorf("Idempotency-Key = %q, want the call id %q", key, b.ID)
	}
	if strings.HasSuffix(b.ID, "7") && !s.failOnce[b.ID] {
		s.failOnce[b.ID] = true
		fail(503, "unavailable", "", "try again")
		return
	}
	if b.Category == "bogus" {
		fail(422, "invalid", "category", "unknown category")
		return
	}
	s.bodies = append(s.bodies, b)
	s.seen[b.ID]++
	w.Header().Set("Content-Type", "application/json")
	if s.seen[b.ID] > 1 {
		w.WriteHeader(http.StatusOK)
	} else {
		w.WriteHeader(http.StatusCreated)
	}
	json.NewEncoder(w).Encode(map[string]any{"id": b.ID, "seq": len(s.bodies), "received_at": b.ReceivedAt})
}

func TestPostLive(t *testing.T) {
	calls := generate(t, Config{Seed: 9, Duration: 2 * time.Hour})
	if len(calls) < 20 {
		t.Fatalf("too few calls: %d", len(calls))
	}
	calls = calls[:20]
	calls[4].Category = "bogus"
	calls = append(calls, calls[2]) // a replay

	stub := &flareStub{tb: t, seen: map[string]int{}, failOnce: map[string]bool{}}
	srv := httptest.NewServer(stub)
	defer srv.Close()
	clock := &fakeClock{t: time.Date(2026, 9, 1, 8, 0, 0, 0, time.UTC)}
	var progress bytes.Buffer
	p := &Poster{URL: srv.URL + "/", Token: "tok-agent", Client: srv.Client(), Speed: 60, Progress: &progress, Now: clock.Now, Sleep: clock.Sleep}
	st, err := p.Post(context.Background(), calls)
	if err != nil {
		t.Fatalf("Post = %v", err)
	}
	want := PostStats{Created: 19, Replayed: 1, Rejected: 1}
	if st != want {
		t.Errorf("Post stats = %+v, want %+v", st, want)
	}
	span := calls[19].ReceivedAt.Sub(calls[0].ReceivedAt)
	retries := 0
	for id := range stub.failOnce {
		_ = id
		retries++
	}
	paced := clock.slept - time.Duration(retries)*500*time.Millisecond
	if lo, hi := span/60-time.Second, span/60+time.Second; paced < lo || paced > hi {
		t.Errorf("slept %s for pacing (%s of calls at speed 60), want about %s", paced, span, span/60)
	}
	if !strings.Contains(progress.String(), "100%") || !strings.Contains(progress.String(), "invalid (category): unknown category") {
		t.Errorf("progress output = %q, want a finished bar and the rejected call", progress.String())
	}
	// Stamped with the posting time, not the simulated one.
	if got := stub.bodies[0].ReceivedAt; !strings.HasPrefix(got, "2026-09-01T08:00") {
		t.Errorf("first received_at = %s, want the posting time 2026-09-01T08:00", got)
	}
}

func TestPostKeepsTimes(t *testing.T) {
	calls := generate(t, Config{Seed: 9, Duration: time.Hour})[:3]
	stub := &flareStub{tb: t, seen: map[string]int{}, failOnce: map[string]bool{}}
	srv := httptest.NewServer(stub)
	defer srv.Close()
	p := &Poster{URL: srv.URL, Token: "tok-agent", KeepTimes: true, Client: srv.Client()}
	if _, err := p.Post(context.Background(), calls); err != nil {
		t.Fatalf("Post = %v", err)
	}
	for i, b := range stub.bodies {
		got, _ := time.Parse(time.RFC3339, b.ReceivedAt)
		if !got.Equal(calls[i].ReceivedAt) {
			t.Errorf("received_at %d = %s, want %s", i, b.ReceivedAt, calls[i].ReceivedAt)
		}
	}
}

func TestPostStopsOnRefusedToken(t *testing.T) {
	calls := generate(t, Config{Seed: 9, Duration: time.Hour})[:5]
	stub := &flareStub{tb: t, seen: map[string]int{}, failOnce: map[string]bool{}}
	srv := httptest.NewServer(stub)
	defer srv.Close()
	p := &Poster{URL: srv.URL, Token: "wrong", Client: srv.Client()}
	st, err := p.Post(context.Background(), calls)
	if !errors.Is(err, ErrUnauthorized) || st.Created != 0 {
		t.Fatalf("Post(wrong token) = %+v, %v; want ErrUnauthorized and nothing created", st, err)
	}
}

// BenchmarkReplayDay replays a simulated city day through all the default
// rules at once, as the hub does, and reports calls per second.
func BenchmarkReplayDay(b *testing.B) {
	for _, perDay := range []float64{DefaultCallsPerDay, 100_000} {
		b.Run(fmt.Sprintf("calls-per-day=%d", int(perDay)), func(b *testing.B) {
			calls := generate(b, Config{Seed: 1, CallsPerDay: perDay, Scenarios: DefaultScenarios()})
			pts := make([]geo.Point, len(calls))
			for i, c := range calls {
				pts[i] = geo.Point{ID: c.ID, Time: c.ReceivedAt, Lat: c.Lat, Lon: c.Lon, Category: c.Category}
			}
			var evs []geo.Event
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				set, err := geo.NewSet(geo.DefaultRules(), geo.Options{})
				if err != nil {
					b.Fatal(err)
				}
				for _, p := range pts {
					if err := set.Add(p); err != nil {
						b.Fatal(err)
					}
					evs = set.TakeEvents(evs[:0])
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(len(pts)), "calls/day")
			b.ReportMetric(float64(len(pts))*float64(b.N)/b.Elapsed().Seconds(), "calls/s")
		})
	}
}
