// Package loadtest drives a running Flare with generated calls and, when
// asked, thousands of WebSocket dashboards, and reports what it measured:
// call intake throughput and acknowledgement latency, and for the
// dashboards delivery latency, gaps, duplicates, missing calls, scope
// violations and the server's memory. It talks to Flare only over its
// public HTTP and WebSocket API, so it can measure any node from anywhere.
//
// The WebSocket clients are a minimal client of the package's own (text
// messages in, pongs and close replies out), read on Linux by a few epoll
// loops rather than a goroutine each, so that the tool spends little of a
// machine it may share with the server it measures.
package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"flare/hub/auth"
)

// Config is a load test.
type Config struct {
	URL      string        // base URL of the Flare that takes the calls
	Token    string        // agent bearer token; minted by Issuer when empty and Issuer is set
	Posters  int           // concurrent HTTP clients posting calls
	Rate     float64       // calls per second in all (open loop); 0 posts as fast as the posters can
	Duration time.Duration // how long to measure
	Warmup   time.Duration // load before measuring starts (not counted)
	Seed     uint64        // seed of the generated calls
	Spread   string        // "city" (around Zhuhai's busy places) or "box" (evenly over a box)
	WS       WSConfig

	// Issuer signs the tokens of the WebSocket clients (every role) and,
	// when Token is empty, the posters' agent token. Required with
	// WS.Clients > 0.
	Issuer Issuer
	// Progress, when set, receives notes on the run (such as the first
	// connection failure); nil discards them.
	Progress io.Writer
}

// WSConfig is the WebSocket side of a load test. Each client holds one
// open file; raising the process's limit to fit is the caller's part.
type WSConfig struct {
	Clients     int           // WebSocket clients to connect (0: measure call intake only)
	Roles       string        // role mix, as role=share pairs: "leader=0.5,agent=0.3,dept=0.2"
	Depts       string        // department codes given to dept clients in turn; "" means every built-in department
	ConnectRate float64       // new connections per second while connecting
	Idle        bool          // hold the connections for Duration without posting calls
	ServerPID   int           // the server's pid on this machine, to read its RSS from /proc; 0 reads its /metrics
	Drain       time.Duration // how long clients may take to receive the last call after posting stops
	URL         string        // base URL of the node the clients connect to; "" means Config.URL
}

// Issuer signs bearer tokens; *auth.Signer is one.
type Issuer interface {
	Issue(p auth.Principal, ttl time.Duration) (string, error)
}

// Report is what a load test measured. Intake is nil for an idle run, WS
// when no WebSocket client took part.
type Report struct {
	Intake *IntakeReport `json:"intake,omitempty"`
	WS     *WSReport     `json:"ws"`
}

// Check returns the first setting of c that cannot run.
func (c *Config) Check() error {
	switch {
	case c.WS.Clients < 0:
		return errors.New("--ws-clients must not be negative")
	case c.WS.Clients > 0 && c.WS.ConnectRate <= 0:
		return errors.New("--ws-connect-rate must be positive")
	case c.Token == "" && (c.WS.Clients == 0 || c.Issuer == nil):
		return errors.New("--token is required (flare token --role agent)")
	case c.Posters < 1:
		return errors.New("--posters must be at least 1")
	case c.Rate < 0:
		return errors.New("--rate must not be negative")
	case c.Duration <= 0:
		return errors.New("--duration must be positive")
	case c.Duration+c.Warmup > 2*time.Hour:
		return errors.New("--duration and --warmup add up to more than two hours")
	case c.Spread != "city" && c.Spread != "box":
		return fmt.Errorf("--spread must be city or box, not %q", c.Spread)
	}
	return nil
}

// Run runs the load test c describes until it is done or ctx ends. It
// returns the settings' error (see Check) before loading anything, and an
// error when no call could be sent in the measured period.
func Run(ctx context.Context, c Config) (Report, error) {
	if err := c.Check(); err != nil {
		return Report{}, err
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.WS.Clients > 0 {
		return runWS(ctx, c)
	}
	rep, err := runIntake(ctx, c)
	if err != nil {
		return Report{}, err
	}
	return Report{Intake: &rep}, nil
}

// WriteJSON writes r as indented JSON: the intake report alone when no
// WebSocket client took part, else both parts.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if r.WS == nil {
		return enc.Encode(r.Intake)
	}
	return enc.Encode(r)
}

// WriteText writes r as a short summary for people.
func (r Report) WriteText(w io.Writer) {
	if r.Intake != nil {
		r.Intake.writeText(w)
	}
	if r.WS != nil {
		r.WS.writeText(w)
	}
}
