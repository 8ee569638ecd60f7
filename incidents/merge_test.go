package incidents_test

import (
	"context"
	"testing"

	"flare/incidents"
	"flare/incidents/internal/wftest"
)

func TestMergeFoldsTasksOfOneDepartmentIntoOne(t *testing.T) {
	e := wftest.New(t)
	ctx := context.Background()
	e.Call(t, "gas_leak", wftest.JidaLat, wftest.JidaLon, true)
	la, lo := wftest.Offset(wftest.JidaLat, wftest.JidaLon, -3000, -1500)
	e.Call(t, "gas_leak", la, lo, true)
	incs := e.Incidents(t)
	if len(incs) != 2 {
		t.Fatalf("%d incidents, want two urgent ones", len(incs))
	}
	if n := len(e.Tasks(t, incidents.TaskFilter{Dept: "gas"})); n != 2 {
		t.Fatalf("%d tasks for the gas company before the merge, want 2", n)
	}
	survivor, other := incs[0], incs[1]
	after := e.LastSeq(t)
	if _, err := e.WF.MergeIncidents(ctx, wftest.Leader, survivor.ID, other.ID, "同一条燃气管道"); err != nil {
		t.Fatal(err)
	}
	tasks := e.Tasks(t, incidents.TaskFilter{IncidentID: survivor.ID})
	open := map[string][]incidents.Task{}
	var cancelled []incidents.Task
	for _, tk := range tasks {
		switch {
		case tk.State.Open():
			open[tk.Dept] = append(open[tk.Dept], tk)
		case tk.State == incidents.TaskCancelled:
			cancelled = append(cancelled, tk)
		}
	}
	if len(open["gas"]) != 1 {
		t.Fatalf("%d open tasks for the gas company after the merge, want 1", len(open["gas"]))
	}
	for d, ts := range open {
		if len(ts) != 1 {
			t.Errorf("%d open tasks for %s after the merge, want 1", len(ts), d)
		}
	}
	if len(cancelled) == 0 {
		t.Fatal("no task was folded")
	}
	for _, tk := range cancelled {
		timers, err := e.WF.PendingTimers(ctx, tk.ID)
		if err != nil || len(timers) != 0 {
			t.Errorf("folded task %s keeps %d timers (%v), want none", tk.ID, len(timers), err)
		}
	}
	folded := 0
	for _, ev := range e.Events(t, after) {
		if ev.Type != incidents.EventTaskCancelled {
			continue
		}
		var d struct {
			ID    string           `json:"id"`
			Dept  string           `json:"dept"`
			Cause *incidents.Cause `json:"cause"`
		}
		wftest.Decode(t, ev, &d)
		if d.Cause == nil || d.Cause.Kind != incidents.CauseMerged || len(open[d.Dept]) != 1 || d.Cause.Into != open[d.Dept][0].ID {
			t.Errorf("task.cancelled of %s has cause %+v, want merged into its department's open task", d.ID, d.Cause)
		}
		folded++
	}
	if folded != len(cancelled) {
		t.Errorf("%d task.cancelled events, want %d", folded, len(cancelled))
	}
	inc, err := e.WF.GetIncident(ctx, wftest.Leader, survivor.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range inc.Departments {
		if len(open[d]) != 1 {
			t.Errorf("incident lists department %s with %d open tasks", d, len(open[d]))
		}
	}
}
