package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"flare/loadtest"
)

func TestLoadtestWebSocketClientsSeeEveryCallOnce(t *testing.T) {
	dir := t.TempDir()
	e := env{"FLARE_SECRET": strings.Repeat("s", 40)}
	base, _ := startServe(t, e, "--data-dir", dir)
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"flare", "loadtest", "--url", base, "--ws-clients", "24",
		"--ws-roles", "leader=1,agent=1,dept=1", "--rate", "60", "--duration", "2s", "--warmup", "500ms",
		"--posters", "4", "--json"}, e.get, &out, &errOut)
	if err != nil {
		t.Fatalf("flare loadtest = %v\n%s", err, errOut.String())
	}
	var rep loadtest.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("loadtest --json output %q: %v", out.String(), err)
	}
	w := rep.WS
	if w == nil || rep.Intake == nil || rep.Intake.Acknowledged == 0 {
		t.Fatalf("loadtest report = %s, want intake and ws parts with calls", out.String())
	}
	tests := []struct {
		name      string
		got, want int64
	}{
		{"every client connects", int64(w.Connected), 24},
		{"no gaps", w.Gaps, 0},
		{"no duplicates", w.Duplicates, 0},
		{"no acknowledged call is missing", w.Missing, 0},
		{"department clients see no calls", w.ScopeViolations, 0},
		{"no reconnects", w.Reconnects, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("loadtest %s = %d, want %d\n%s", tt.name, tt.got, tt.want, out.String())
			}
		})
	}
	if w.Received == 0 || w.LeaderLatencyCount == 0 {
		t.Errorf("loadtest received %d messages, %d leader latencies, want some", w.Received, w.LeaderLatencyCount)
	}
}

func TestServeClosesWebSocketsGoingAwayOnStop(t *testing.T) {
	dir := t.TempDir()
	e := env{"FLARE_SECRET": strings.Repeat("s", 40)}
	base, stop := startServe(t, e, "--data-dir", dir)
	tok, err := runCmd(t, e, "token", "--role", "leader", "--data-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws",
		&websocket.DialOptions{HTTPHeader: map[string][]string{"Authorization": {"Bearer " + strings.TrimSpace(tok)}}})
	if err != nil {
		t.Fatalf("dial /ws: %v", err)
	}
	defer c.CloseNow()
	if _, msg, err := c.Read(ctx); err != nil || !strings.Contains(string(msg), `"type":"hub.welcome"`) {
		t.Fatalf("first message = %s, %v, want hub.welcome", msg, err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	for {
		_, _, err := c.Read(ctx)
		if err != nil {
			if code := websocket.CloseStatus(err); code != websocket.StatusGoingAway {
				t.Errorf("close on stop = %v (code %d), want %d", err, code, websocket.StatusGoingAway)
			}
			break
		}
	}
	if err := <-stopped; err != nil {
		t.Errorf("flare serve stop = %v, want nil", err)
	}
}
