package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files of flare detect")

// detectDir is where the detect fixtures live.
var detectDir = filepath.Join("..", "..", "testdata", "detect")

// runDetectT runs flare detect with args and environment env.
func runDetectT(tb testing.TB, args []string, env map[string]string) (stdout, stderr string, err error) {
	tb.Helper()
	var out, errOut bytes.Buffer
	err = runDetect(context.Background(), args, func(k string) string { return env[k] }, &out, &errOut)
	return out.String(), errOut.String(), err
}

// written lists the golden files rewritten in this run, so that cases
// sharing one are compared with it after the first has written it.
var written = map[string]bool{}

// golden compares got with the golden file, or rewrites it with -update.
func golden(tb testing.TB, name, got string) {
	tb.Helper()
	path := filepath.Join(detectDir, name)
	if *update && !written[name] {
		written[name] = true
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if got != string(want) {
		tb.Errorf("output differs from %s (run go test -update after checking):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func fixture(name string) string { return filepath.Join(detectDir, name) }

const (
	at1 = "2026-07-01T20:20:00+08:00"
	at2 = "2026-07-01T20:30:00+08:00"
)

func TestDetectGolden(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		golden string
		stderr []string // each must appear on stderr
	}{
		{"csv with custom rule prints one line per at", []string{"--in", fixture("calls.csv"), "--eps", "200", "--min-calls", "3", "--window", "30m", "--at", at1, "--at", at2, "--at", "2026-07-01T20:06:00+08:00"}, nil, "custom.golden", []string{"line 5: lat", "line 12: received_at", "skipped 2 malformed rows"}},
		{"jsonl gives the same clusters as csv", []string{"--in", fixture("calls.jsonl"), "--eps", "200", "--min-calls", "3", "--window", "30m", "--at", at1, "--at", at2, "--at", "2026-07-01T20:06:00+08:00"}, nil, "custom.golden", []string{"line 4: lat", "line 11: received_at"}},
		{"flags read from the environment", nil, map[string]string{"FLARE_IN": fixture("calls.csv"), "FLARE_EPS": "200", "FLARE_MIN_CALLS": "3", "FLARE_WINDOW": "30m", "FLARE_AT": at1 + "," + at2 + ",2026-07-01T20:06:00+08:00"}, "custom.golden", nil},
		{"default rules find the flood and the gas leak", []string{"--in", fixture("clean.csv"), "--rule", "defaults", "--at", at2}, nil, "defaults.golden", nil},
		{"geojson prints a feature collection", []string{"--in", fixture("clean.csv"), "--rule", "waterlogging", "--format", "geojson", "--at", at2}, nil, "waterlogging.geojson.golden", nil},
		{"named rule with a changed eps", []string{"--in", fixture("clean.csv"), "--rule", "waterlogging", "--eps", "100", "--at", at2}, nil, "waterlogging-100m.golden", nil},
		{"no at prints the window of the last call", []string{"--in", fixture("clean.csv"), "--eps", "200", "--min-calls", "3", "--window", "30m", "--categories", "volcanic ash"}, nil, "last.golden", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := runDetectT(t, tt.args, tt.env)
			if err != nil {
				t.Fatalf("runDetect(%q) = %v\nstderr: %s", tt.args, err, errOut)
			}
			golden(t, tt.golden, out)
			for _, s := range tt.stderr {
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr = %q, want it to mention %q", errOut, s)
				}
			}
		})
	}
}

// detectLine is one line of flare detect's JSON output.
type detectLine struct {
	At       string `json:"at"`
	Clusters []struct {
		Rule      string          `json:"rule"`
		Calls     []string        `json:"calls"`
		CoreCalls []string        `json:"core_calls"`
		Centroid  [2]float64      `json:"centroid"`
		Hull      json.RawMessage `json:"hull"`
	} `json:"clusters"`
}

func TestDetectClusters(t *testing.T) {
	out, _, err := runDetectT(t, []string{"--in", fixture("calls.csv"), "--eps", "200", "--min-calls", "3", "--window", "30m", "--at", at2, "--at", at1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("runDetect printed %d lines, want 2 (one per --at)", len(lines))
	}
	var first detectLine
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if first.At != at2 {
		t.Errorf("first line at = %s, want %s (the order given)", first.At, at2)
	}
	var got [][]string
	for _, c := range first.Clusters {
		calls := slices.Clone(c.Calls)
		slices.Sort(calls)
		got = append(got, calls)
		var hull struct {
			Type        string        `json:"type"`
			Coordinates [][][]float64 `json:"coordinates"`
		}
		if err := json.Unmarshal(c.Hull, &hull); err != nil || hull.Type != "Polygon" || len(hull.Coordinates[0]) < 4 {
			t.Errorf("hull = %s, want a GeoJSON Polygon", c.Hull)
		}
		if lon, lat := c.Centroid[0], c.Centroid[1]; calls[0][0] != 'i' && (lon < 113 || lon > 114 || lat < 22 || lat > 23) {
			t.Errorf("centroid = %v, want [lon, lat] in Zhuhai", c.Centroid)
		}
	}
	slices.SortFunc(got, func(a, b []string) int { return strings.Compare(a[0], b[0]) })
	want := [][]string{{"g1", "g2", "g3"}, {"is1", "is2", "is3", "is4"}, {"w1", "w2", "w3", "w4", "w5", "w6", "w7"}}
	if !slices.EqualFunc(got, want, slices.Equal[[]string]) {
		t.Errorf("clusters at %s = %v, want %v", at2, got, want)
	}
	var second detectLine
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatal(err)
	}
	for _, c := range second.Clusters {
		if slices.Contains(c.Calls, "w7") {
			t.Errorf("clusters at %s hold w7, which came at 20:26", at1)
		}
	}
}

func TestDetectErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"strict stops at the first malformed row", []string{"--in", fixture("calls.csv"), "--rule", "any", "--strict"}, "line 5"},
		{"strict jsonl names its line", []string{"--in", fixture("calls.jsonl"), "--rule", "any", "--strict"}, "line 4"},
		{"missing input is an error", []string{"--rule", "any"}, "--in"},
		{"missing rule parameters are named", []string{"--in", fixture("clean.csv"), "--eps", "100"}, "--min-calls, --window"},
		{"unknown rule is an error", []string{"--in", fixture("clean.csv"), "--rule", "floods"}, "not a default rule"},
		{"invalid eps is an error", []string{"--in", fixture("clean.csv"), "--eps", "0", "--min-calls", "3", "--window", "1h"}, "eps"},
		{"bad at is an error", []string{"--in", fixture("clean.csv"), "--rule", "any", "--at", "tomorrow"}, "RFC 3339"},
		{"bad format is an error", []string{"--in", fixture("clean.csv"), "--rule", "any", "--format", "kml"}, "kml"},
		{"absent file is an error", []string{"--in", fixture("absent.csv"), "--rule", "any"}, "absent.csv"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runDetectT(t, tt.args, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("runDetect(%q) = %v, want an error mentioning %q", tt.args, err, tt.want)
			}
		})
	}
}

func TestDetectDuplicateIDsReported(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dup.csv")
	src := "id,received_at,lat,lon,category\na,2026-07-01T20:00:00Z,1,1,x\na,2026-07-01T20:01:00Z,1,1,x\n"
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, err := runDetectT(t, []string{"--in", path, "--rule", "any"}, nil)
	if err != nil || !strings.Contains(errOut, "line 3: id \"a\" repeats the call on line 2") {
		t.Errorf("runDetect(duplicate ids) = %v, stderr %q; want the repeat reported on line 3", err, errOut)
	}
}

// townCalls writes a file of calls from a town far from Zhuhai, with
// categories of its own: days of ordinary calls, busy in the centre and by
// day, and one surge of burst pipes in a quiet street on the last day. It
// returns the file and the surge's call ids.
func townCalls(tb testing.TB, days int) (path string, surge []string) {
	tb.Helper()
	rng := rand.New(rand.NewPCG(15, 1))
	const lat0, lon0 = 64.1466, -21.9426 // Reykjavik
	zone := time.FixedZone("GMT", 0)
	start := time.Date(2026, 2, 2, 0, 0, 0, 0, zone)
	cats := []string{"road ice", "noise", "ash fall", "pipe burst", "noise", "road ice", "other"}
	var b strings.Builder
	b.WriteString("id,received_at,lat,lon,category\n")
	n := 0
	add := func(id string, t time.Time, dy, dx float64, cat string) {
		lat := lat0 + dy/111.2
		lon := lon0 + dx/(111.2*math.Cos(lat0*math.Pi/180))
		fmt.Fprintf(&b, "%s,%s,%.6f,%.6f,%s\n", id, t.Format(time.RFC3339), lat, lon, cat)
	}
	surgeAt := start.Add(time.Duration(days-1)*24*time.Hour + 14*time.Hour)
	for t := start; t.Before(start.Add(time.Duration(days) * 24 * time.Hour)); t = t.Add(time.Minute) {
		rate := 1.2
		if h := t.Hour(); h < 7 || h >= 22 {
			rate = 0.25
		}
		for k := poissonT(rng, rate); k > 0; k-- {
			var dy, dx float64
			if rng.IntN(10) < 7 {
				dy, dx = rng.NormFloat64()*1.5, rng.NormFloat64()*1.5
			} else {
				dy, dx = rng.Float64()*16-8, rng.Float64()*16-8
			}
			n++
			add(fmt.Sprintf("r%05d", n), t.Add(time.Duration(rng.IntN(60))*time.Second), dy, dx, cats[rng.IntN(len(cats))])
		}
		if !t.Before(surgeAt) && t.Before(surgeAt.Add(30*time.Minute)) && t.Sub(surgeAt)%(5*time.Minute) == 0 {
			id := fmt.Sprintf("burst%d", len(surge)+1)
			surge = append(surge, id)
			add(id, t.Add(30*time.Second), 6+rng.Float64()*0.2, -5+rng.Float64()*0.2, "pipe burst")
		}
	}
	path = filepath.Join(tb.TempDir(), "town.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path, surge
}

func poissonT(r *rand.Rand, lambda float64) int {
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// alertOut is one line of flare detect --alerts.
type alertOut struct {
	At             time.Time  `json:"at"`
	Grade          string     `json:"grade"`
	Calls          []string   `json:"calls"`
	Observed       int        `json:"observed"`
	Expected       float64    `json:"expected"`
	Score          float64    `json:"score"`
	RecurrenceDays float64    `json:"recurrence_days"`
	Centroid       [2]float64 `json:"centroid"`
	Rule           string     `json:"rule"`
}

func readAlerts(tb testing.TB, out string) []alertOut {
	tb.Helper()
	var alerts []alertOut
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(l))
		dec.DisallowUnknownFields()
		var a alertOut
		if err := dec.Decode(&a); err != nil {
			tb.Fatalf("alert line %q: %v", l, err)
		}
		alerts = append(alerts, a)
	}
	return alerts
}

func TestDetectAlertsFindTheSurgeAnywhere(t *testing.T) {
	path, surge := townCalls(t, 4)
	args := []string{"--in", path, "--eps", "400", "--min-calls", "4", "--window", "1h", "--categories", "pipe burst", "--alerts", "--warmup", "72h"}
	out, errOut, err := runDetectT(t, args, nil)
	if err != nil {
		t.Fatalf("runDetect(%q) = %v\nstderr: %s", args, err, errOut)
	}
	golden(t, "alerts.golden", out)
	alerts := readAlerts(t, out)
	found, others := false, 0
	for _, a := range alerts {
		hit := slices.ContainsFunc(a.Calls, func(id string) bool { return slices.Contains(surge, id) })
		if !hit {
			// The calibration expects about one grade III surge by chance
			// in 30 days, one grade II in 300.
			if others++; others > 1 || a.Grade == "I" || a.Grade == "II" {
				t.Errorf("alert %+v holds none of the surge's calls; want at most one such on an ordinary day, below grade II", a)
			}
			continue
		}
		if a.Grade == "I" || a.Grade == "II" || a.Grade == "III" {
			found = true
		}
		if a.Rule != "custom" || a.Observed < 4 || !(a.Expected > 0 && a.Expected < 1) || a.Score <= 0 || a.RecurrenceDays < 10 {
			t.Errorf("alert = %+v, want the custom rule, at least 4 calls observed against well under one expected, recurring less than once in 10 days", a)
		}
		if lon, lat := a.Centroid[0], a.Centroid[1]; lat < 64 || lat > 64.3 || lon > -21.9 || lon < -22.2 {
			t.Errorf("alert centroid = %v, want [lon, lat] west of Reykjavik's centre", a.Centroid)
		}
	}
	if !found {
		t.Errorf("alerts = %+v, want the burst pipes %v at grade III or above", alerts, surge)
	}
}

func TestDetectAlertsWaitForTheWarmup(t *testing.T) {
	path, _ := townCalls(t, 4)
	out, _, err := runDetectT(t, []string{"--in", path, "--eps", "400", "--min-calls", "4", "--window", "1h", "--categories", "pipe burst", "--alerts"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out != "" {
		t.Errorf("--alerts over 4 days with the default 7-day warmup printed %q, want nothing", out)
	}
	// The same days as history warm the baseline for a stream of their last
	// day alone.
	hist, _ := townCalls(t, 3)
	out, _, err = runDetectT(t, []string{"--in", path, "--history", hist, "--eps", "400", "--min-calls", "4", "--window", "1h", "--categories", "pipe burst", "--alerts", "--warmup", "72h"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(readAlerts(t, out)) == 0 {
		t.Errorf("--alerts with 3 days of --history and a 72h warmup printed nothing, want the surge")
	}
}

func TestDetectAlertsErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"at does not go with alerts", []string{"--in", fixture("clean.csv"), "--rule", "any", "--alerts", "--at", at1}, "--at and --alerts"},
		{"history needs alerts", []string{"--in", fixture("clean.csv"), "--rule", "any", "--history", fixture("calls.csv")}, "--alerts"},
		{"absent history is an error", []string{"--in", fixture("clean.csv"), "--rule", "any", "--alerts", "--history", fixture("absent.csv")}, "absent.csv"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runDetectT(t, tt.args, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("runDetect(%q) = %v, want an error mentioning %q", tt.args, err, tt.want)
			}
		})
	}
}
