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

// TestRunnerRebuildsTheBaselineFromTheStore starts a detector over a store
// that holds ten days of afternoons at a busy market: it rebuilds the
// baseline from them, publishes it, and then treats the market's usual
// afternoon as a hot spot while the same calls in a quiet street open an
// incident.
func TestRunnerRebuildsTheBaselineFromTheStore(t *testing.T) {
	e := wftest.New(t)
	now := time.Now().UTC().Truncate(time.Minute)
	register := func(lat, lon float64, step time.Duration, n int) {
		for i := 0; i < n; i++ {
			la, lo := wftest.Offset(lat, lon, float64(i%3*30), float64(i/3%3*30))
			cat, urgent := "waterlogging", false
			if _, _, err := e.Intake.Register(context.Background(), wftest.Agent.Name, "", incidents.CallInput{Lat: &la, Lon: &lo, Category: &cat, Urgent: &urgent}); err != nil {
				t.Fatal(err)
			}
			e.Clock.Add(step)
		}
	}
	// Each day from an hour before this time to an hour after it, so that
	// the hour of the week of now is a busy one whatever the time of day.
	for d := 10; d >= 1; d-- {
		e.Clock.Set(now.Add(-time.Duration(d)*24*time.Hour - time.Hour))
		register(marketLat, marketLon, 2*time.Minute, 60)
	}
	e.Clock.Set(now)
	live := &tracking.Live{}
	r, err := tracking.NewRunner(tracking.RunnerConfig{Workflow: e.WF, Rules: geo.DefaultRules(), Tick: 20 * time.Millisecond, Log: zerolog.Nop(),
		ListCalls: e.Store.ListCalls, Surge: tracking.SurgeOptions{Live: live, Calibration: geo.CalibrationOptions{Replications: 10, Seed: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "the baseline to be published", func() bool {
		v, ok := live.Baseline(now, []string{"waterlogging"})
		return ok && len(v.Cells) > 0
	})
	// The runner advances to the clock's now: the live calls come at once,
	// so that none is late however far behind the runner is.
	register(marketLat, marketLon, 0, 6)
	register(quietLat, quietLon, 0, 6)
	// The incident is stored before the hot spots are published.
	waitFor(t, "an incident in the quiet street and a hot spot", func() bool {
		v, _ := live.Baseline(now, nil)
		return len(e.Incidents(t)) > 0 && len(v.Hotspots) > 0
	})
	incs := e.Incidents(t)
	if len(incs) != 1 || incs[0].GradeReason.Kind != incidents.GradeBySurge {
		t.Fatalf("incidents = %v (first reason %+v), want one, graded by its surge", idsOf(incs), incs[0].GradeReason)
	}
	if c := incs[0].Centroid; c[1] < quietLat-0.01 {
		t.Errorf("the incident is at %v, want the quiet street", c)
	}
	v, _ := live.Baseline(now, nil)
	if len(v.Hotspots) != 1 || v.Hotspots[0].Calls != 6 {
		t.Errorf("hot spots = %+v, want the market's 6 calls", v.Hotspots)
	}
}
