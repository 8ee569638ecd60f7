package tracking_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"flare/incidents"
	"flare/incidents/internal/wftest"
)

func TestUrgentCallOpensAnIncidentAndDispatchesAtOnce(t *testing.T) {
	e := wftest.New(t)
	c := e.Call(t, "gas_leak", wftest.JidaLat, wftest.JidaLon, true)
	incs := e.Incidents(t)
	if len(incs) != 1 {
		t.Fatalf("incidents = %d, want 1", len(incs))
	}
	inc := incs[0]
	if inc.Source != "urgent" || inc.Grade != incidents.GradeIII || inc.District != "440402" || !slices.Equal(inc.Calls, []string{c.ID}) {
		t.Errorf("incident = source %s grade %d district %s calls %v; want urgent, III, 440402, [%s]", inc.Source, inc.Grade, inc.District, inc.Calls, c.ID)
	}
	got := wftest.Depts(e.Tasks(t, incidents.TaskFilter{IncidentID: inc.ID}))
	want := []string{"fire_rescue", "gas", "xiangzhou"}
	if !slices.Equal(got, want) {
		t.Errorf("tasks went to %v, want %v (owners of gas_leak and the district government)", got, want)
	}
	evs := e.Events(t, c.Seq)
	var urgentAlert bool
	for _, ev := range evs {
		var a incidents.Alert
		if ev.Type == incidents.EventAlertRaised && ev.Audience.CallFloor {
			wftest.Decode(t, ev, &a)
			urgentAlert = a.Kind == incidents.AlertUrgentCall && a.CallID == c.ID && a.IncidentID == inc.ID && a.Category == "gas_leak" && a.District == "440402"
		}
	}
	if !urgentAlert || wftest.CountType(evs, incidents.EventTaskDispatched) != 3 || wftest.CountType(evs, incidents.EventIncidentOpened) != 1 {
		t.Errorf("events after the call = %v, want incident.opened, 3 task.dispatched and an urgent_call alert with the call's id that the call floor sees", wftest.TypesOf(evs))
	}
	for _, tk := range e.Tasks(t, incidents.TaskFilter{IncidentID: inc.ID}) {
		if tk.Class != incidents.ClassEmergency || !tk.Deadline.Equal(e.Clock.Now().Add(2*time.Hour)) || !tk.SignBy.Equal(e.Clock.Now().Add(30*time.Minute)) {
			t.Errorf("task %s class %s deadline %v sign by %v; want emergency, 2 h and 30 min from now", tk.Dept, tk.Class, tk.Deadline, tk.SignBy)
		}
	}
}

func TestClusterIncidentKeepsItsIDWhileItGrows(t *testing.T) {
	e := wftest.New(t)
	lat, lon := 22.2215, 113.5485 // Gongbei
	for i := 0; i < 5; i++ {
		la, lo := wftest.Offset(lat, lon, float64(i*30), float64(i*20))
		e.Call(t, "waterlogging", la, lo, false)
		e.Clock.Add(time.Minute)
	}
	incs := e.Incidents(t)
	if len(incs) != 1 {
		t.Fatalf("after 5 waterlogging calls: %d incidents, want 1", len(incs))
	}
	first := incs[0]
	if first.Grade != incidents.GradeIV || first.Plan == nil || first.Plan.Dispatched {
		t.Errorf("5-call incident grade %d plan %+v; want grade IV with a plan waiting for a leader", first.Grade, first.Plan)
	}
	if n := len(e.Tasks(t, incidents.TaskFilter{IncidentID: first.ID})); n != 0 {
		t.Errorf("grade IV incident has %d tasks before a leader confirms, want 0", n)
	}
	for i := 0; i < 10; i++ {
		la, lo := wftest.Offset(lat, lon, float64(-i*25), float64(i*15))
		e.Call(t, "waterlogging", la, lo, false)
		e.Clock.Add(30 * time.Second)
	}
	incs = e.Incidents(t)
	if len(incs) != 1 || incs[0].ID != first.ID {
		t.Fatalf("after 15 calls incidents = %v, want the same single incident %s", idsOf(incs), first.ID)
	}
	grown := incs[0]
	if len(grown.Calls) != 15 || grown.CallCount != 15 || !grown.Grade.AtLeast(incidents.GradeII) || !grown.Plan.Dispatched || !grown.Plan.Auto {
		t.Errorf("grown incident calls %d grade %d plan %+v; want 15 calls, grade II or more, plan dispatched automatically", len(grown.Calls), grown.Grade, grown.Plan)
	}
	if got := wftest.Depts(e.Tasks(t, incidents.TaskFilter{IncidentID: first.ID})); !slices.Equal(got, []string{"water", "xiangzhou"}) {
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
	e := wftest.New(t)
	lat, lon := 22.2510, 113.5230 // Qianshan
	// Two groups 900 m apart, each a waterlogging cluster of its own.
	for i := 0; i < 5; i++ {
		la, lo := wftest.Offset(lat, lon, float64(i*20), 0)
		e.Call(t, "waterlogging", la, lo, false)
	}
	e.Clock.Add(time.Minute)
	for i := 0; i < 5; i++ {
		la, lo := wftest.Offset(lat, lon, 900+float64(i*20), 0)
		e.Call(t, "waterlogging", la, lo, false)
	}
	incs := e.Incidents(t)
	if len(incs) != 2 {
		t.Fatalf("two separate groups gave %v, want 2 incidents", idsOf(incs))
	}
	older := incs[1] // newest first
	// Calls in between join the two clusters into one.
	for i := 0; i < 6; i++ {
		la, lo := wftest.Offset(lat, lon, 250+float64(i*100), 0)
		e.Call(t, "waterlogging", la, lo, false)
	}
	active := e.Incidents(t, incidents.IncidentOpen, incidents.IncidentConfirmed)
	if len(active) != 1 || active[0].ID != older.ID {
		t.Fatalf("after the bridge active incidents = %v, want only the older %s", idsOf(active), older.ID)
	}
	if len(active[0].MergedFrom) != 1 || len(active[0].Calls) != 16 || active[0].CallCount != 16 {
		t.Errorf("survivor merged_from %v calls %d, want the other incident and all 16 calls", active[0].MergedFrom, len(active[0].Calls))
	}
	merged, err := e.WF.GetIncident(context.Background(), wftest.Leader, active[0].MergedFrom[0])
	if err != nil || merged.State != incidents.IncidentMerged || merged.MergedInto != older.ID {
		t.Errorf("merged incident = %s into %q (%v), want merged into %s", merged.State, merged.MergedInto, err, older.ID)
	}
}

// A big incident is written at most every few seconds: repeat calls about
// it wait for the tracker's next Advance and join it together, with one
// update that every dashboard on it receives.
func TestRepeatCallsAboutABigIncidentJoinTogether(t *testing.T) {
	e := wftest.New(t)
	lat, lon := 22.2080, 113.2970 // Jing'an, Doumen
	for i := 0; i < 30; i++ {
		la, lo := wftest.Offset(lat, lon, float64(i%6*10), float64(i/6*10))
		e.Call(t, "waterlogging", la, lo, false)
	}
	if err := e.Tracker.Advance(context.Background(), e.Clock.Now()); err != nil { // the growth that waited
		t.Fatal(err)
	}
	inc := e.Incidents(t)[0]
	if inc.CallCount != 30 {
		t.Fatalf("incident has %d calls, want 30", inc.CallCount)
	}
	mark := e.Events(t, 0)
	last := mark[len(mark)-1].Seq
	la, lo := wftest.Offset(lat, lon, 20, 400) // near, but too far for the cluster
	first := e.Call(t, "fallen_tree", la, lo, false)
	la, lo = wftest.Offset(lat, lon, 20, -400)
	second := e.Call(t, "fallen_tree", la, lo, false)
	got, _ := e.WF.GetIncident(context.Background(), wftest.Leader, inc.ID)
	if got.CallCount != 30 || wftest.CountType(e.Events(t, last), incidents.EventIncidentUpdated) != 0 {
		t.Fatalf("before Advance the incident has %d calls and %d updates, want 30 and none yet",
			got.CallCount, wftest.CountType(e.Events(t, last), incidents.EventIncidentUpdated))
	}
	if err := e.Tracker.Advance(context.Background(), e.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	got, _ = e.WF.GetIncident(context.Background(), wftest.Leader, inc.ID)
	if got.CallCount != 32 || !slices.Contains(got.Calls, first.ID) || !slices.Contains(got.Calls, second.ID) {
		t.Errorf("after Advance the incident has %d calls %v, want 32 with %s and %s", got.CallCount, got.Calls, first.ID, second.ID)
	}
	var updates []incidents.Cause
	for _, ev := range e.Events(t, last) {
		if ev.Type == incidents.EventIncidentUpdated {
			var d struct {
				Cause incidents.Cause `json:"cause"`
			}
			wftest.Decode(t, ev, &d)
			updates = append(updates, d.Cause)
		}
	}
	if want := (incidents.Cause{Kind: incidents.CauseRepeatCalls, Calls: 2, CallID: second.ID}); len(updates) != 1 || updates[0] != want {
		t.Errorf("updates after Advance: %+v, want one caused by %+v", updates, want)
	}
}

func TestRepeatCallsAttachToTheirIncident(t *testing.T) {
	e := wftest.New(t)
	lat, lon := 22.2080, 113.2970 // Jing'an, Doumen
	for i := 0; i < 5; i++ {
		la, lo := wftest.Offset(lat, lon, float64(i*20), 0)
		e.Call(t, "waterlogging", la, lo, false)
	}
	inc := e.Incidents(t)[0]
	la, lo := wftest.Offset(lat, lon, 0, 400) // near, but too far for the cluster
	repeat := e.Call(t, "fallen_tree", la, lo, false)
	la, lo = wftest.Offset(lat, lon, 0, 3000) // far away
	e.Call(t, "waterlogging", la, lo, false)
	got, _ := e.WF.GetIncident(context.Background(), wftest.Leader, inc.ID)
	if !slices.Contains(got.Calls, repeat.ID) || len(got.Calls) != 6 {
		t.Errorf("incident calls = %v, want the 5 cluster calls and the repeat call %s only", got.Calls, repeat.ID)
	}
	if got.District != "440403" {
		t.Errorf("incident district = %q, want 440403 (Doumen)", got.District)
	}
}

func TestBigIncidentListsItsFirstCallsAndCountsAll(t *testing.T) {
	e := wftest.New(t)
	n := incidents.MaxIncidentCalls + 40
	for i := 0; i < n; i++ {
		la, lo := wftest.Offset(22.2215, 113.5485, float64(i%23)*6, float64(i/23)*6)
		e.Call(t, "waterlogging", la, lo, false)
		if i%60 == 59 {
			e.Clock.Add(time.Minute)
		}
	}
	if err := e.Tracker.Advance(context.Background(), e.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	incs := e.Incidents(t)
	if len(incs) != 1 {
		t.Fatalf("%d calls in one place gave %v, want one incident", n, idsOf(incs))
	}
	inc := incs[0]
	if inc.CallCount != n || len(inc.Calls) != incidents.MaxIncidentCalls || inc.Categories["waterlogging"] != n || inc.Grade != incidents.GradeI {
		t.Errorf("big incident: call_count %d, %d ids listed, categories %v, grade %d; want %d, %d, all waterlogging, grade I",
			inc.CallCount, len(inc.Calls), inc.Categories, inc.Grade, n, incidents.MaxIncidentCalls)
	}
	evs := e.Events(t, 0)
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
	e := wftest.New(t)
	ctx := context.Background()
	place := func(i int) (float64, float64) {
		return wftest.Offset(22.2215, 113.5485, float64(i%45)*6, float64(i/45)*6)
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
				c, _, err := e.Intake.Register(ctx, wftest.Agent.Name, "", incidents.CallInput{Lat: &la, Lon: &lo, Category: &cat, Urgent: &urgent})
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
		if err := e.Tracker.ObserveAll(ctx, register(from, from+100)); err != nil {
			t.Fatal(err)
		}
		e.Clock.Add(time.Minute)
	}
	if err := e.Tracker.Advance(ctx, e.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	incs := e.Incidents(t)
	if len(incs) != 1 || incs[0].CallCount != 2400 {
		t.Fatalf("2,400 calls in one place gave %d incidents (%v), want one of 2,400 calls", len(incs), idsOf(incs))
	}
	id := incs[0].ID
	count := func() int {
		inc, err := e.WF.GetIncident(ctx, wftest.Leader, id)
		if err != nil {
			t.Fatal(err)
		}
		return inc.CallCount
	}
	// 20 more calls a minute after the last refresh: written at once.
	if err := e.Tracker.ObserveAll(ctx, register(2400, 2420)); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 2420 {
		t.Fatalf("a minute after its last refresh the huge incident took 20 calls and counts %d, want 2,420", n)
	}
	mark := e.Events(t, 0)
	last := mark[len(mark)-1].Seq

	// 40 more a second later: their growth waits past the next Advance,
	// as the incident was written less than 4 s (2 s per 1,000 calls) ago.
	e.Clock.Add(time.Second)
	if err := e.Tracker.ObserveAll(ctx, register(2420, 2460)); err != nil {
		t.Fatal(err)
	}
	e.Clock.Add(time.Second)
	if err := e.Tracker.Advance(ctx, e.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	if n, updates := count(), wftest.CountType(e.Events(t, last), incidents.EventIncidentUpdated); n != 2420 || updates != 0 {
		t.Errorf("2 s after its last refresh the huge incident has %d calls after %d updates, want 2,420 after none (its refresh is not due)", n, updates)
	}
	e.Clock.Add(2 * time.Second)
	if err := e.Tracker.Advance(ctx, e.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	if n, updates := count(), wftest.CountType(e.Events(t, last), incidents.EventIncidentUpdated); n != 2460 || updates != 1 {
		t.Errorf("4 s after its last refresh the huge incident has %d calls after %d updates, want 2,460 after one", n, updates)
	}
}
