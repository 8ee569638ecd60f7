package incidents_test

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"flare/incidents"
	"flare/incidents/internal/wftest"
)

// wantAudience is the audience each event of the workflow must carry, from
// what the event is about.
func wantAudience(tb testing.TB, ev incidents.Event) incidents.Audience {
	tb.Helper()
	sorted := func(ds ...string) []string {
		var out []string
		for _, d := range ds {
			if d != "" && !slices.Contains(out, d) {
				out = append(out, d)
			}
		}
		slices.Sort(out)
		return out
	}
	switch {
	case ev.Type == incidents.EventCallReceived:
		return incidents.CallReceivedAudience()
	case ev.Type == incidents.EventAlertRaised:
		var a incidents.Alert
		wftest.Decode(tb, ev, &a)
		switch a.Kind {
		case incidents.AlertUrgentCall:
			return incidents.Audience{CallFloor: true}
		case incidents.AlertEscalation:
			return incidents.Audience{Depts: []string{a.Dept}}
		}
		return incidents.Audience{}
	case strings.HasPrefix(ev.Type, "incident."):
		var d struct{ Departments []string }
		wftest.Decode(tb, ev, &d)
		return incidents.Audience{Depts: sorted(d.Departments...)}
	case strings.HasPrefix(ev.Type, "task."), strings.HasPrefix(ev.Type, "callback."):
		var d struct {
			Dept         string `json:"dept"`
			PreviousDept string `json:"previous_dept"`
		}
		wftest.Decode(tb, ev, &d)
		return incidents.Audience{Hotline: true, Depts: sorted(d.Dept, d.PreviousDept)}
	}
	tb.Fatalf("event type %s has no audience rule", ev.Type)
	return incidents.Audience{}
}

// TestEveryEventCarriesItsAudience works an urgent incident through its
// life (dispatch, regrade, signing, supervision, return and reassignment,
// cancellation, callback) and checks the audience the domain gave every
// event it appended.
func TestEveryEventCarriesItsAudience(t *testing.T) {
	e, gas := dispatched(t)
	ctx := context.Background()
	inc, _ := e.WF.GetIncident(ctx, wftest.Leader, gas.IncidentID)
	if _, err := e.WF.ActOnIncident(ctx, wftest.Leader, inc.ID, incidents.IncidentAction{Action: "regrade", Grade: incidents.GradeII, Reason: "school nearby", Version: inc.Version}); err != nil {
		t.Fatal(err)
	}
	e.Clock.Add(2*time.Hour + 20*time.Minute) // nobody signed: sign overdue, reminder, overdue, escalation
	if _, err := e.WF.FireTimers(ctx); err != nil {
		t.Fatal(err)
	}
	tk, _ := e.WF.GetTask(ctx, wftest.Leader, gas.ID)
	tk, err := e.WF.ActOnTask(ctx, wftest.Dept("gas"), tk.ID, incidents.TaskActionInput{Action: incidents.ActReturn, Version: tk.Version, Reason: "bottled gas"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.WF.ActOnTask(ctx, wftest.Leader, tk.ID, incidents.TaskActionInput{Action: incidents.ActReassign, Version: tk.Version, Dept: "market"}); err != nil {
		t.Fatal(err)
	}
	for _, ft := range e.Tasks(t, incidents.TaskFilter{IncidentID: inc.ID}) {
		if ft.Dept == "fire_rescue" {
			if _, err := e.WF.ActOnTask(ctx, wftest.Leader, ft.ID, incidents.TaskActionInput{Action: incidents.ActCancel, Version: ft.Version, Reason: "no fire"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	inc, _ = e.WF.GetIncident(ctx, wftest.Leader, inc.ID)
	if _, err := e.WF.ActOnIncident(ctx, wftest.Leader, inc.ID, incidents.IncidentAction{Action: "note", Text: "valve closed", Version: inc.Version}); err != nil {
		t.Fatal(err)
	}

	seen := map[string]bool{}
	for _, ev := range e.Events(t, 0) {
		seen[ev.Type] = true
		if want := wantAudience(t, ev); !reflect.DeepEqual(ev.Audience, want) {
			t.Errorf("%s (seq %d) audience = %+v, want %+v", ev.Type, ev.Seq, ev.Audience, want)
		}
		if ev.Audience.CallFloor && ev.Type != incidents.EventAlertRaised && ev.Type != incidents.EventCallReceived {
			t.Errorf("%s reaches the call floor", ev.Type)
		}
	}
	for _, typ := range []string{incidents.EventCallReceived, incidents.EventIncidentOpened, incidents.EventIncidentGraded, incidents.EventIncidentUpdated, incidents.EventIncidentNote,
		incidents.EventAlertRaised, incidents.EventTaskDispatched, incidents.EventTaskSignOverdue, incidents.EventTaskReminder, incidents.EventTaskOverdue,
		incidents.EventTaskEscalated, incidents.EventTaskReturned, incidents.EventTaskReassigned, incidents.EventTaskCancelled} {
		if !seen[typ] {
			t.Errorf("the incident's life appended no %s", typ)
		}
	}
}

// A department whose task was returned and reassigned away, or cancelled,
// stops receiving the incident's events and can no longer read it; the
// department that took the task over can.
func TestDepartmentWithoutALiveTaskStopsSeeingTheIncident(t *testing.T) {
	e, gas := dispatched(t)
	ctx := context.Background()
	ret, err := e.WF.ActOnTask(ctx, wftest.Dept("gas"), gas.ID, incidents.TaskActionInput{Action: incidents.ActReturn, Version: gas.Version, Reason: "bottled gas"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.WF.GetIncident(ctx, wftest.Dept("gas"), gas.IncidentID); err != nil {
		t.Errorf("gas cannot read the incident while its returned task waits to be reassigned: %v", err)
	}
	if _, err := e.WF.ActOnTask(ctx, wftest.Leader, gas.ID, incidents.TaskActionInput{Action: incidents.ActReassign, Version: ret.Version, Dept: "market"}); err != nil {
		t.Fatal(err)
	}
	var fire incidents.Task
	for _, tk := range e.Tasks(t, incidents.TaskFilter{IncidentID: gas.IncidentID}) {
		if tk.Dept == "fire_rescue" {
			fire = tk
		}
	}
	if _, err := e.WF.ActOnTask(ctx, wftest.Leader, fire.ID, incidents.TaskActionInput{Action: incidents.ActCancel, Version: fire.Version, Reason: "no fire"}); err != nil {
		t.Fatal(err)
	}
	mark := e.LastSeq(t)
	inc, _ := e.WF.GetIncident(ctx, wftest.Leader, gas.IncidentID)
	if want := []string{"xiangzhou", "market"}; !slices.Equal(inc.Departments, want) {
		t.Errorf("incident departments = %v, want %v (gas moved away, fire_rescue cancelled)", inc.Departments, want)
	}
	if _, err := e.WF.ActOnIncident(ctx, wftest.Leader, inc.ID, incidents.IncidentAction{Action: "note", Text: "valve closed", Version: inc.Version}); err != nil {
		t.Fatal(err)
	}
	evs := e.Events(t, mark)
	if len(evs) != 1 || evs[0].Type != incidents.EventIncidentNote {
		t.Fatalf("events after the note = %v, want one incident.note", wftest.TypesOf(evs))
	}
	if a := evs[0].Audience; a.Includes("gas") || a.Includes("fire_rescue") || !a.Includes("market") || !a.Includes("xiangzhou") {
		t.Errorf("incident.note after the reassignment goes to %v, want market and xiangzhou, not gas nor fire_rescue", a.Depts)
	}
	for _, dept := range []string{"gas", "fire_rescue"} {
		if _, err := e.WF.GetIncident(ctx, wftest.Dept(dept), inc.ID); incidents.ErrorCode(err) != incidents.CodeNotFound {
			t.Errorf("GetIncident by %s = %v, want not_found", dept, err)
		}
		if list, err := e.WF.ListIncidents(ctx, wftest.Dept(dept), incidents.IncidentFilter{}); err != nil || len(list) != 0 {
			t.Errorf("ListIncidents by %s = %d incidents (%v), want none", dept, len(list), err)
		}
		if incidents.CanReadIncident(wftest.Dept(dept), inc) {
			t.Errorf("CanReadIncident(%s) = true, want false", dept)
		}
	}
	if _, err := e.WF.GetTask(ctx, wftest.Dept("gas"), gas.ID); incidents.ErrorCode(err) != incidents.CodeNotFound {
		t.Errorf("GetTask by gas after the reassignment = %v, want not_found", err)
	}
	for _, dept := range []string{"market", "xiangzhou"} {
		if _, err := e.WF.GetIncident(ctx, wftest.Dept(dept), inc.ID); err != nil {
			t.Errorf("GetIncident by %s = %v, want the incident", dept, err)
		}
	}
}

// A department keeps an incident while it holds any live task on it.
func TestDepartmentWithAnotherLiveTaskKeepsTheIncident(t *testing.T) {
	e, gas := dispatched(t)
	ctx := context.Background()
	ret, err := e.WF.ActOnTask(ctx, wftest.Dept("gas"), gas.ID, incidents.TaskActionInput{Action: incidents.ActReturn, Version: gas.Version, Reason: "fire brigade's"})
	if err != nil {
		t.Fatal(err)
	}
	moved, err := e.WF.ActOnTask(ctx, wftest.Leader, gas.ID, incidents.TaskActionInput{Action: incidents.ActReassign, Version: ret.Version, Dept: "fire_rescue"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.WF.ActOnTask(ctx, wftest.Leader, moved.ID, incidents.TaskActionInput{Action: incidents.ActCancel, Version: moved.Version, Reason: "one is enough"}); err != nil {
		t.Fatal(err)
	}
	inc, _ := e.WF.GetIncident(ctx, wftest.Leader, gas.IncidentID)
	if !slices.Contains(inc.Departments, "fire_rescue") || slices.Contains(inc.Departments, "gas") {
		t.Errorf("incident departments = %v, want fire_rescue (its own task is live) and not gas", inc.Departments)
	}
	if _, err := e.WF.GetIncident(ctx, wftest.Dept("fire_rescue"), inc.ID); err != nil {
		t.Errorf("GetIncident by fire_rescue = %v, want the incident", err)
	}
}

// An incident that holds an urgent call says so ("urgent": true) in its
// alerts, but only the urgent call's own alert reaches the call floor.
func TestOnlyUrgentCallAlertsReachTheCallFloor(t *testing.T) {
	e, gas := dispatched(t)
	ctx := context.Background()
	inc, _ := e.WF.GetIncident(ctx, wftest.Leader, gas.IncidentID)
	if _, err := e.WF.ActOnIncident(ctx, wftest.Leader, inc.ID, incidents.IncidentAction{Action: "regrade", Grade: incidents.GradeI, Reason: "spreading", Version: inc.Version}); err != nil {
		t.Fatal(err)
	}
	e.Clock.Add(3 * time.Hour)
	if _, err := e.WF.FireTimers(ctx); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, ev := range e.Events(t, 0) {
		if ev.Type != incidents.EventAlertRaised {
			if ev.Audience.CallFloor && ev.Type != incidents.EventCallReceived {
				t.Errorf("%s reaches the call floor", ev.Type)
			}
			continue
		}
		var a incidents.Alert
		wftest.Decode(t, ev, &a)
		kinds[a.Kind]++
		if !a.Urgent {
			t.Errorf("%s alert says the incident holds no urgent call", a.Kind)
		}
		if floor := a.Kind == incidents.AlertUrgentCall; ev.Audience.CallFloor != floor {
			t.Errorf("%s alert reaches the call floor: %v, want %v", a.Kind, ev.Audience.CallFloor, floor)
		}
		if a.Kind == incidents.AlertUrgentCall && a.CallID == "" {
			t.Error("urgent_call alert without call_id")
		}
	}
	if kinds[incidents.AlertUrgentCall] != 1 || kinds[incidents.AlertGradeRaised] != 1 || kinds[incidents.AlertEscalation] == 0 {
		t.Errorf("alerts = %v, want one urgent_call, one grade_raised and escalations", kinds)
	}
}
