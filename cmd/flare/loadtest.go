package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"time"

	"flare/loadtest"
)

// runLoadtest is flare loadtest: it parses the flags and runs the load tool
// (package loadtest).
func runLoadtest(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var (
		c       loadtest.Config
		asJSON  bool
		profile string
		dataDir string
	)
	fs := newFlagSet("loadtest", "Drives a running Flare with calls and reports throughput and latency; with --ws-clients, also WebSocket delivery.", stderr)
	fs.StringVar(&c.URL, "url", "http://127.0.0.1:8080", "base URL of the Flare to load")
	fs.StringVar(&c.Token, "token", "", "bearer token of the posters (see flare token --role system; an agent token is limited by the server's --rate-per-token)")
	fs.IntVar(&c.Posters, "posters", 64, "concurrent HTTP clients posting calls")
	fs.Float64Var(&c.Rate, "rate", 0, "calls per second in all (open loop); 0 posts as fast as the posters can")
	fs.DurationVar(&c.Duration, "duration", 20*time.Second, "how long to measure")
	fs.DurationVar(&c.Warmup, "warmup", 2*time.Second, "load before measuring starts (not counted)")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	fs.Uint64Var(&c.Seed, "seed", 1, "seed of the generated calls")
	fs.StringVar(&c.Spread, "spread", "city", "where the calls come from: city (around Zhuhai's busy places, as flare simulate places them) or box (evenly over 375 km² of Xiangzhou and Doumen)")
	fs.StringVar(&profile, "cpu-profile", "", "write the load tool's own CPU profile to this file (to tell its cost from the server's)")
	w := &c.WS
	fs.IntVar(&w.Clients, "ws-clients", 0, "WebSocket clients to connect (0: measure call intake only)")
	fs.StringVar(&w.Roles, "ws-roles", "leader=0.4,agent=0.3,dept=0.2,admin=0.1", "role mix of the WebSocket clients, as role=share pairs")
	fs.StringVar(&w.Depts, "ws-depts", "", "department codes given to dept clients in turn (default: every built-in department)")
	fs.Float64Var(&w.ConnectRate, "ws-connect-rate", 500, "new WebSocket connections per second while connecting")
	fs.BoolVar(&w.Idle, "ws-idle", false, "hold the connections for --duration without posting calls (memory per connection)")
	fs.IntVar(&w.ServerPID, "server-pid", 0, "pid of the Flare server on this machine, to read its RSS from /proc (default: its /metrics)")
	fs.StringVar(&dataDir, "data-dir", "", "data dir holding the server's signing secret, to mint tokens for every role (or set FLARE_SECRET)")
	fs.DurationVar(&w.Drain, "ws-drain", 10*time.Second, "how long clients may take to receive the last call after posting stops")
	fs.StringVar(&w.URL, "ws-url", "", "base URL of the node the WebSocket clients connect to (default: --url; another node to measure fan-out between nodes)")
	if err := parseFlags(fs, args, getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return fmt.Errorf("--cpu-profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpu-profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	if w.Clients > 0 && (getenv("FLARE_SECRET") != "" || dataDir != "") {
		// Tokens for every role, the posters' agent token among them.
		s, err := signer(getenv, dataDir)
		if err != nil {
			return err
		}
		c.Issuer = s
	}
	if err := c.Check(); err != nil {
		return err
	}
	if w.Clients > 0 {
		if n, err := raiseOpenFileLimit(); err != nil || n < uint64(w.Clients)+256 {
			return fmt.Errorf("open file limit %d is too low for %d clients (raise ulimit -n): %v", n, w.Clients, err)
		}
	}
	c.Progress = stderr
	rep, err := loadtest.Run(ctx, c)
	if err != nil {
		return err
	}
	if asJSON {
		return rep.WriteJSON(stdout)
	}
	rep.WriteText(stdout)
	return nil
}
