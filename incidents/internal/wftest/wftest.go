// Package wftest is the test environment of the command workflow and the
// incident tracker: a workflow, an intake and a tracker on a fresh embedded
// store, with a settable clock, and a record of the audience the domain gave
// every event it appended.
package wftest

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"flare/geo"
	"flare/incidents"
	"flare/incidents/defaults"
	"flare/incidents/sqlite"
	"flare/incidents/tracking"
)

// Clock is a settable clock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Add moves the clock on by d.
func (c *Clock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// Set sets the clock to t.
func (c *Clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// Actors of the tests.
var (
	Leader = incidents.Actor{Name: "leader:duty", Role: incidents.RoleLeader, Origin: "10.0.0.1:5000"}
	Agent  = incidents.Actor{Name: "agent:seat-3", Role: incidents.RoleAgent}
)

// Dept returns the actor of a department.
func Dept(code string) incidents.Actor {
	return incidents.Actor{Name: "dept:" + code, Role: incidents.RoleDept, Dept: code}
}

// Env is a workflow on a fresh embedded store with a test clock.
type Env struct {
	Store   *Recorder
	Path    string
	Clock   *Clock
	WF      *incidents.Workflow
	Intake  *incidents.Intake
	Tracker *tracking.Tracker
}

// New returns an Env whose clock starts at 2026-07-01 14:00 UTC.
func New(tb testing.TB) *Env {
	tb.Helper()
	e := &Env{Path: filepath.Join(tb.TempDir(), "flare.db"), Clock: &Clock{t: time.Date(2026, 7, 1, 14, 0, 0, 0, time.UTC)}}
	e.Open(tb)
	return e
}

// Open (re)opens the store and builds the workflow, the intake and the
// tracker over it.
func (e *Env) Open(tb testing.TB) {
	tb.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, e.Path, sqlite.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	if err := s.MigrateUp(ctx); err != nil {
		tb.Fatal(err)
	}
	tax, _ := incidents.ParseTaxonomy(defaults.Categories)
	deps, err := incidents.ParseDepartments(defaults.Departments, tax)
	if err != nil {
		tb.Fatal(err)
	}
	regions, _ := incidents.ParseRegions("Zhuhai", defaults.ZhuhaiDistricts)
	e.Store = &Recorder{Store: s}
	e.WF = incidents.NewWorkflow(incidents.WorkflowConfig{Store: e.Store, Taxonomy: tax, Departments: deps, Jurisdictions: regions, Now: e.Clock.Now})
	e.Intake = incidents.NewIntake(incidents.IntakeConfig{Store: e.Store, Taxonomy: tax, Area: regions, Now: e.Clock.Now})
	tb.Cleanup(func() { e.Intake.Close(ctx) })
	e.Tracker, err = tracking.New(e.WF, geo.DefaultRules(), 2*time.Minute)
	if err != nil {
		tb.Fatal(err)
	}
}

// Call registers a call now at (lat, lon) and gives it to the tracker.
func (e *Env) Call(tb testing.TB, category string, lat, lon float64, urgent bool) incidents.Call {
	tb.Helper()
	in := incidents.CallInput{Lat: &lat, Lon: &lon, Category: &category, Urgent: &urgent}
	c, _, err := e.Intake.Register(context.Background(), Agent.Name, "", in)
	if err != nil {
		tb.Fatalf("Register(%s) = %v", category, err)
	}
	if err := e.Tracker.Observe(context.Background(), c); err != nil {
		tb.Fatalf("Observe(%s) = %v", c.ID, err)
	}
	return c
}

// Incidents lists the incidents in the given states (any when none), newest
// first.
func (e *Env) Incidents(tb testing.TB, states ...incidents.IncidentState) []incidents.Incident {
	tb.Helper()
	list, err := e.WF.ListIncidents(context.Background(), Leader, incidents.IncidentFilter{States: states})
	if err != nil {
		tb.Fatal(err)
	}
	return list
}

// Tasks lists the tasks f selects.
func (e *Env) Tasks(tb testing.TB, f incidents.TaskFilter) []incidents.Task {
	tb.Helper()
	list, err := e.WF.ListTasks(context.Background(), Leader, f)
	if err != nil {
		tb.Fatal(err)
	}
	return list
}

// Events returns the events after seq, each with the audience the domain
// gave it.
func (e *Env) Events(tb testing.TB, after int64) []incidents.Event {
	tb.Helper()
	evs, err := e.Store.ReadEvents(context.Background(), after, 100000)
	if err != nil {
		tb.Fatal(err)
	}
	e.Store.mu.Lock()
	defer e.Store.mu.Unlock()
	for i := range evs {
		if a, ok := e.Store.audience[evs[i].Seq]; ok {
			evs[i].Audience = a
		}
	}
	return evs
}

// LastSeq returns the seq of the newest event.
func (e *Env) LastSeq(tb testing.TB) int64 {
	tb.Helper()
	seq, err := e.Store.LastSeq(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return seq
}

// Recorder is the embedded store, keeping by seq the audience of every
// event the domain appended in a committed transaction or with a call, so
// that tests see it whether or not the store gives it back.
type Recorder struct {
	*sqlite.Store
	mu       sync.Mutex
	audience map[int64]incidents.Audience
}

// CreateCalls stores calls and records the audience of each call.received
// event it created.
func (r *Recorder) CreateCalls(ctx context.Context, calls []incidents.NewCall) ([]incidents.CreateResult, error) {
	res, err := r.Store.CreateCalls(ctx, calls)
	if err != nil {
		return res, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.audience == nil {
		r.audience = map[int64]incidents.Audience{}
	}
	for i, c := range res {
		if c.Created && c.Err == nil {
			r.audience[c.Call.Seq] = calls[i].Audience
		}
	}
	return res, nil
}

// Update runs fn on the store and records the audiences of the events it
// committed.
func (r *Recorder) Update(ctx context.Context, fn func(ctx context.Context, tx incidents.Tx) error) ([]incidents.Event, error) {
	var auds []incidents.Audience
	evs, err := r.Store.Update(ctx, func(ctx context.Context, tx incidents.Tx) error {
		auds = auds[:0]
		return fn(ctx, recordingTx{Tx: tx, auds: &auds})
	})
	if err == nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.audience == nil {
			r.audience = map[int64]incidents.Audience{}
		}
		for i, ev := range evs {
			if i < len(auds) {
				r.audience[ev.Seq] = auds[i]
			}
		}
	}
	return evs, err
}

// FireDueTimers fires timers on the store and records the audiences of the
// events their transactions appended.
func (r *Recorder) FireDueTimers(ctx context.Context, now time.Time, limit int, fire func(ctx context.Context, tx incidents.Tx, t incidents.Timer) error) (int, error) {
	before, err := r.Store.LastSeq(ctx)
	if err != nil {
		return 0, err
	}
	var committed []incidents.Audience
	n, err := r.Store.FireDueTimers(ctx, now, limit, func(ctx context.Context, tx incidents.Tx, t incidents.Timer) error {
		var auds []incidents.Audience
		if err := fire(ctx, recordingTx{Tx: tx, auds: &auds}, t); err != nil {
			return err
		}
		committed = append(committed, auds...)
		return nil
	})
	if err != nil {
		return n, err
	}
	evs, err := r.Store.ReadEvents(ctx, before, len(committed)+1)
	if err != nil {
		return n, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.audience == nil {
		r.audience = map[int64]incidents.Audience{}
	}
	for i, ev := range evs {
		if i < len(committed) {
			r.audience[ev.Seq] = committed[i]
		}
	}
	return n, nil
}

type recordingTx struct {
	incidents.Tx
	auds *[]incidents.Audience
}

func (t recordingTx) Append(ctx context.Context, e incidents.EventInput) error {
	if err := t.Tx.Append(ctx, e); err != nil {
		return err
	}
	*t.auds = append(*t.auds, e.Audience)
	return nil
}

// Offset returns a point dx, dy metres east and north of (lat, lon).
func Offset(lat, lon, dx, dy float64) (float64, float64) {
	return lat + dy/111_320, lon + dx/(111_320*0.9245)
}

// Jida is a place in Xiangzhou.
const JidaLat, JidaLon = 22.2650, 113.5750

// CountType counts the events of type typ.
func CountType(evs []incidents.Event, typ string) int {
	n := 0
	for _, ev := range evs {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

// TypesOf returns the events' types.
func TypesOf(evs []incidents.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Type
	}
	return out
}

// Depts returns the tasks' departments, sorted.
func Depts(tasks []incidents.Task) []string {
	var out []string
	for _, t := range tasks {
		out = append(out, t.Dept)
	}
	slices.Sort(out)
	return out
}

// Decode unmarshals an event's data into v, failing the test when it
// cannot.
func Decode(tb testing.TB, ev incidents.Event, v any) {
	tb.Helper()
	if err := json.Unmarshal(ev.Data, v); err != nil {
		tb.Fatalf("%s data %s: %v", ev.Type, ev.Data, err)
	}
}
