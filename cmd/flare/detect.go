package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/paulmach/orb/geojson"

	"flare/callfile"
	"flare/geo"
)

// timeList is a repeatable flag of RFC 3339 times; one value may also hold
// several, separated by commas (as FLARE_AT does).
type timeList []time.Time

func (l *timeList) String() string {
	parts := make([]string, len(*l))
	for i, t := range *l {
		parts[i] = t.Format(time.RFC3339)
	}
	return strings.Join(parts, ",")
}

func (l *timeList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return fmt.Errorf("%q is not an RFC 3339 time", s)
		}
		*l = append(*l, t)
	}
	return nil
}

// detectFlags are the settings of flare detect.
type detectFlags struct {
	in         string
	eps        float64
	minCalls   int
	window     time.Duration
	categories string
	rule       string
	at         timeList
	format     string
	strict     bool
	alerts     bool
	history    string
	warmup     time.Duration
	given      map[string]bool
}

// rules returns the rules the flags select: --rule names default rules (or
// "defaults" for all of them), and --eps, --min-calls, --window and
// --categories make a rule of their own or override the named one.
func (f *detectFlags) rules() ([]geo.Rule, error) {
	custom := f.given["eps"] || f.given["min-calls"] || f.given["window"] || f.given["categories"]
	var rules []geo.Rule
	if f.rule != "" {
		for _, name := range strings.Split(f.rule, ",") {
			name = strings.TrimSpace(name)
			if name == "defaults" {
				rules = append(rules, geo.DefaultRules()...)
				continue
			}
			r, ok := geo.DefaultRule(name)
			if !ok {
				var names []string
				for _, d := range geo.DefaultRules() {
					names = append(names, d.Name)
				}
				return nil, fmt.Errorf("--rule %q is not a default rule (one of %s, or defaults)", name, strings.Join(names, ", "))
			}
			rules = append(rules, r)
		}
		if custom && len(rules) != 1 {
			return nil, errors.New("--eps, --min-calls, --window and --categories can change only one --rule")
		}
	} else {
		var missing []string
		for _, n := range []string{"eps", "min-calls", "window"} {
			if !f.given[n] {
				missing = append(missing, "--"+n)
			}
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("give --rule NAME, or --eps, --min-calls and --window (missing %s)", strings.Join(missing, ", "))
		}
		rules = []geo.Rule{{Name: "custom"}}
	}
	if custom {
		r := &rules[0]
		if f.given["eps"] {
			r.Eps = f.eps
		}
		if f.given["min-calls"] {
			r.MinCalls = f.minCalls
		}
		if f.given["window"] {
			r.Window = f.window
		}
		if f.given["categories"] {
			r.Categories = nil
			for _, c := range strings.Split(f.categories, ",") {
				if c = strings.TrimSpace(c); c != "" {
					r.Categories = append(r.Categories, c)
				}
			}
		}
	}
	if err := geo.ValidateRules(rules); err != nil {
		return nil, err
	}
	return rules, nil
}

// runDetect is flare detect: it reads a file of calls, runs the cluster
// detector over it in time order and prints the clusters of the window
// ending at each --at time, one JSON line each.
func runDetect(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("detect", "Find incident clusters in a file of calls (CSV with a header, or JSON Lines, with\n"+
		"id, received_at, lat, lon, category[, urgent]) and print the clusters of the window\n"+
		"ending at each --at time as one JSON line.", stderr)
	var f detectFlags
	fs.StringVar(&f.in, "in", "", "file of calls, CSV with a header or JSON Lines")
	fs.Float64Var(&f.eps, "eps", 0, "neighbourhood radius in metres")
	fs.IntVar(&f.minCalls, "min-calls", 0, "calls within eps, the call itself included, that make a call core")
	fs.DurationVar(&f.window, "window", 0, "length of the time window, such as 30m or 1h")
	fs.StringVar(&f.categories, "categories", "all", "comma-separated categories the rule takes, or all")
	fs.StringVar(&f.rule, "rule", "", "a default rule by name (any, waterlogging, fallen_tree, power_outage, gas_leak_fire), several separated by commas, or defaults for all")
	fs.Var(&f.at, "at", "RFC 3339 time at which to print the clusters; repeatable (default: the last call's time)")
	fs.StringVar(&f.format, "format", "json", "output: json (one line per --at) or geojson (one FeatureCollection line per --at)")
	fs.BoolVar(&f.strict, "strict", false, "stop with an error at the first malformed row instead of skipping it")
	fs.BoolVar(&f.alerts, "alerts", false, "print one JSON line per alert as it would have been raised live, instead of the clusters at --at times")
	fs.StringVar(&f.history, "history", "", "with --alerts: a file of earlier calls that warm the baseline before --in")
	fs.DurationVar(&f.warmup, "warmup", geo.DefaultWarmup, "with --alerts: how much of the stream the baseline sees before anything alerts")
	if err := parseFlags(fs, args, getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	f.given = map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { f.given[fl.Name] = true })
	if f.in == "" {
		return errors.New("detect: --in FILE is required")
	}
	if f.format != "json" && f.format != "geojson" {
		return fmt.Errorf("detect: --format %q is not json or geojson", f.format)
	}
	rules, err := f.rules()
	if err != nil {
		return fmt.Errorf("detect: %w", err)
	}
	calls, err := readDetectInput(f.in, f.strict, stderr)
	if err != nil {
		return fmt.Errorf("detect: %w", err)
	}
	if f.alerts {
		if len(f.at) > 0 {
			return errors.New("detect: --at and --alerts do not go together")
		}
		return detectAlerts(ctx, &f, rules, calls, stdout, stderr)
	}
	if f.given["history"] || f.given["warmup"] {
		return errors.New("detect: --history and --warmup need --alerts")
	}
	set, err := geo.NewSet(rules, geo.Options{})
	if err != nil {
		return fmt.Errorf("detect: %w", err)
	}

	ats := f.at
	if len(ats) == 0 {
		if len(calls) == 0 {
			return errors.New("detect: no calls and no --at time")
		}
		ats = timeList{calls[len(calls)-1].ReceivedAt}
	}
	order := make([]int, len(ats))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return ats[a].Compare(ats[b]) })
	lines := make([][]byte, len(ats))
	next := 0
	for _, k := range order {
		at := ats[k]
		if err := ctx.Err(); err != nil {
			return err
		}
		for ; next < len(calls) && !calls[next].ReceivedAt.After(at); next++ {
			c := calls[next]
			err := set.Add(geo.Point{ID: c.ID, Time: c.ReceivedAt, Lat: c.Lat, Lon: c.Lon, Category: c.Category})
			if err != nil {
				if f.strict {
					return fmt.Errorf("detect: %s: line %d: %w", f.in, c.Line, err)
				}
				fmt.Fprintf(stderr, "flare detect: %s: line %d: %v (skipped)\n", f.in, c.Line, err)
			}
		}
		set.Advance(at)
		clusters := set.Clusters()
		var b []byte
		if f.format == "geojson" {
			fc := geojson.NewFeatureCollection()
			for _, c := range clusters {
				fc.Append(c.Feature())
			}
			fc.ExtraMembers = geojson.Properties{"at": at.Format(time.RFC3339Nano)}
			b, err = json.Marshal(fc)
		} else {
			if clusters == nil {
				clusters = []geo.Cluster{}
			}
			b, err = json.Marshal(struct {
				At       string        `json:"at"`
				Clusters []geo.Cluster `json:"clusters"`
			}{at.Format(time.RFC3339Nano), clusters})
		}
		if err != nil {
			return fmt.Errorf("detect: encode clusters: %w", err)
		}
		lines[k] = append(b, '\n')
	}
	for _, l := range lines {
		if _, err := stdout.Write(l); err != nil {
			return fmt.Errorf("detect: write: %w", err)
		}
	}
	return nil
}

// alertLine is one line of flare detect --alerts.
type alertLine struct {
	At             string     `json:"at"`
	Grade          string     `json:"grade"`
	Calls          []string   `json:"calls"`
	Observed       int        `json:"observed"`
	Expected       float64    `json:"expected"`
	Score          float64    `json:"score"`
	RecurrenceDays float64    `json:"recurrence_days"`
	Centroid       [2]float64 `json:"centroid"`
	Rule           string     `json:"rule"`
}

// detectAlerts is flare detect --alerts: it runs the rules over the calls
// in time order with a baseline learnt from the same stream (and --history
// before it), and prints each alert as it would have been raised.
func detectAlerts(ctx context.Context, f *detectFlags, rules []geo.Rule, calls []callfile.Call, stdout, stderr io.Writer) error {
	w, err := geo.NewWatch(rules, geo.WatchOptions{Warmup: f.warmup})
	if err != nil {
		return fmt.Errorf("detect: %w", err)
	}
	if f.history != "" {
		past, err := readDetectInput(f.history, f.strict, stderr)
		if err != nil {
			return fmt.Errorf("detect: history: %w", err)
		}
		for _, c := range past {
			if len(calls) > 0 && !c.ReceivedAt.Before(calls[0].ReceivedAt) {
				break
			}
			w.Learn(geo.Point{ID: c.ID, Time: c.ReceivedAt, Lat: c.Lat, Lon: c.Lon, Category: c.Category})
		}
	}
	round := func(v float64, digits float64) float64 {
		p := math.Pow(10, digits)
		return math.Round(v*p) / p
	}
	enc := json.NewEncoder(stdout)
	for i, c := range calls {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		alerts, err := w.Add(geo.Point{ID: c.ID, Time: c.ReceivedAt, Lat: c.Lat, Lon: c.Lon, Category: c.Category})
		if err != nil {
			if f.strict {
				return fmt.Errorf("detect: %s: line %d: %w", f.in, c.Line, err)
			}
			fmt.Fprintf(stderr, "flare detect: %s: line %d: %v (skipped)\n", f.in, c.Line, err)
			continue
		}
		for _, a := range alerts {
			err := enc.Encode(alertLine{
				At: a.At.In(c.ReceivedAt.Location()).Format(time.RFC3339Nano), Grade: a.Grade.String(), Calls: a.Calls,
				Observed: a.Surge.Observed, Expected: round(a.Surge.Expected, 4), Score: round(a.Surge.Score, 3),
				RecurrenceDays: round(a.RecurrenceDays, 2), Centroid: [2]float64{round(a.Centroid[0], 7), round(a.Centroid[1], 7)}, Rule: a.Rule,
			})
			if err != nil {
				return fmt.Errorf("detect: write: %w", err)
			}
		}
	}
	return nil
}

// readDetectInput reads the calls of a file, reporting malformed rows and
// repeated ids to stderr with their line numbers, or failing on the first one
// when strict. It returns the calls sorted by time, file order kept among
// equal times.
func readDetectInput(path string, strict bool, stderr io.Writer) ([]callfile.Call, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open calls: %w", err)
	}
	defer file.Close()
	bad := 0
	report := func(line int, err error) error {
		if strict {
			return fmt.Errorf("%s: line %d: %w", path, line, err)
		}
		bad++
		fmt.Fprintf(stderr, "flare detect: %s: line %d: %v (skipped)\n", path, line, err)
		return nil
	}
	calls, err := callfile.NewReader(file).ReadAll(func(e *callfile.RowError) error {
		return report(e.Line, e.Err)
	})
	if err != nil {
		return nil, err
	}
	seen := make(map[string]int, len(calls))
	kept := calls[:0]
	for _, c := range calls {
		if first, dup := seen[c.ID]; dup {
			if err := report(c.Line, fmt.Errorf("id %q repeats the call on line %d", c.ID, first)); err != nil {
				return nil, err
			}
			continue
		}
		seen[c.ID] = c.Line
		kept = append(kept, c)
	}
	if bad > 0 {
		fmt.Fprintf(stderr, "flare detect: %s: skipped %d malformed rows of %d\n", path, bad, len(kept)+bad)
	}
	slices.SortStableFunc(kept, func(a, b callfile.Call) int { return cmp.Compare(a.ReceivedAt.UnixNano(), b.ReceivedAt.UnixNano()) })
	return kept, nil
}
