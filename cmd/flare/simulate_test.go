package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/paulmach/orb"

	"flare/callfile"
	"flare/citysim"
)

// runSimulateT runs flare simulate with args and environment env.
func runSimulateT(tb testing.TB, args []string, env map[string]string) (stdout, stderr string, err error) {
	tb.Helper()
	var out, errOut bytes.Buffer
	err = runSimulate(context.Background(), args, func(k string) string { return env[k] }, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestSimulateIsSeeded(t *testing.T) {
	args := []string{"--seed", "11", "--duration", "3h", "--calls-per-day", "2000"}
	a, _, err := runSimulateT(t, args, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := runSimulateT(t, nil, map[string]string{"FLARE_SEED": "11", "FLARE_DURATION": "3h", "FLARE_CALLS_PER_DAY": "2000"})
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Errorf("runSimulate(seed 11) by flags and by environment differ")
	}
	c, _, err := runSimulateT(t, []string{"--seed", "12", "--duration", "3h", "--calls-per-day", "2000"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a == c {
		t.Errorf("runSimulate(seed 12) = runSimulate(seed 11), want different calls")
	}
	if !strings.HasPrefix(a, "id,received_at,lat,lon,category,urgent") {
		t.Errorf("runSimulate output starts %q, want the CSV header detect reads", a[:min(60, len(a))])
	}
}

func TestSimulateThenDetect(t *testing.T) {
	dir := t.TempDir()
	for _, ext := range []string{"csv", "jsonl"} {
		t.Run(ext+" file finds the typhoon", func(t *testing.T) {
			path := filepath.Join(dir, "day."+ext)
			if _, _, err := runSimulateT(t, []string{"--seed", "2", "--out", path}, nil); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			r := callfile.NewReader(f)
			calls, err := r.ReadAll(func(e *callfile.RowError) error { return e })
			f.Close()
			if err != nil || len(calls) < 2000 {
				t.Fatalf("reading %s back: %d calls, %v", path, len(calls), err)
			}
			if r.Format().String() != ext {
				t.Errorf("file format = %v, want %s", r.Format(), ext)
			}
			out, errOut, err := runDetectT(t, []string{"--in", path, "--rule", "waterlogging", "--at", "2026-07-02T00:40:00+08:00", "--strict"}, nil)
			if err != nil {
				t.Fatalf("runDetect = %v\n%s", err, errOut)
			}
			var line detectLine
			if err := json.Unmarshal([]byte(out), &line); err != nil {
				t.Fatal(err)
			}
			if len(line.Clusters) < 3 {
				t.Errorf("waterlogging clusters on the typhoon night = %d, want at least 3", len(line.Clusters))
			}
		})
	}
}

// TestSimulateRealDistricts simulates calls inside a DataV boundary file:
// the project's small stand-in always, and the real boundaries when the
// shared data folder (../shared/data) is beside the repository.
func TestSimulateRealDistricts(t *testing.T) {
	files := map[string]string{"fixture": filepath.Join("..", "..", "testdata", "districts.geojson")}
	if p := filepath.Join("..", "..", "..", "shared", "data", "zhuhai-districts.geojson"); fileExists(p) {
		files["shared"] = p
	}
	for name, path := range files {
		t.Run(name, func(t *testing.T) {
			out, _, err := runSimulateT(t, []string{"--districts", path, "--duration", "2h", "--format", "jsonl", "--scenarios", "none"}, nil)
			if err != nil {
				t.Fatalf("runSimulate(--districts %s) = %v", path, err)
			}
			if n := strings.Count(out, "\n"); n < 50 {
				t.Errorf("runSimulate(--districts %s) wrote %d calls, want a couple of hours' worth", path, n)
			}
			calls, err := callfile.NewReader(strings.NewReader(out)).ReadAll(func(e *callfile.RowError) error { return e })
			if err != nil {
				t.Fatalf("reading the simulated calls back: %v", err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			ds, err := citysim.ParseDistricts(data)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range calls {
				if citysim.Locate(ds, orb.Point{c.Lon, c.Lat}) == nil {
					t.Fatalf("simulated call %s at %v,%v is outside the districts of %s", c.ID, c.Lat, c.Lon, path)
				}
			}
		})
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func TestSimulatePost(t *testing.T) {
	var mu sync.Mutex
	ids := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path != "/api/v1/calls" || r.Header.Get("Authorization") != "Bearer agent-token" {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":{"code":"unauthorized","message":"no","field":""}}`))
			return
		}
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		id, _ := body["id"].(string)
		if ids[id] {
			w.WriteHeader(http.StatusOK)
		} else {
			ids[id] = true
			w.WriteHeader(http.StatusCreated)
		}
		w.Write([]byte(`{"id":"` + id + `","seq":1}`))
	}))
	defer srv.Close()
	args := []string{"--post", srv.URL, "--speed", "0", "--duration", "30m", "--scenarios", "none"}
	_, errOut, err := runSimulateT(t, args, map[string]string{"FLARE_TOKEN": "agent-token"})
	if err != nil {
		t.Fatalf("runSimulate(--post) = %v\n%s", err, errOut)
	}
	if len(ids) == 0 || !strings.Contains(errOut, "100%") || !strings.Contains(errOut, "replayed 0") {
		t.Errorf("posted %d calls, stderr %q; want calls, a finished progress bar and a summary", len(ids), errOut)
	}
	// Running again replays the same ids.
	_, errOut, err = runSimulateT(t, append(args, "--quiet"), map[string]string{"FLARE_TOKEN": "agent-token"})
	if err != nil || !strings.Contains(errOut, "created 0") {
		t.Errorf("second runSimulate(--post) = %v, %q; want every call replayed", err, errOut)
	}
	if _, _, err := runSimulateT(t, args, map[string]string{"FLARE_TOKEN": "wrong"}); err == nil || !strings.Contains(err.Error(), "refused the token") {
		t.Errorf("runSimulate(--post, wrong token) = %v, want the refusal", err)
	}
	if _, _, err := runSimulateT(t, args, nil); err == nil || !strings.Contains(err.Error(), "--token") {
		t.Errorf("runSimulate(--post without token) = %v, want it to ask for --token", err)
	}
}

func TestSimulateRejectsBadFlags(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown scenario", []string{"--scenarios", "earthquake"}, "earthquake"},
		{"bad start", []string{"--start", "noon"}, "RFC 3339"},
		{"bad format", []string{"--format", "xml"}, "xml"},
		{"absent districts file", []string{"--districts", "absent.geojson"}, "absent.geojson"},
		{"negative speed", []string{"--speed", "-1"}, "negative"},
	} {
		t.Run(tt.name+" is an error", func(t *testing.T) {
			_, _, err := runSimulateT(t, tt.args, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("runSimulate(%q) = %v, want an error mentioning %q", tt.args, err, tt.want)
			}
		})
	}
}
