package incidents_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"flare/citysim"
	"flare/incidents"
	"flare/incidents/internal/wftest"
)

// TestTyphoonNight plays the simulator's typhoon night through intake, the
// incident tracker and the supervision timers, on a test clock, then works
// the tasks as the departments and the leadership group would.
func TestTyphoonNight(t *testing.T) {
	if testing.Short() {
		t.Skip("plays three hours of simulated calls")
	}
	e := wftest.New(t)
	ctx := context.Background()
	start := time.Date(2026, 7, 1, 21, 50, 0, 0, citysim.Zone)
	calls, err := citysim.Generate(citysim.Config{Seed: 7, Start: start, Duration: 3 * time.Hour, Scenarios: []citysim.Scenario{citysim.Typhoon()}})
	if err != nil {
		t.Fatal(err)
	}
	e.Clock.Set(start.UTC())
	lastTick := e.Clock.Now()
	for _, sc := range calls {
		e.Clock.Set(sc.ReceivedAt.UTC())
		for e.Clock.Now().Sub(lastTick) >= time.Minute {
			lastTick = lastTick.Add(time.Minute)
			if err := e.Tracker.Advance(ctx, lastTick); err != nil {
				t.Fatal(err)
			}
			if _, err := e.WF.FireTimers(ctx); err != nil {
				t.Fatal(err)
			}
		}
		at := sc.ReceivedAt.Format(time.RFC3339Nano)
		in := incidents.CallInput{ID: &sc.ID, ReceivedAt: &at, Lat: &sc.Lat, Lon: &sc.Lon, Category: &sc.Category, Urgent: &sc.Urgent, Address: &sc.Address}
		c, _, err := e.Intake.Register(ctx, wftest.Agent.Name, "", in)
		if err != nil {
			t.Fatalf("Register(%s) = %v", sc.ID, err)
		}
		if err := e.Tracker.Observe(ctx, c); err != nil {
			t.Fatalf("Observe(%s) = %v", c.ID, err)
		}
	}
	evs := e.Events(t, 0)

	t.Run("clusters become incidents with stable ids", func(t *testing.T) {
		opened := map[string]bool{}
		for _, ev := range evs {
			var d struct {
				ID string `json:"id"`
			}
			if ev.Type == incidents.EventIncidentOpened {
				json.Unmarshal(ev.Data, &d)
				if opened[d.ID] {
					t.Errorf("incident %s opened twice", d.ID)
				}
				opened[d.ID] = true
			}
		}
		byState := map[incidents.IncidentState]int{}
		for _, inc := range e.Incidents(t) {
			byState[inc.State]++
			if !opened[inc.ID] {
				t.Errorf("incident %s exists without incident.opened", inc.ID)
			}
			if inc.State == incidents.IncidentMerged && !opened[inc.MergedInto] {
				t.Errorf("incident %s merged into unknown %s", inc.ID, inc.MergedInto)
			}
		}
		// The typhoon floods six places and fells trees in four: each is
		// one incident, not one per call.
		active := byState[incidents.IncidentOpen] + byState[incidents.IncidentConfirmed]
		if active < 6 || active > 40 {
			t.Errorf("active incidents = %d (%v), want one per flooded place or fallen-tree area, roughly 6 to 40", active, byState)
		}
		var floodCalls int
		for _, inc := range e.Incidents(t, incidents.IncidentOpen) {
			floodCalls = max(floodCalls, inc.Categories["waterlogging"])
		}
		if floodCalls < 20 {
			t.Errorf("largest flood incident has %d waterlogging calls, want the Gongbei tunnel burst (40) mostly in one incident", floodCalls)
		}
	})

	tasks := e.Tasks(t, incidents.TaskFilter{})
	t.Logf("%d calls, %d events, %d incidents, %d tasks", len(calls), len(evs), len(e.Incidents(t)), len(tasks))
	t.Run("tasks reach the right departments and only them", func(t *testing.T) {
		if len(tasks) == 0 {
			t.Fatal("no task was dispatched")
		}
		for _, tk := range tasks {
			inc, err := e.WF.GetIncident(ctx, wftest.Leader, tk.IncidentID)
			if err != nil {
				t.Fatal(err)
			}
			var allowed []string
			for c := range inc.Categories {
				allowed = append(allowed, e.WF.Departments().Owners(c)...)
			}
			if gov, ok := e.WF.Departments().DistrictGovernment(inc.District); ok {
				allowed = append(allowed, gov)
			}
			if !slices.Contains(allowed, tk.Dept) {
				t.Errorf("task %s went to %s, not an owner of %v nor the district government of %s", tk.ID, tk.Dept, inc.Categories, inc.District)
			}
		}
		for _, ev := range evs {
			if len(ev.Type) < 5 || ev.Type[:5] != "task." {
				continue
			}
			var d struct {
				Dept string `json:"dept"`
			}
			json.Unmarshal(ev.Data, &d)
			if a := ev.Audience; len(a.Depts) != 1 || a.Depts[0] != d.Dept || a.CallFloor {
				t.Errorf("%s for %s is seen by %+v, want only %s", ev.Type, d.Dept, a, d.Dept)
			}
		}
	})

	// Pick two tasks of one waterlogging incident for the water bureau and
	// the district government, and work them.
	var water, other incidents.Task
	for _, tk := range tasks {
		if tk.Dept == "water" && tk.State == incidents.TaskDispatched && water.ID == "" {
			water = tk
		}
	}
	for _, tk := range tasks {
		if tk.IncidentID == water.IncidentID && tk.Dept != "water" {
			other = tk
		}
	}
	if water.ID == "" || other.ID == "" {
		t.Fatalf("no waterlogging incident with tasks for water and another department: %v", wftest.Depts(tasks))
	}
	seq, _ := e.Store.LastSeq(ctx)

	t.Run("a department signs, works and completes", func(t *testing.T) {
		w := wftest.Dept("water")
		v := water.Version
		for _, in := range []incidents.TaskActionInput{
			{Action: incidents.ActSign}, {Action: incidents.ActProgress, Note: "泵车已到"}, {Action: incidents.ActComplete, Note: "积水已排除"},
		} {
			in.Version = v
			got, err := e.WF.ActOnTask(ctx, w, water.ID, in)
			if err != nil {
				t.Fatalf("%s: %v", in.Action, err)
			}
			v = got.Version
			water = got
		}
		if water.State != incidents.TaskCompleted {
			t.Errorf("water task state %s, want completed", water.State)
		}
	})

	t.Run("a task nobody handles escalates to leadership once", func(t *testing.T) {
		cur, _ := e.WF.GetTask(ctx, wftest.Leader, other.ID)
		limit := incidents.DefaultTimeLimits()[cur.Class]
		e.Clock.Set(cur.Deadline.Add(time.Duration(limit.Escalate) + time.Minute))
		if _, err := e.WF.FireTimers(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := e.WF.FireTimers(ctx); err != nil {
			t.Fatal(err)
		}
		escalations, alerts := 0, 0
		for _, ev := range e.Events(t, seq) {
			var d struct {
				ID     string `json:"id"`
				TaskID string `json:"task_id"`
				Kind   string `json:"kind"`
			}
			json.Unmarshal(ev.Data, &d)
			if ev.Type == incidents.EventTaskEscalated && d.ID == other.ID {
				escalations++
			}
			if ev.Type == incidents.EventAlertRaised && d.Kind == "escalation" && d.TaskID == other.ID {
				alerts++
			}
		}
		if escalations != 1 || alerts < 1 {
			t.Errorf("task %s escalated %d times with %d leadership alerts, want exactly once with an alert", other.ID, escalations, alerts)
		}
	})

	t.Run("a return is reassigned", func(t *testing.T) {
		cur, _ := e.WF.GetTask(ctx, wftest.Leader, other.ID)
		ret, err := e.WF.ActOnTask(ctx, wftest.Dept(cur.Dept), cur.ID, incidents.TaskActionInput{Action: incidents.ActReturn, Version: cur.Version, Reason: "不属本单位职责"})
		if err != nil {
			t.Fatal(err)
		}
		re, err := e.WF.ActOnTask(ctx, wftest.Leader, cur.ID, incidents.TaskActionInput{Action: incidents.ActReassign, Version: ret.Version, Dept: "urban"})
		if err != nil || re.Dept != "urban" || re.State != incidents.TaskDispatched || re.Overdue {
			t.Errorf("reassign = %s %s overdue %v (%v), want dispatched to urban with fresh deadlines", re.Dept, re.State, re.Overdue, err)
		}
	})

	t.Run("a callback reopens a task", func(t *testing.T) {
		no := true
		got, err := e.WF.RecordCallback(ctx, wftest.Agent, water.ID, incidents.CallbackInput{Reached: &no, Satisfaction: incidents.Unsatisfied, Comment: "路口仍积水"})
		if err != nil || got.State != incidents.TaskReopened {
			t.Errorf("unsatisfied callback: %s, %v; want reopened", got.State, err)
		}
	})
}
