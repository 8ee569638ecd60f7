package incidents_test

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"flare/incidents"
	"flare/incidents/internal/wftest"
)

// dispatched returns the env with one emergency task dispatched to the gas
// company, and that task.
func dispatched(t *testing.T) (*wftest.Env, incidents.Task) {
	t.Helper()
	e := wftest.New(t)
	e.Call(t, "gas_leak", wftest.JidaLat, wftest.JidaLon, true)
	for _, tk := range e.Tasks(t, incidents.TaskFilter{}) {
		if tk.Dept == "gas" {
			return e, tk
		}
	}
	t.Fatal("no task for the gas company")
	return nil, incidents.Task{}
}

func TestTaskLifecycleFromDispatchToCallback(t *testing.T) {
	e, tk := dispatched(t)
	ctx := context.Background()
	gas := wftest.Dept("gas")
	yes, no := true, false
	steps := []struct {
		name  string
		actor incidents.Actor
		in    incidents.TaskActionInput
		state incidents.TaskState
	}{
		{"department signs for it", gas, incidents.TaskActionInput{Action: incidents.ActSign}, incidents.TaskSigned},
		{"department reports progress", gas, incidents.TaskActionInput{Action: incidents.ActProgress, Note: "抢修人员已到场，已关阀"}, incidents.TaskInProgress},
		{"department asks for more time", gas, incidents.TaskActionInput{Action: incidents.ActRequestExtension, Reason: "管道需更换", NewDeadline: ptr(tk.Deadline.Add(2 * time.Hour))}, incidents.TaskInProgress},
		{"wftest.Leader denies the extension", wftest.Leader, incidents.TaskActionInput{Action: incidents.ActDecideExtension, Approve: &no}, incidents.TaskInProgress},
		{"department asks again", gas, incidents.TaskActionInput{Action: incidents.ActRequestExtension, Reason: "夜间施工", NewDeadline: ptr(tk.Deadline.Add(time.Hour))}, incidents.TaskInProgress},
		{"wftest.Leader approves it", wftest.Leader, incidents.TaskActionInput{Action: incidents.ActDecideExtension, Approve: &yes}, incidents.TaskInProgress},
		{"department completes it", gas, incidents.TaskActionInput{Action: incidents.ActComplete, Note: "泄漏点已修复，复测正常"}, incidents.TaskCompleted},
		{"hotline verifies it", wftest.Agent, incidents.TaskActionInput{Action: incidents.ActVerify, Note: "结果属实"}, incidents.TaskVerified},
	}
	version := tk.Version
	for _, s := range steps {
		got, err := e.WF.ActOnTask(ctx, s.actor, tk.ID, incidents.TaskActionInput{
			Action: s.in.Action, Version: version, Note: s.in.Note, Reason: s.in.Reason, NewDeadline: s.in.NewDeadline, Approve: s.in.Approve,
		})
		if err != nil || got.State != s.state || got.Version != version+1 {
			t.Fatalf("%s: ActOnTask = %s v%d, %v; want %s v%d", s.name, got.State, got.Version, err, s.state, version+1)
		}
		version = got.Version
		tk = got
	}
	if !tk.Deadline.Equal(e.Clock.Now().Add(3*time.Hour)) || tk.Extension.Decision != "approved" {
		t.Errorf("deadline %v extension %+v, want the approved deadline now+3h", tk.Deadline, tk.Extension)
	}
	reached := true
	got, err := e.WF.RecordCallback(ctx, wftest.Agent, tk.ID, incidents.CallbackInput{Reached: &reached, Satisfaction: incidents.Unsatisfied, Comment: "仍有气味"})
	if err != nil || got.State != incidents.TaskReopened || got.Reopened != 1 || len(got.Callbacks) != 1 {
		t.Fatalf("unsatisfied callback: task %s reopened %d callbacks %d (%v), want reopened once", got.State, got.Reopened, len(got.Callbacks), err)
	}
	if _, err := e.WF.ActOnTask(ctx, gas, tk.ID, incidents.TaskActionInput{Action: incidents.ActSign, Version: got.Version}); err != nil {
		t.Errorf("signing for the reopened task: %v", err)
	}
}

func TestTaskActionsAreRefusedClearly(t *testing.T) {
	e, tk := dispatched(t)
	ctx := context.Background()
	tests := []struct {
		name  string
		actor incidents.Actor
		in    incidents.TaskActionInput
		code  string
		field string
	}{
		{"another department cannot see it", wftest.Dept("water"), incidents.TaskActionInput{Action: incidents.ActSign, Version: tk.Version}, incidents.CodeNotFound, ""},
		{"a wftest.Leader cannot sign for a department", wftest.Leader, incidents.TaskActionInput{Action: incidents.ActSign, Version: tk.Version}, incidents.CodeForbidden, ""},
		{"a department cannot reassign", wftest.Dept("gas"), incidents.TaskActionInput{Action: incidents.ActReassign, Version: tk.Version, Dept: "water"}, incidents.CodeForbidden, ""},
		{"completing before signing is illegal", wftest.Dept("gas"), incidents.TaskActionInput{Action: incidents.ActComplete, Version: tk.Version, Note: "done"}, incidents.CodeInvalidTransition, "action"},
		{"verifying an open task is illegal", wftest.Leader, incidents.TaskActionInput{Action: incidents.ActVerify, Version: tk.Version}, incidents.CodeInvalidTransition, "action"},
		{"a stale version is a conflict", wftest.Dept("gas"), incidents.TaskActionInput{Action: incidents.ActSign, Version: tk.Version + 5}, incidents.CodeVersionConflict, "version"},
		{"no version", wftest.Dept("gas"), incidents.TaskActionInput{Action: incidents.ActSign}, incidents.CodeInvalid, "version"},
		{"return without a reason", wftest.Dept("gas"), incidents.TaskActionInput{Action: incidents.ActReturn, Version: tk.Version}, incidents.CodeInvalid, "reason"},
		{"extension to an earlier time", wftest.Dept("gas"), incidents.TaskActionInput{Action: incidents.ActRequestExtension, Version: tk.Version, Reason: "x", NewDeadline: ptr(tk.Deadline.Add(-time.Hour))}, incidents.CodeInvalid, "new_deadline"},
		{"deciding an extension nobody asked for", wftest.Leader, incidents.TaskActionInput{Action: incidents.ActDecideExtension, Version: tk.Version, Approve: ptr(true)}, incidents.CodeInvalidTransition, "action"},
		{"unknown action", wftest.Dept("gas"), incidents.TaskActionInput{Action: "dance", Version: tk.Version}, incidents.CodeInvalid, "action"},
	}
	before := len(e.Events(t, 0))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.WF.ActOnTask(ctx, tt.actor, tk.ID, tt.in)
			var ae *incidents.Error
			if !asError(err, &ae) || ae.Code != tt.code || (tt.field != "" && ae.Field != tt.field) {
				t.Errorf("ActOnTask(%s) = %v, want %s on %q", tt.in.Action, err, tt.code, tt.field)
			}
		})
	}
	if after := len(e.Events(t, 0)); after != before {
		t.Errorf("refused actions appended %d events, want none", after-before)
	}
	if _, err := e.WF.GetTask(ctx, wftest.Dept("water"), tk.ID); incidents.ErrorCode(err) != incidents.CodeNotFound {
		t.Errorf("GetTask by another department = %v, want not_found", err)
	}
	if list, _ := e.WF.ListTasks(ctx, wftest.Dept("water"), incidents.TaskFilter{}); len(list) != 0 {
		t.Errorf("ListTasks by the water bureau = %d tasks, want none of the gas leak's", len(list))
	}
}

func TestConcurrentUpdatesCannotOverwriteEachOther(t *testing.T) {
	e, tk := dispatched(t)
	gas := wftest.Dept("gas")
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, errs[i] = e.WF.ActOnTask(context.Background(), gas, tk.ID, incidents.TaskActionInput{Action: incidents.ActSign, Version: tk.Version})
		}(i)
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch incidents.ErrorCode(err) {
		case "":
			ok++
		case incidents.CodeVersionConflict, incidents.CodeInvalidTransition:
		default:
			t.Errorf("concurrent sign: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d of 8 concurrent signs from the same version succeeded, want exactly 1", ok)
	}
}

func TestReturnedTaskIsReassigned(t *testing.T) {
	e, tk := dispatched(t)
	ctx := context.Background()
	ret, err := e.WF.ActOnTask(ctx, wftest.Dept("gas"), tk.ID, incidents.TaskActionInput{Action: incidents.ActReturn, Version: tk.Version, Reason: "非管道燃气，属液化气瓶"})
	if err != nil || ret.State != incidents.TaskReturned {
		t.Fatalf("return = %s, %v", ret.State, err)
	}
	re, err := e.WF.ActOnTask(ctx, wftest.Leader, tk.ID, incidents.TaskActionInput{Action: incidents.ActReassign, Version: ret.Version, Dept: "market"})
	if err != nil || re.State != incidents.TaskDispatched || re.Dept != "market" || !slices.Equal(re.PreviousDepts, []string{"gas"}) {
		t.Fatalf("reassign = %+v, %v; want dispatched to market", re, err)
	}
	if _, err := e.WF.GetTask(ctx, wftest.Dept("gas"), tk.ID); incidents.ErrorCode(err) != incidents.CodeNotFound {
		t.Errorf("the old department still sees the task: %v", err)
	}
	if _, err := e.WF.GetTask(ctx, wftest.Dept("market"), tk.ID); err != nil {
		t.Errorf("the new department cannot see its task: %v", err)
	}
	var reassigned *incidents.Event
	for _, ev := range e.Events(t, 0) {
		if ev.Type == incidents.EventTaskReassigned {
			reassigned = &ev
		}
	}
	if reassigned == nil || !reassigned.Audience.Includes("gas") || !reassigned.Audience.Includes("market") {
		t.Errorf("task.reassigned = %+v, want it seen by gas and market", reassigned)
	}
	inc, _ := e.WF.GetIncident(ctx, wftest.Leader, tk.IncidentID)
	if !slices.Contains(inc.Departments, "market") {
		t.Errorf("incident departments %v lack market", inc.Departments)
	}
}

func TestOverdueTaskEscalatesOnceAndAgainUntilHandled(t *testing.T) {
	e, tk := dispatched(t)
	ctx := context.Background()
	// Signed, but never completed: the 2 h limit passes.
	if _, err := e.WF.ActOnTask(ctx, wftest.Dept("gas"), tk.ID, incidents.TaskActionInput{Action: incidents.ActSign, Version: tk.Version}); err != nil {
		t.Fatal(err)
	}
	seq, _ := e.Store.LastSeq(ctx)
	e.Clock.Add(2*time.Hour + 20*time.Minute)
	fired, err := e.WF.FireTimers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	evs := e.Events(t, seq)
	countFor := func(evs []incidents.Event, typ string) int {
		n := 0
		for _, ev := range evs {
			var d struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(ev.Data, &d)
			if ev.Type == typ && d.ID == tk.ID {
				n++
			}
		}
		return n
	}
	if countFor(evs, incidents.EventTaskReminder) != 1 || countFor(evs, incidents.EventTaskOverdue) != 1 || countFor(evs, incidents.EventTaskEscalated) != 1 {
		t.Errorf("after 2h20 the gas task's supervision events = %v (fired %d); want one reminder, one overdue, one escalation", wftest.TypesOf(evs), fired)
	}
	if countFor(evs, incidents.EventTaskSignOverdue) != 0 {
		t.Error("a signed task got a signing-overdue notice")
	}
	// Nothing fires twice.
	seq, _ = e.Store.LastSeq(ctx)
	if n, _ := e.WF.FireTimers(ctx); n != 0 {
		t.Errorf("FireTimers again fired %d timers, want 0", n)
	}
	// A restart keeps the next escalation, due 30 min later.
	e.Open(t)
	e.Clock.Add(31 * time.Minute)
	if _, err := e.WF.FireTimers(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countFor(e.Events(t, seq), incidents.EventTaskEscalated); n != 1 {
		t.Errorf("30 min later, after a restart: %d escalations of the gas task, want 1 more", n)
	}
	got, _ := e.WF.GetTask(ctx, wftest.Leader, tk.ID)
	if got.Escalations != 2 || !got.Overdue {
		t.Errorf("task escalations %d overdue %v, want 2 and true", got.Escalations, got.Overdue)
	}
	// Completing it stops the escalations.
	if _, err := e.WF.ActOnTask(ctx, wftest.Dept("gas"), tk.ID, incidents.TaskActionInput{Action: incidents.ActComplete, Version: got.Version, Note: "修复"}); err != nil {
		t.Fatal(err)
	}
	seq, _ = e.Store.LastSeq(ctx)
	e.Clock.Add(5 * time.Hour)
	e.WF.FireTimers(ctx)
	if n := countFor(e.Events(t, seq), incidents.EventTaskEscalated); n != 0 {
		t.Errorf("a completed task escalated %d more times", n)
	}
}

func TestLeaderActionsOnIncidents(t *testing.T) {
	e := wftest.New(t)
	ctx := context.Background()
	lat, lon := 22.2080, 113.2970
	for i := 0; i < 5; i++ {
		la, lo := wftest.Offset(lat, lon, float64(i*20), 0)
		e.Call(t, "waterlogging", la, lo, false)
	}
	inc := e.Incidents(t)[0]
	steps := []struct {
		name string
		in   incidents.IncidentAction
		code string
	}{
		{"confirm", incidents.IncidentAction{Action: "confirm"}, ""},
		{"confirm twice", incidents.IncidentAction{Action: "confirm"}, incidents.CodeInvalidTransition},
		{"regrade without a reason", incidents.IncidentAction{Action: "regrade", Grade: 2}, incidents.CodeInvalid},
		{"regrade to a grade that does not exist", incidents.IncidentAction{Action: "regrade", Grade: 7, Reason: "x"}, incidents.CodeInvalid},
		{"regrade", incidents.IncidentAction{Action: "regrade", Grade: 3, Reason: "积水深达一米"}, ""},
		{"lead department", incidents.IncidentAction{Action: "lead_dept", Dept: "water"}, ""},
		{"unknown lead department", incidents.IncidentAction{Action: "lead_dept", Dept: "nasa"}, incidents.CodeInvalid},
		{"note", incidents.IncidentAction{Action: "note", Text: "已通知排涝队"}, ""},
		{"dispatch the plan", incidents.IncidentAction{Action: "dispatch"}, ""},
		{"dispatch twice", incidents.IncidentAction{Action: "dispatch"}, incidents.CodeInvalidTransition},
		{"close with open tasks", incidents.IncidentAction{Action: "close", Summary: "积水退去"}, incidents.CodeInvalidTransition},
	}
	for _, s := range steps {
		s.in.Version = inc.Version
		got, err := e.WF.ActOnIncident(ctx, wftest.Leader, inc.ID, s.in)
		if incidents.ErrorCode(err) != s.code {
			t.Fatalf("%s: ActOnIncident = %v, want code %q", s.name, err, s.code)
		}
		if err == nil {
			inc = got
		}
	}
	if inc.State != incidents.IncidentConfirmed || inc.Grade != incidents.GradeIII || !inc.GradeManual || inc.LeadDept != "water" || len(inc.Notes) != 1 || !inc.Plan.Dispatched || inc.Plan.Auto {
		t.Errorf("incident after the leader's actions = %+v", inc)
	}
	if _, err := e.WF.ActOnIncident(ctx, wftest.Dept("water"), inc.ID, incidents.IncidentAction{Action: "confirm"}); incidents.ErrorCode(err) != incidents.CodeForbidden {
		t.Errorf("a department confirming = %v, want forbidden", err)
	}
	if _, err := e.WF.ActOnIncident(ctx, wftest.Leader, inc.ID, incidents.IncidentAction{Action: "note", Text: "x", Version: inc.Version - 1}); incidents.ErrorCode(err) != incidents.CodeVersionConflict {
		t.Errorf("a stale version = %v, want version_conflict", err)
	}
	entries, err := e.WF.Audit(ctx, wftest.Leader, incidents.AuditFilter{Actor: wftest.Leader.Name})
	if err != nil || len(entries) != 7 || entries[0].Origin != wftest.Leader.Origin {
		t.Errorf("audit of the wftest.Leader = %d entries (%v), want 7 (5 actions, 2 tasks dispatched) with origin %s", len(entries), err, wftest.Leader.Origin)
	}
}
