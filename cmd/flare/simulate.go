package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"flare/callfile"
	"flare/citysim"
)

// runSimulate is flare simulate: it generates a seeded city call stream and
// writes it as CSV or JSON Lines, or posts it live to a running Flare.
func runSimulate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("simulate", "Generate a realistic, seeded stream of hotline calls for Zhuhai (districts, busy places,\n"+
		"a day-night profile, a category mix) with scripted emergencies, and write it as CSV or\n"+
		"JSON Lines (the columns flare detect reads), or post it live to a running Flare.", stderr)
	var (
		seed      = fs.Uint64("seed", 1, "random seed; the same seed and flags give the same calls")
		start     = fs.String("start", citysim.DefaultStart.Format(time.RFC3339), "first simulated instant, RFC 3339")
		duration  = fs.Duration("duration", citysim.DefaultDuration, "how long to simulate")
		perDay    = fs.Float64("calls-per-day", citysim.DefaultCallsPerDay, "background calls in an average day")
		scenarios = fs.String("scenarios", "typhoon,gas_leak,power_cut", "scripted emergencies, comma-separated (typhoon, gas_leak, power_cut), or none")
		districts = fs.String("districts", "", "GeoJSON file of district boundaries (default: the coarse Zhuhai outlines Flare ships)")
		out       = fs.String("out", "", "file to write (default: standard output)")
		format    = fs.String("format", "", "csv or jsonl (default: from the --out extension, else csv)")
		post      = fs.String("post", "", "base URL of a running Flare to post the calls to, instead of writing them")
		token     = fs.String("token", "", "bearer token of a call-floor agent, for --post")
		speed     = fs.Float64("speed", 60, "for --post: simulated seconds per real second (0: as fast as the server answers)")
		keepTimes = fs.Bool("keep-times", false, "for --post: send the simulated received_at instead of the time of posting")
		quiet     = fs.Bool("quiet", false, "for --post: no progress bar")
	)
	if err := parseFlags(fs, args, getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	cfg := citysim.Config{Seed: *seed, Duration: *duration, CallsPerDay: *perDay}
	t, err := time.Parse(time.RFC3339Nano, *start)
	if err != nil {
		return fmt.Errorf("simulate: --start %q is not an RFC 3339 time", *start)
	}
	cfg.Start = t
	if *scenarios != "none" && *scenarios != "" {
		for _, name := range strings.Split(*scenarios, ",") {
			s, ok := citysim.ScenarioByName(strings.TrimSpace(name))
			if !ok {
				return fmt.Errorf("simulate: --scenarios: %q is not typhoon, gas_leak or power_cut", name)
			}
			cfg.Scenarios = append(cfg.Scenarios, s)
		}
	}
	if *districts != "" {
		data, err := os.ReadFile(*districts)
		if err != nil {
			return fmt.Errorf("simulate: read districts: %w", err)
		}
		if cfg.Districts, err = citysim.ParseDistricts(data); err != nil {
			return fmt.Errorf("simulate: %s: %w", *districts, err)
		}
	}
	if *speed < 0 {
		return fmt.Errorf("simulate: --speed %v is negative", *speed)
	}
	calls, err := citysim.Generate(cfg)
	if err != nil {
		return err
	}

	if *post != "" {
		if *token == "" {
			return errors.New("simulate: --post needs --token (or FLARE_TOKEN): a call-floor agent's bearer token")
		}
		p := &citysim.Poster{URL: *post, Token: *token, Speed: *speed, KeepTimes: *keepTimes, Client: &http.Client{Timeout: 30 * time.Second}}
		if !*quiet {
			p.Progress = stderr
		}
		st, err := p.Post(ctx, calls)
		fmt.Fprintf(stderr, "flare simulate: posted %d calls to %s: created %d, replayed %d, rejected %d, failed %d\n",
			st.Created+st.Replayed+st.Rejected+st.Failed, *post, st.Created, st.Replayed, st.Rejected, st.Failed)
		if err != nil {
			return fmt.Errorf("simulate: %w", err)
		}
		if st.Rejected+st.Failed > 0 {
			return fmt.Errorf("simulate: %d calls were not accepted", st.Rejected+st.Failed)
		}
		return nil
	}

	fmtName := *format
	if fmtName == "" {
		fmtName = "csv"
		if ext := strings.ToLower(filepath.Ext(*out)); ext == ".jsonl" || ext == ".json" || ext == ".ndjson" {
			fmtName = "jsonl"
		}
	}
	f, err := callfile.ParseFormat(fmtName)
	if err != nil {
		return fmt.Errorf("simulate: --format: %w", err)
	}
	w := stdout
	if *out != "" && *out != "-" {
		file, err := os.Create(*out)
		if err != nil {
			return fmt.Errorf("simulate: %w", err)
		}
		defer file.Close()
		w = file
	}
	cw := callfile.NewWriter(w, f)
	for _, c := range calls {
		if err := cw.Write(c); err != nil {
			return fmt.Errorf("simulate: %w", err)
		}
	}
	if err := cw.Flush(); err != nil {
		return fmt.Errorf("simulate: %w", err)
	}
	if file, ok := w.(*os.File); ok && w != stdout {
		if err := file.Close(); err != nil {
			return fmt.Errorf("simulate: %w", err)
		}
	}
	return nil
}
