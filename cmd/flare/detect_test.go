package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
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
