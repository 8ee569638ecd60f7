package incidents_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"flare/geo"
	"flare/incidents"
	"flare/incidents/defaults"
	"flare/incidents/sqlite"
)

// clock is a settable clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a workflow on a fresh embedded store with a test clock.
type env struct {
	store   *sqlite.Store
	path    string
	clock   *clock
	wf      *incidents.Workflow
	intake  *incidents.Intake
	tracker *incidents.Tracker
}

var (
	leader = incidents.Actor{Name: "leader:duty", Role: incidents.RoleLeader, Origin: "10.0.0.1:5000"}
	agent  = incidents.Actor{Name: "agent:seat-3", Role: incidents.RoleAgent}
)

func deptActor(code string) incidents.Actor {
	return incidents.Actor{Name: "dept:" + code, Role: incidents.RoleDept, Dept: code}
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	e := &env{path: filepath.Join(tb.TempDir(), "flare.db"), clock: &clock{t: time.Date(2026, 7, 1, 14, 0, 0, 0, time.UTC)}}
	e.open(tb)
	return e
}

// open (re)opens the store and builds the workflow over it.
func (e *env) open(tb testing.TB) {
	tb.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, e.path, sqlite.Options{})
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
	e.store = s
	e.wf = incidents.NewWorkflow(incidents.WorkflowConfig{Store: s, Taxonomy: tax, Departments: deps, Jurisdictions: regions, Now: e.clock.Now})
	e.intake = incidents.NewIntake(incidents.IntakeConfig{Store: s, Taxonomy: tax, Area: regions, Now: e.clock.Now})
	tb.Cleanup(func() { e.intake.Close(ctx) })
	e.tracker, err = incidents.NewTracker(e.wf, geo.DefaultRules(), 2*time.Minute)
	if err != nil {
		tb.Fatal(err)
	}
}

// call registers a call now at (lat, lon) and gives it to the tracker.
func (e *env) call(tb testing.TB, category string, lat, lon float64, urgent bool) incidents.Call {
	tb.Helper()
	in := incidents.CallInput{Lat: &lat, Lon: &lon, Category: &category, Urgent: &urgent}
	c, _, err := e.intake.Register(context.Background(), agent.Name, "", in)
	if err != nil {
		tb.Fatalf("Register(%s) = %v", category, err)
	}
	if err := e.tracker.Observe(context.Background(), c); err != nil {
		tb.Fatalf("Observe(%s) = %v", c.ID, err)
	}
	return c
}

func (e *env) incidents(tb testing.TB, states ...incidents.IncidentState) []incidents.Incident {
	tb.Helper()
	list, err := e.wf.ListIncidents(context.Background(), leader, incidents.IncidentFilter{States: states})
	if err != nil {
		tb.Fatal(err)
	}
	return list
}

func (e *env) tasks(tb testing.TB, f incidents.TaskFilter) []incidents.Task {
	tb.Helper()
	list, err := e.wf.ListTasks(context.Background(), leader, f)
	if err != nil {
		tb.Fatal(err)
	}
	return list
}

// events returns the types of the events after seq, and the events.
func (e *env) events(tb testing.TB, after int64) []incidents.Event {
	tb.Helper()
	evs, err := e.store.ReadEvents(context.Background(), after, 10000)
	if err != nil {
		tb.Fatal(err)
	}
	return evs
}

func countType(evs []incidents.Event, typ string) int {
	n := 0
	for _, ev := range evs {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

func depts(tasks []incidents.Task) []string {
	var out []string
	for _, t := range tasks {
		out = append(out, t.Dept)
	}
	slices.Sort(out)
	return out
}

// offset returns a point dx, dy metres east and north of (lat, lon).
func offset(lat, lon, dx, dy float64) (float64, float64) {
	return lat + dy/111_320, lon + dx/(111_320*0.9245)
}

const jidaLat, jidaLon = 22.2650, 113.5750

func TestUrgentCallOpensAnIncidentAndDispatchesAtOnce(t *testing.T) {
	e := newEnv(t)
	c := e.call(t, "gas_leak", jidaLat, jidaLon, true)
	incs := e.incidents(t)
	if len(incs) != 1 {
		t.Fatalf("incidents = %d, want 1", len(incs))
	}
	inc := incs[0]
	if inc.Source != "urgent" || inc.Grade != incidents.GradeIII || inc.District != "440402" || !slices.Equal(inc.Calls, []string{c.ID}) {
		t.Errorf("incident = source %s grade %d district %s calls %v; want urgent, III, 440402, [%s]", inc.Source, inc.Grade, inc.District, inc.Calls, c.ID)
	}
	got := depts(e.tasks(t, incidents.TaskFilter{IncidentID: inc.ID}))
	want := []string{"fire_rescue", "gas", "xiangzhou"}
	if !slices.Equal(got, want) {
		t.Errorf("tasks went to %v, want %v (owners of gas_leak and the district government)", got, want)
	}
	evs := e.events(t, c.Seq)
	var urgentAlert bool
	for _, ev := range evs {
		if ev.Type == incidents.EventAlertRaised && incidents.AudienceOf(ev).CallFloor {
			urgentAlert = true
		}
	}
	if !urgentAlert || countType(evs, incidents.EventTaskDispatched) != 3 || countType(evs, incidents.EventIncidentOpened) != 1 {
		t.Errorf("events after the call = %v, want incident.opened, 3 task.dispatched and an urgent alert the call floor sees", typesOf(evs))
	}
	for _, tk := range e.tasks(t, incidents.TaskFilter{IncidentID: inc.ID}) {
		if tk.Class != incidents.ClassEmergency || !tk.Deadline.Equal(e.clock.Now().Add(2*time.Hour)) || !tk.SignBy.Equal(e.clock.Now().Add(30*time.Minute)) {
			t.Errorf("task %s class %s deadline %v sign by %v; want emergency, 2 h and 30 min from now", tk.Dept, tk.Class, tk.Deadline, tk.SignBy)
		}
	}
}

func typesOf(evs []incidents.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Type
	}
	return out
}

func TestClusterIncidentKeepsItsIDWhileItGrows(t *testing.T) {
	e := newEnv(t)
	lat, lon := 22.2215, 113.5485 // Gongbei
	for i := 0; i < 5; i++ {
		la, lo := offset(lat, lon, float64(i*30), float64(i*20))
		e.call(t, "waterlogging", la, lo, false)
		e.clock.Add(time.Minute)
	}
	incs := e.incidents(t)
	if len(incs) != 1 {
		t.Fatalf("after 5 waterlogging calls: %d incidents, want 1", len(incs))
	}
	first := incs[0]
	if first.Grade != incidents.GradeIV || first.Plan == nil || first.Plan.Dispatched {
		t.Errorf("5-call incident grade %d plan %+v; want grade IV with a plan waiting for a leader", first.Grade, first.Plan)
	}
	if n := len(e.tasks(t, incidents.TaskFilter{IncidentID: first.ID})); n != 0 {
		t.Errorf("grade IV incident has %d tasks before a leader confirms, want 0", n)
	}
	for i := 0; i < 10; i++ {
		la, lo := offset(lat, lon, float64(-i*25), float64(i*15))
		e.call(t, "waterlogging", la, lo, false)
		e.clock.Add(30 * time.Second)
	}
	incs = e.incidents(t)
	if len(incs) != 1 || incs[0].ID != first.ID {
		t.Fatalf("after 15 calls incidents = %v, want the same single incident %s", idsOf(incs), first.ID)
	}
	grown := incs[0]
	if len(grown.Calls) != 15 || grown.CallCount != 15 || !grown.Grade.AtLeast(incidents.GradeII) || !grown.Plan.Dispatched || !grown.Plan.Auto {
		t.Errorf("grown incident calls %d grade %d plan %+v; want 15 calls, grade II or more, plan dispatched automatically", len(grown.Calls), grown.Grade, grown.Plan)
	}
	if got := depts(e.tasks(t, incidents.TaskFilter{IncidentID: first.ID})); !slices.Equal(got, []string{"water", "xiangzhou"}) {
		t.Errorf("tasks went to %v, want [water xiangzhou]", got)
	}
}

func idsOf(incs []incidents.Incident) []string {
	var out []string
	for _, i := range incs {
		out = append(out, fmt.Sprintf("%s(%s,%d calls)", i.ID, i.State, len(i.Calls)))
	}
	return out
}

func TestClustersThatJoinMergeTheirIncidentsIntoTheOlder(t *testing.T) {
	e := newEnv(t)
	lat, lon := 22.2510, 113.5230 // Qianshan
	// Two groups 900 m apart, each a waterlogging cluster of its own.
	for i := 0; i < 5; i++ {
		la, lo := offset(lat, lon, float64(i*20), 0)
		e.call(t, "waterlogging", la, lo, false)
	}
	e.clock.Add(time.Minute)
	for i := 0; i < 5; i++ {
		la, lo := offset(lat, lon, 900+float64(i*20), 0)
		e.call(t, "waterlogging", la, lo, false)
	}
	incs := e.incidents(t)
	if len(incs) != 2 {
		t.Fatalf("two separate groups gave %v, want 2 incidents", idsOf(incs))
	}
	older := incs[1] // newest first
	// Calls in between join the two clusters into one.
	for i := 0; i < 6; i++ {
		la, lo := offset(lat, lon, 250+float64(i*100), 0)
		e.call(t, "waterlogging", la, lo, false)
	}
	active := e.incidents(t, incidents.IncidentOpen, incidents.IncidentConfirmed)
	if len(active) != 1 || active[0].ID != older.ID {
		t.Fatalf("after the bridge active incidents = %v, want only the older %s", idsOf(active), older.ID)
	}
	if len(active[0].MergedFrom) != 1 || len(active[0].Calls) != 16 || active[0].CallCount != 16 {
		t.Errorf("survivor merged_from %v calls %d, want the other incident and all 16 calls", active[0].MergedFrom, len(active[0].Calls))
	}
	merged, err := e.wf.GetIncident(context.Background(), leader, active[0].MergedFrom[0])
	if err != nil || merged.State != incidents.IncidentMerged || merged.MergedInto != older.ID {
		t.Errorf("merged incident = %s into %q (%v), want merged into %s", merged.State, merged.MergedInto, err, older.ID)
	}
}

// A big incident is written at most every few seconds: repeat calls about
// it wait for the tracker's next Advance and join it together, with one
// update that every dashboard on it receives.
func TestRepeatCallsAboutABigIncidentJoinTogether(t *testing.T) {
	e := newEnv(t)
	lat, lon := 22.2080, 113.2970 // Jing'an, Doumen
	for i := 0; i < 30; i++ {
		la, lo := offset(lat, lon, float64(i%6*10), float64(i/6*10))
		e.call(t, "waterlogging", la, lo, false)
	}
	if err := e.tracker.Advance(context.Background(), e.clock.Now()); err != nil { // the growth that waited
		t.Fatal(err)
	}
	inc := e.incidents(t)[0]
	if inc.CallCount != 30 {
		t.Fatalf("incident has %d calls, want 30", inc.CallCount)
	}
	mark := e.events(t, 0)
	last := mark[len(mark)-1].Seq
	la, lo := offset(lat, lon, 20, 400) // near, but too far for the cluster
	first := e.call(t, "fallen_tree", la, lo, false)
	la, lo = offset(lat, lon, 20, -400)
	second := e.call(t, "fallen_tree", la, lo, false)
	got, _ := e.wf.GetIncident(context.Background(), leader, inc.ID)
	if got.CallCount != 30 || countType(e.events(t, last), incidents.EventIncidentUpdated) != 0 {
		t.Fatalf("before Advance the incident has %d calls and %d updates, want 30 and none yet",
			got.CallCount, countType(e.events(t, last), incidents.EventIncidentUpdated))
	}
	if err := e.tracker.Advance(context.Background(), e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	got, _ = e.wf.GetIncident(context.Background(), leader, inc.ID)
	if got.CallCount != 32 || !slices.Contains(got.Calls, first.ID) || !slices.Contains(got.Calls, second.ID) {
		t.Errorf("after Advance the incident has %d calls %v, want 32 with %s and %s", got.CallCount, got.Calls, first.ID, second.ID)
	}
	var updates []string
	for _, ev := range e.events(t, last) {
		if ev.Type == incidents.EventIncidentUpdated {
			var d struct {
				Reason string `json:"reason"`
			}
			json.Unmarshal(ev.Data, &d)
			updates = append(updates, d.Reason)
		}
	}
	if want := "2 repeat calls, the last " + second.ID; len(updates) != 1 || updates[0] != want {
		t.Errorf("updates after Advance: %q, want one: %q", updates, want)
	}
}

func TestRepeatCallsAttachToTheirIncident(t *testing.T) {
	e := newEnv(t)
	lat, lon := 22.2080, 113.2970 // Jing'an, Doumen
	for i := 0; i < 5; i++ {
		la, lo := offset(lat, lon, float64(i*20), 0)
		e.call(t, "waterlogging", la, lo, false)
	}
	inc := e.incidents(t)[0]
	la, lo := offset(lat, lon, 0, 400) // near, but too far for the cluster
	repeat := e.call(t, "fallen_tree", la, lo, false)
	la, lo = offset(lat, lon, 0, 3000) // far away
	e.call(t, "waterlogging", la, lo, false)
	got, _ := e.wf.GetIncident(context.Background(), leader, inc.ID)
	if !slices.Contains(got.Calls, repeat.ID) || len(got.Calls) != 6 {
		t.Errorf("incident calls = %v, want the 5 cluster calls and the repeat call %s only", got.Calls, repeat.ID)
	}
	if got.District != "440403" {
		t.Errorf("incident district = %q, want 440403 (Doumen)", got.District)
	}
}

// dispatched returns the env with one emergency task dispatched to the gas
// company, and that task.
func dispatched(t *testing.T) (*env, incidents.Task) {
	t.Helper()
	e := newEnv(t)
	e.call(t, "gas_leak", jidaLat, jidaLon, true)
	for _, tk := range e.tasks(t, incidents.TaskFilter{}) {
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
	gas := deptActor("gas")
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
		{"leader denies the extension", leader, incidents.TaskActionInput{Action: incidents.ActDecideExtension, Approve: &no}, incidents.TaskInProgress},
		{"department asks again", gas, incidents.TaskActionInput{Action: incidents.ActRequestExtension, Reason: "夜间施工", NewDeadline: ptr(tk.Deadline.Add(time.Hour))}, incidents.TaskInProgress},
		{"leader approves it", leader, incidents.TaskActionInput{Action: incidents.ActDecideExtension, Approve: &yes}, incidents.TaskInProgress},
		{"department completes it", gas, incidents.TaskActionInput{Action: incidents.ActComplete, Note: "泄漏点已修复，复测正常"}, incidents.TaskCompleted},
		{"hotline verifies it", agent, incidents.TaskActionInput{Action: incidents.ActVerify, Note: "结果属实"}, incidents.TaskVerified},
	}
	version := tk.Version
	for _, s := range steps {
		got, err := e.wf.ActOnTask(ctx, s.actor, tk.ID, incidents.TaskActionInput{
			Action: s.in.Action, Version: version, Note: s.in.Note, Reason: s.in.Reason, NewDeadline: s.in.NewDeadline, Approve: s.in.Approve,
		})
		if err != nil || got.State != s.state || got.Version != version+1 {
			t.Fatalf("%s: ActOnTask = %s v%d, %v; want %s v%d", s.name, got.State, got.Version, err, s.state, version+1)
		}
		version = got.Version
		tk = got
	}
	if !tk.Deadline.Equal(e.clock.Now().Add(3*time.Hour)) || tk.Extension.Decision != "approved" {
		t.Errorf("deadline %v extension %+v, want the approved deadline now+3h", tk.Deadline, tk.Extension)
	}
	reached := true
	got, err := e.wf.RecordCallback(ctx, agent, tk.ID, incidents.CallbackInput{Reached: &reached, Satisfaction: incidents.Unsatisfied, Comment: "仍有气味"})
	if err != nil || got.State != incidents.TaskReopened || got.Reopened != 1 || len(got.Callbacks) != 1 {
		t.Fatalf("unsatisfied callback: task %s reopened %d callbacks %d (%v), want reopened once", got.State, got.Reopened, len(got.Callbacks), err)
	}
	if _, err := e.wf.ActOnTask(ctx, gas, tk.ID, incidents.TaskActionInput{Action: incidents.ActSign, Version: got.Version}); err != nil {
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
		{"another department cannot see it", deptActor("water"), incidents.TaskActionInput{Action: incidents.ActSign, Version: tk.Version}, incidents.CodeNotFound, ""},
		{"a leader cannot sign for a department", leader, incidents.TaskActionInput{Action: incidents.ActSign, Version: tk.Version}, incidents.CodeForbidden, ""},
		{"a department cannot reassign", deptActor("gas"), incidents.TaskActionInput{Action: incidents.ActReassign, Version: tk.Version, Dept: "water"}, incidents.CodeForbidden, ""},
		{"completing before signing is illegal", deptActor("gas"), incidents.TaskActionInput{Action: incidents.ActComplete, Version: tk.Version, Note: "done"}, incidents.CodeInvalidTransition, "action"},
		{"verifying an open task is illegal", leader, incidents.TaskActionInput{Action: incidents.ActVerify, Version: tk.Version}, incidents.CodeInvalidTransition, "action"},
		{"a stale version is a conflict", deptActor("gas"), incidents.TaskActionInput{Action: incidents.ActSign, Version: tk.Version + 5}, incidents.CodeVersionConflict, "version"},
		{"no version", deptActor("gas"), incidents.TaskActionInput{Action: incidents.ActSign}, incidents.CodeInvalid, "version"},
		{"return without a reason", deptActor("gas"), incidents.TaskActionInput{Action: incidents.ActReturn, Version: tk.Version}, incidents.CodeInvalid, "reason"},
		{"extension to an earlier time", deptActor("gas"), incidents.TaskActionInput{Action: incidents.ActRequestExtension, Version: tk.Version, Reason: "x", NewDeadline: ptr(tk.Deadline.Add(-time.Hour))}, incidents.CodeInvalid, "new_deadline"},
		{"deciding an extension nobody asked for", leader, incidents.TaskActionInput{Action: incidents.ActDecideExtension, Version: tk.Version, Approve: ptr(true)}, incidents.CodeInvalidTransition, "action"},
		{"unknown action", deptActor("gas"), incidents.TaskActionInput{Action: "dance", Version: tk.Version}, incidents.CodeInvalid, "action"},
	}
	before := len(e.events(t, 0))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.wf.ActOnTask(ctx, tt.actor, tk.ID, tt.in)
			var ae *incidents.Error
			if !asError(err, &ae) || ae.Code != tt.code || (tt.field != "" && ae.Field != tt.field) {
				t.Errorf("ActOnTask(%s) = %v, want %s on %q", tt.in.Action, err, tt.code, tt.field)
			}
		})
	}
	if after := len(e.events(t, 0)); after != before {
		t.Errorf("refused actions appended %d events, want none", after-before)
	}
	if _, err := e.wf.GetTask(ctx, deptActor("water"), tk.ID); incidents.ErrorCode(err) != incidents.CodeNotFound {
		t.Errorf("GetTask by another department = %v, want not_found", err)
	}
	if list, _ := e.wf.ListTasks(ctx, deptActor("water"), incidents.TaskFilter{}); len(list) != 0 {
		t.Errorf("ListTasks by the water bureau = %d tasks, want none of the gas leak's", len(list))
	}
}

func TestConcurrentUpdatesCannotOverwriteEachOther(t *testing.T) {
	e, tk := dispatched(t)
	gas := deptActor("gas")
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, errs[i] = e.wf.ActOnTask(context.Background(), gas, tk.ID, incidents.TaskActionInput{Action: incidents.ActSign, Version: tk.Version})
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
	ret, err := e.wf.ActOnTask(ctx, deptActor("gas"), tk.ID, incidents.TaskActionInput{Action: incidents.ActReturn, Version: tk.Version, Reason: "非管道燃气，属液化气瓶"})
	if err != nil || ret.State != incidents.TaskReturned {
		t.Fatalf("return = %s, %v", ret.State, err)
	}
	re, err := e.wf.ActOnTask(ctx, leader, tk.ID, incidents.TaskActionInput{Action: incidents.ActReassign, Version: ret.Version, Dept: "market"})
	if err != nil || re.State != incidents.TaskDispatched || re.Dept != "market" || !slices.Equal(re.PreviousDepts, []string{"gas"}) {
		t.Fatalf("reassign = %+v, %v; want dispatched to market", re, err)
	}
	if _, err := e.wf.GetTask(ctx, deptActor("gas"), tk.ID); incidents.ErrorCode(err) != incidents.CodeNotFound {
		t.Errorf("the old department still sees the task: %v", err)
	}
	if _, err := e.wf.GetTask(ctx, deptActor("market"), tk.ID); err != nil {
		t.Errorf("the new department cannot see its task: %v", err)
	}
	evs := e.events(t, 0)
	last := evs[len(evs)-1]
	if last.Type != incidents.EventTaskReassigned || !incidents.AudienceOf(last).Includes("gas") || !incidents.AudienceOf(last).Includes("market") {
		t.Errorf("last event %s audience %+v, want task.reassigned seen by gas and market", last.Type, incidents.AudienceOf(last))
	}
	inc, _ := e.wf.GetIncident(ctx, leader, tk.IncidentID)
	if !slices.Contains(inc.Departments, "market") {
		t.Errorf("incident departments %v lack market", inc.Departments)
	}
}

func TestOverdueTaskEscalatesOnceAndAgainUntilHandled(t *testing.T) {
	e, tk := dispatched(t)
	ctx := context.Background()
	// Signed, but never completed: the 2 h limit passes.
	if _, err := e.wf.ActOnTask(ctx, deptActor("gas"), tk.ID, incidents.TaskActionInput{Action: incidents.ActSign, Version: tk.Version}); err != nil {
		t.Fatal(err)
	}
	seq, _ := e.store.LastSeq(ctx)
	e.clock.Add(2*time.Hour + 20*time.Minute)
	fired, err := e.wf.FireTimers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	evs := e.events(t, seq)
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
		t.Errorf("after 2h20 the gas task's supervision events = %v (fired %d); want one reminder, one overdue, one escalation", typesOf(evs), fired)
	}
	if countFor(evs, incidents.EventTaskSignOverdue) != 0 {
		t.Error("a signed task got a signing-overdue notice")
	}
	// Nothing fires twice.
	seq, _ = e.store.LastSeq(ctx)
	if n, _ := e.wf.FireTimers(ctx); n != 0 {
		t.Errorf("FireTimers again fired %d timers, want 0", n)
	}
	// A restart keeps the next escalation, due 30 min later.
	e.open(t)
	e.clock.Add(31 * time.Minute)
	if _, err := e.wf.FireTimers(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countFor(e.events(t, seq), incidents.EventTaskEscalated); n != 1 {
		t.Errorf("30 min later, after a restart: %d escalations of the gas task, want 1 more", n)
	}
	got, _ := e.wf.GetTask(ctx, leader, tk.ID)
	if got.Escalations != 2 || !got.Overdue {
		t.Errorf("task escalations %d overdue %v, want 2 and true", got.Escalations, got.Overdue)
	}
	// Completing it stops the escalations.
	if _, err := e.wf.ActOnTask(ctx, deptActor("gas"), tk.ID, incidents.TaskActionInput{Action: incidents.ActComplete, Version: got.Version, Note: "修复"}); err != nil {
		t.Fatal(err)
	}
	seq, _ = e.store.LastSeq(ctx)
	e.clock.Add(5 * time.Hour)
	e.wf.FireTimers(ctx)
	if n := countFor(e.events(t, seq), incidents.EventTaskEscalated); n != 0 {
		t.Errorf("a completed task escalated %d more times", n)
	}
}

func TestLeaderActionsOnIncidents(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	lat, lon := 22.2080, 113.2970
	for i := 0; i < 5; i++ {
		la, lo := offset(lat, lon, float64(i*20), 0)
		e.call(t, "waterlogging", la, lo, false)
	}
	inc := e.incidents(t)[0]
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
		got, err := e.wf.ActOnIncident(ctx, leader, inc.ID, s.in)
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
	if _, err := e.wf.ActOnIncident(ctx, deptActor("water"), inc.ID, incidents.IncidentAction{Action: "confirm"}); incidents.ErrorCode(err) != incidents.CodeForbidden {
		t.Errorf("a department confirming = %v, want forbidden", err)
	}
	if _, err := e.wf.ActOnIncident(ctx, leader, inc.ID, incidents.IncidentAction{Action: "note", Text: "x", Version: inc.Version - 1}); incidents.ErrorCode(err) != incidents.CodeVersionConflict {
		t.Errorf("a stale version = %v, want version_conflict", err)
	}
	entries, err := e.wf.Audit(ctx, leader, incidents.AuditFilter{Actor: leader.Name})
	if err != nil || len(entries) != 7 || entries[0].Origin != leader.Origin {
		t.Errorf("audit of the leader = %d entries (%v), want 7 (5 actions, 2 tasks dispatched) with origin %s", len(entries), err, leader.Origin)
	}
}

func TestBigIncidentListsItsFirstCallsAndCountsAll(t *testing.T) {
	e := newEnv(t)
	n := incidents.MaxIncidentCalls + 40
	for i := 0; i < n; i++ {
		la, lo := offset(22.2215, 113.5485, float64(i%23)*6, float64(i/23)*6)
		e.call(t, "waterlogging", la, lo, false)
		if i%60 == 59 {
			e.clock.Add(time.Minute)
		}
	}
	if err := e.tracker.Advance(context.Background(), e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	incs := e.incidents(t)
	if len(incs) != 1 {
		t.Fatalf("%d calls in one place gave %v, want one incident", n, idsOf(incs))
	}
	inc := incs[0]
	if inc.CallCount != n || len(inc.Calls) != incidents.MaxIncidentCalls || inc.Categories["waterlogging"] != n || inc.Grade != incidents.GradeI {
		t.Errorf("big incident: call_count %d, %d ids listed, categories %v, grade %d; want %d, %d, all waterlogging, grade I",
			inc.CallCount, len(inc.Calls), inc.Categories, inc.Grade, n, incidents.MaxIncidentCalls)
	}
	evs := e.events(t, 0)
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Type != incidents.EventIncidentUpdated {
			continue
		}
		var d struct {
			Calls     []string `json:"calls"`
			CallCount int      `json:"call_count"`
		}
		json.Unmarshal(evs[i].Data, &d)
		if len(d.Calls) != incidents.EventCalls || d.CallCount != n || d.Calls[incidents.EventCalls-1] != inc.Calls[len(inc.Calls)-1] {
			t.Errorf("last incident.updated lists %d calls (count %d), want the newest %d of %d", len(d.Calls), d.CallCount, incidents.EventCalls, n)
		}
		break
	}
}

// A huge incident (thousands of calls) is refreshed less often than a big
// one: each refresh summarises all its calls, so it waits two seconds per
// thousand calls, Advance included; its growth is still all counted when
// the refresh comes.
func TestHugeIncidentIsRefreshedLessOften(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	place := func(i int) (float64, float64) {
		return offset(22.2215, 113.5485, float64(i%45)*6, float64(i/45)*6)
	}
	// 2,400 waterlogging calls in a 270 m square within 24 minutes,
	// registered concurrently and given to the tracker in batches.
	register := func(from, to int) []incidents.Call {
		calls := make([]incidents.Call, to-from)
		var wg sync.WaitGroup
		errs := make(chan error, to-from)
		for i := from; i < to; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				la, lo := place(i)
				cat, urgent := "waterlogging", false
				c, _, err := e.intake.Register(ctx, agent.Name, "", incidents.CallInput{Lat: &la, Lon: &lo, Category: &cat, Urgent: &urgent})
				calls[i-from] = c
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		return calls
	}
	for from := 0; from < 2400; from += 100 {
		if err := e.tracker.ObserveAll(ctx, register(from, from+100)); err != nil {
			t.Fatal(err)
		}
		e.clock.Add(time.Minute)
	}
	if err := e.tracker.Advance(ctx, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	incs := e.incidents(t)
	if len(incs) != 1 || incs[0].CallCount != 2400 {
		t.Fatalf("2,400 calls in one place gave %d incidents (%v), want one of 2,400 calls", len(incs), idsOf(incs))
	}
	id := incs[0].ID
	count := func() int {
		inc, err := e.wf.GetIncident(ctx, leader, id)
		if err != nil {
			t.Fatal(err)
		}
		return inc.CallCount
	}
	// 20 more calls a minute after the last refresh: written at once.
	if err := e.tracker.ObserveAll(ctx, register(2400, 2420)); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 2420 {
		t.Fatalf("a minute after its last refresh the huge incident took 20 calls and counts %d, want 2,420", n)
	}
	mark := e.events(t, 0)
	last := mark[len(mark)-1].Seq

	// 40 more a second later: their growth waits past the next Advance,
	// as the incident was written less than 4 s (2 s per 1,000 calls) ago.
	e.clock.Add(time.Second)
	if err := e.tracker.ObserveAll(ctx, register(2420, 2460)); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Second)
	if err := e.tracker.Advance(ctx, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if n, updates := count(), countType(e.events(t, last), incidents.EventIncidentUpdated); n != 2420 || updates != 0 {
		t.Errorf("2 s after its last refresh the huge incident has %d calls after %d updates, want 2,420 after none (its refresh is not due)", n, updates)
	}
	e.clock.Add(2 * time.Second)
	if err := e.tracker.Advance(ctx, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if n, updates := count(), countType(e.events(t, last), incidents.EventIncidentUpdated); n != 2460 || updates != 1 {
		t.Errorf("4 s after its last refresh the huge incident has %d calls after %d updates, want 2,460 after one", n, updates)
	}
}
