package tracking_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"flare/geo"
	"flare/incidents"
	"flare/incidents/internal/wftest"
	"flare/incidents/tracking"
)

// waitFor polls cond until it holds or 10 s pass.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("waited 10s for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRunnerRebuildsTheSameIncidentsAfterATakeover runs the detector, stops
// it as a dying leader would, and starts another runner over the same store:
// it rebuilds its window and tracks the same incidents, opening none twice.
func TestRunnerRebuildsTheSameIncidentsAfterATakeover(t *testing.T) {
	e := wftest.New(t)
	e.Clock.Set(time.Now().UTC()) // the runner reads the window back from the wall clock's now
	start := func() (stop func()) {
		r, err := tracking.NewRunner(tracking.RunnerConfig{Workflow: e.WF, Rules: geo.DefaultRules(), Tick: 20 * time.Millisecond, Log: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); r.Run(ctx) }()
		return func() { cancel(); <-done }
	}
	register := func(n int, dx float64) {
		for i := 0; i < n; i++ {
			lat, lon := wftest.Offset(22.2215, 113.5485, dx+float64(i*15), 0)
			cat, urgent := "waterlogging", false
			if _, _, err := e.Intake.Register(context.Background(), wftest.Agent.Name, "", incidents.CallInput{Lat: &lat, Lon: &lon, Category: &cat, Urgent: &urgent}); err != nil {
				t.Fatal(err)
			}
		}
	}
	stop := start()
	register(6, 0)
	waitFor(t, "an incident from 6 calls", func() bool {
		incs := e.Incidents(t)
		return len(incs) == 1 && len(incs[0].Calls) == 6
	})
	first := e.Incidents(t)[0]
	stop()

	register(4, 90) // while no node runs the detector
	stop = start()
	defer stop()
	waitFor(t, "the new leader to attach the 4 calls", func() bool {
		incs := e.Incidents(t)
		return len(incs) == 1 && len(incs[0].Calls) == 10
	})
	if got := e.Incidents(t); got[0].ID != first.ID {
		t.Errorf("after the takeover the incident is %s, want the same %s", got[0].ID, first.ID)
	}
	if n := wftest.CountType(e.Events(t, 0), incidents.EventIncidentOpened); n != 1 {
		t.Errorf("incident.opened %d times, want once", n)
	}
}
