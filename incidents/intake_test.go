package incidents_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"flare/incidents"
	"flare/incidents/defaults"
	"flare/incidents/sqlite"
)

func openStore(tb testing.TB) *sqlite.Store {
	tb.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "flare.db"), sqlite.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	if err := s.MigrateUp(ctx); err != nil {
		tb.Fatal(err)
	}
	return s
}

// countingStore counts CreateCalls batches and fails those holding a call
// with id "poison".
type countingStore struct {
	incidents.Store
	batches atomic.Int64
}

func (s *countingStore) CreateCalls(ctx context.Context, calls []incidents.NewCall) ([]incidents.CreateResult, error) {
	s.batches.Add(1)
	for _, c := range calls {
		if c.ID == "poison" {
			return nil, errors.New("disk on fire")
		}
	}
	return s.Store.CreateCalls(ctx, calls)
}

func newIntake(tb testing.TB, store incidents.Store) *incidents.Intake {
	tb.Helper()
	tax, err := incidents.ParseTaxonomy(defaults.Categories)
	if err != nil {
		tb.Fatal(err)
	}
	area, err := incidents.ParseRegions("Zhuhai", defaults.ZhuhaiDistricts)
	if err != nil {
		tb.Fatal(err)
	}
	in := incidents.NewIntake(incidents.IntakeConfig{Store: store, Taxonomy: tax, Area: area})
	tb.Cleanup(func() { in.Close(context.Background()) })
	return in
}

func ptr[T any](v T) *T { return &v }

func input(id string) incidents.CallInput {
	in := incidents.CallInput{Lat: ptr(22.2710), Lon: ptr(113.5767), Category: ptr("waterlogging")}
	if id != "" {
		in.ID = ptr(id)
	}
	return in
}

func TestRegisterCommitsConcurrentCallsTogether(t *testing.T) {
	store := &countingStore{Store: openStore(t)}
	in := newIntake(t, store)
	const n = 300
	var wg sync.WaitGroup
	seqs := make([]int64, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, created, err := in.Register(context.Background(), "agent:t", "", input(fmt.Sprintf("c%d", i)))
			if err == nil && !created {
				err = errors.New("not created")
			}
			seqs[i], errs[i] = c.Seq, err
		}(i)
	}
	wg.Wait()
	seen := map[int64]bool{}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Register(c%d) = %v", i, err)
		}
		if seqs[i] < 1 || seqs[i] > n || seen[seqs[i]] {
			t.Fatalf("Register(c%d) seq = %d, want a unique seq in 1..%d", i, seqs[i], n)
		}
		seen[seqs[i]] = true
	}
	if b := store.batches.Load(); b >= n {
		t.Errorf("%d calls took %d commits, want fewer (group commit)", n, b)
	}
}

func TestRegisterIsolatesACallThatFailsItsBatch(t *testing.T) {
	store := &countingStore{Store: openStore(t)}
	in := newIntake(t, store)
	var wg sync.WaitGroup
	results := map[string]error{}
	var mu sync.Mutex
	for _, id := range []string{"a", "b", "poison", "c", "d", "e", "f"} {
		wg.Add(1)
		go func(id string) {
			defer wg.Done()
			_, _, err := in.Register(context.Background(), "agent:t", "", input(id))
			mu.Lock()
			results[id] = err
			mu.Unlock()
		}(id)
	}
	wg.Wait()
	for id, err := range results {
		if id == "poison" {
			if incidents.ErrorCode(err) != incidents.CodeUnavailable {
				t.Errorf("Register(poison) = %v, want code unavailable", err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Register(%s) = %v, want stored despite the failing call", id, err)
		}
	}
}

func TestCloseCommitsQueuedCallsThenRefuses(t *testing.T) {
	store := openStore(t)
	in := newIntake(t, store)
	if _, _, err := in.Register(context.Background(), "agent:t", "", input("before")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := in.Close(ctx); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	_, _, err := in.Register(context.Background(), "agent:t", "", input("after"))
	if incidents.ErrorCode(err) != incidents.CodeUnavailable {
		t.Errorf("Register after Close = %v, want unavailable", err)
	}
	if _, err := store.GetCall(context.Background(), "before"); err != nil {
		t.Errorf("GetCall(before) = %v, want the call committed before Close", err)
	}
}

func TestPrepareKeepsWhatTheCallerSent(t *testing.T) {
	now := time.Date(2026, 9, 14, 13, 0, 0, 123456789, time.UTC)
	tax, _ := incidents.ParseTaxonomy(defaults.Categories)
	in := incidents.NewIntake(incidents.IntakeConfig{Store: openStore(t), Taxonomy: tax, Now: func() time.Time { return now }})
	defer in.Close(context.Background())
	got, err := in.Prepare("agent:x", "k1", incidents.CallInput{
		Lat: ptr(10.0), Lon: ptr(20.0), Category: ptr("noise"), Address: ptr("  trimmed  "),
		ReceivedAt: ptr("2026-09-14T20:59:00.1234567+08:00"), Urgent: ptr(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 9, 14, 12, 59, 0, 123456000, time.UTC)
	if !got.ReceivedAt.Equal(want) || got.ReceivedAt.Location() != time.UTC || got.Address != "trimmed" ||
		!got.Urgent || got.Actor != "agent:x" || got.IdempotencyKey != "k1" || got.RecordedAt != now.Truncate(time.Microsecond) {
		t.Errorf("Prepare() = %+v, want received_at %v in UTC to the microsecond, trimmed address, urgent", got, want)
	}
	if got.ID == "" || got.RequestHash == "" {
		t.Errorf("Prepare() id %q hash %q, want both set", got.ID, got.RequestHash)
	}
	same, _ := in.Prepare("agent:y", "k1", incidents.CallInput{
		Lat: ptr(10.0), Lon: ptr(20.0), Category: ptr("noise"), Address: ptr("  trimmed  "),
		ReceivedAt: ptr("2026-09-14T20:59:00.1234567+08:00"), Urgent: ptr(true),
	})
	if same.RequestHash != got.RequestHash {
		t.Errorf("RequestHash differs for the same request")
	}
}

func TestParseTaxonomyRefusesBadData(t *testing.T) {
	tests := []struct{ name, data, field string }{
		{"not JSON", `{`, ""},
		{"no categories", `{"groups":[{"code":"g","name_zh":"组","name_en":"G"}],"categories":[]}`, "categories"},
		{"bad code", `{"groups":[{"code":"g","name_zh":"组","name_en":"G"}],"categories":[{"code":"Bad Code","name_zh":"x","name_en":"x","group":"g"}]}`, "categories[0].code"},
		{"duplicate code", `{"groups":[{"code":"g","name_zh":"组","name_en":"G"}],"categories":[{"code":"a","name_zh":"x","name_en":"x","group":"g"},{"code":"a","name_zh":"y","name_en":"y","group":"g"}]}`, "categories[1].code"},
		{"unknown group", `{"groups":[{"code":"g","name_zh":"组","name_en":"G"}],"categories":[{"code":"a","name_zh":"x","name_en":"x","group":"h"}]}`, "categories[0].group"},
		{"missing name", `{"groups":[{"code":"g","name_zh":"组","name_en":"G"}],"categories":[{"code":"a","name_en":"x","group":"g"}]}`, "categories[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := incidents.ParseTaxonomy([]byte(tt.data))
			var e *incidents.Error
			if !errors.As(err, &e) || e.Code != incidents.CodeInvalid || e.Field != tt.field {
				t.Errorf("ParseTaxonomy(%s) = %v, want invalid on %q", tt.data, err, tt.field)
			}
		})
	}
	tax, err := incidents.ParseTaxonomy(defaults.Categories)
	if err != nil {
		t.Fatalf("ParseTaxonomy(default) = %v", err)
	}
	for _, code := range []string{"waterlogging", "fallen_tree", "power_outage", "water_supply", "gas_leak", "fire",
		"road_damage", "traffic", "building_safety", "public_health", "environment", "noise", "other"} {
		if _, ok := tax.Category(code); !ok {
			t.Errorf("default taxonomy lacks %q", code)
		}
	}
}

// repoDir is the repository's root.
func repoDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..")
}

// fixtures stand in for the shared reference files on a clone without
// ../shared/data: the project's own small files with the same shape.
var fixtures = map[string]string{"zhuhai-districts.geojson": "districts.geojson"}

// sharedData returns the path of a file in the shared reference data
// beside the repository. Where the folder is absent (a fresh clone) it
// returns the project's own stand-in from testdata/, and skips the test
// only for a file that has none.
func sharedData(tb testing.TB, name string) string {
	tb.Helper()
	path := filepath.Join(repoDir(), "..", "shared", "data", name)
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if f, ok := fixtures[name]; ok {
		return filepath.Join(repoDir(), "testdata", f)
	}
	tb.Skipf("reference data %s not found (../shared/data is only on developer and CI machines)", path)
	return ""
}

// districtFiles returns the district boundary files to test on, by name:
// the project's own small fixture always, and the real boundaries from
// ../shared/data when that folder is there.
func districtFiles() map[string]string {
	files := map[string]string{"fixture": filepath.Join(repoDir(), "testdata", "districts.geojson")}
	if p := filepath.Join(repoDir(), "..", "shared", "data", "zhuhai-districts.geojson"); fileExists(p) {
		files["shared"] = p
	}
	return files
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func TestDefaultServiceAreaCoversZhuhai(t *testing.T) {
	area, err := incidents.ParseRegions("Zhuhai", defaults.ZhuhaiDistricts)
	if err != nil {
		t.Fatal(err)
	}
	places := []struct {
		name     string
		lon, lat float64
		inside   bool
	}{
		{"Gongbei port", 113.5497, 22.2220, true},
		{"Jida", 113.5800, 22.2680, true},
		{"Tangjiawan", 113.5850, 22.3600, true},
		{"Doumen Jingan town", 113.2960, 22.2090, true},
		{"Sanzao (Jinwan)", 113.3620, 22.0400, true},
		{"Hengqin", 113.5300, 22.1250, true},
		{"Macau peninsula", 113.5439, 22.1987, false},
		{"Zhongshan city centre", 113.3926, 22.5176, false},
		{"Beijing", 116.4074, 39.9042, false},
	}
	for _, p := range places {
		if got := area.Contains(p.lon, p.lat); got != p.inside {
			t.Errorf("Contains(%s %v,%v) = %v, want %v", p.name, p.lon, p.lat, got, p.inside)
		}
	}
	// District boundary files: each district's own centre point must fall
	// inside the coarse default area.
	for name, path := range districtFiles() {
		t.Run(name+" district centres are inside", func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var fc struct {
				Features []struct {
					Properties struct {
						Name   string     `json:"name"`
						Center [2]float64 `json:"center"`
					} `json:"properties"`
				} `json:"features"`
			}
			if err := json.Unmarshal(data, &fc); err != nil {
				t.Fatal(err)
			}
			if len(fc.Features) != 3 {
				t.Errorf("%s has %d districts, want Zhuhai's 3", path, len(fc.Features))
			}
			for _, f := range fc.Features {
				c := f.Properties.Center
				if !area.Contains(c[0], c[1]) {
					t.Errorf("default area lacks the centre of %s at %v", f.Properties.Name, c)
				}
			}
		})
	}
	if _, err := incidents.ParseRegions("x", []byte(`{"type":"Point","coordinates":[1,2]}`)); err == nil {
		t.Error("ParseRegions(Point) succeeded, want an error: no polygon")
	}
}

func asError(err error, target **incidents.Error) bool { return errors.As(err, target) }
