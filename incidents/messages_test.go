package incidents_test

import (
	"context"
	"encoding/json"
	"reflect"
	"regexp"
	"testing"
	"time"

	"flare/incidents"
	"flare/incidents/internal/wftest"
)

var han = regexp.MustCompile(`\p{Han}`)

// TestTheDomainWritesNoSentences works an urgent incident with inputs typed
// in ASCII: nothing the server wrote in its events may hold a Chinese
// character, and every alert, reason and notice is a kind with parameters.
func TestTheDomainWritesNoSentences(t *testing.T) {
	e, gas := dispatched(t)
	ctx := context.Background()
	inc, _ := e.WF.GetIncident(ctx, wftest.Leader, gas.IncidentID)

	wantPlan := map[string]incidents.PlanReason{
		"gas":         {Kind: incidents.PlanOwnsCategory, Category: "gas_leak"},
		"fire_rescue": {Kind: incidents.PlanOwnsCategory, Category: "gas_leak"},
		"xiangzhou":   {Kind: incidents.PlanDistrict, District: "440402"},
	}
	for _, it := range inc.Plan.Items {
		if it.Reason != wantPlan[it.Dept] {
			t.Errorf("plan item %s reason = %+v, want %+v", it.Dept, it.Reason, wantPlan[it.Dept])
		}
	}
	if want := (incidents.GradeReason{Kind: incidents.GradeByUrgentCall, CallID: inc.Calls[0]}); inc.GradeReason != want {
		t.Errorf("urgent incident grade_reason = %+v, want %+v", inc.GradeReason, want)
	}
	if inc.Title != "" || inc.Category != "gas_leak" || inc.District != "440402" {
		t.Errorf("incident title %q category %q district %q, want no title, gas_leak, 440402", inc.Title, inc.Category, inc.District)
	}
	if gas.Instructions != "" || gas.Grade != incidents.GradeIII || gas.Category != "gas_leak" || gas.District != "440402" || gas.Calls != 1 {
		t.Errorf("task instructions %q grade %d category %q district %q calls %d; want none, III, gas_leak, 440402, 1",
			gas.Instructions, gas.Grade, gas.Category, gas.District, gas.Calls)
	}

	inc, err := e.WF.ActOnIncident(ctx, wftest.Leader, inc.ID, incidents.IncidentAction{Action: "regrade", Grade: incidents.GradeII, Reason: "school nearby", Version: inc.Version})
	if err != nil {
		t.Fatal(err)
	}
	if want := (incidents.GradeReason{Kind: incidents.GradeByLeader, Actor: wftest.Leader.Name, Note: "school nearby"}); inc.GradeReason != want {
		t.Errorf("regraded grade_reason = %+v, want %+v", inc.GradeReason, want)
	}
	mark := e.LastSeq(t)
	e.Clock.Add(2*time.Hour + 20*time.Minute)
	if _, err := e.WF.FireTimers(ctx); err != nil {
		t.Fatal(err)
	}
	notices := map[string]incidents.Notice{}
	var escalations []incidents.Alert
	for _, ev := range e.Events(t, mark) {
		var d struct {
			ID     string            `json:"id"`
			Notice *incidents.Notice `json:"notice"`
		}
		wftest.Decode(t, ev, &d)
		if d.ID == gas.ID && d.Notice != nil {
			notices[ev.Type] = *d.Notice
		}
		if ev.Type == incidents.EventAlertRaised {
			var a incidents.Alert
			wftest.Decode(t, ev, &a)
			if a.Kind == incidents.AlertEscalation && a.TaskID == gas.ID {
				escalations = append(escalations, a)
			}
		}
	}
	want := map[string]incidents.Notice{
		incidents.EventTaskSignOverdue: {Kind: incidents.NoticeSignOverdue, SignBy: gas.SignBy},
		incidents.EventTaskReminder:    {Kind: incidents.NoticeReminder, Deadline: gas.Deadline},
		incidents.EventTaskOverdue:     {Kind: incidents.NoticeOverdue, Deadline: gas.Deadline},
		incidents.EventTaskEscalated:   {Kind: incidents.NoticeEscalated, Attempt: 1, Deadline: gas.Deadline, LateS: 20 * 60},
	}
	if !reflect.DeepEqual(notices, want) {
		t.Errorf("supervision notices of the gas task = %+v, want %+v", notices, want)
	}
	if len(escalations) != 2 || escalations[0].Attempt != 0 || escalations[0].Notice.Kind != incidents.NoticeSignOverdue ||
		escalations[1].Attempt != 1 || escalations[1].Dept != "gas" || escalations[1].Grade != incidents.GradeII || escalations[1].Category != "gas_leak" {
		t.Errorf("escalation alerts of the gas task = %+v, want the late signing (attempt 0) and escalation 1, for gas on a grade II gas leak", escalations)
	}

	for _, ev := range e.Events(t, 0) {
		if han.Match(ev.Data) {
			t.Errorf("%s data holds Chinese the server wrote: %s", ev.Type, ev.Data)
		}
		var d map[string]any
		json.Unmarshal(ev.Data, &d)
		for _, field := range []string{"message", "title", "instructions"} {
			if _, ok := d[field]; ok {
				t.Errorf("%s data has %q: %s", ev.Type, field, ev.Data)
			}
		}
	}
}

func TestLeaderChosenDepartmentsAreMarkedChosen(t *testing.T) {
	e := wftest.New(t)
	ctx := context.Background()
	lat, lon := 22.2080, 113.2970
	for i := 0; i < 5; i++ {
		la, lo := wftest.Offset(lat, lon, float64(i*20), 0)
		e.Call(t, "waterlogging", la, lo, false)
	}
	inc := e.Incidents(t)[0]
	inc, err := e.WF.ActOnIncident(ctx, wftest.Leader, inc.ID, incidents.IncidentAction{Action: "dispatch", Depts: []string{"water", "urban"}, Version: inc.Version})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range inc.Plan.Items {
		if want := (incidents.PlanReason{Kind: incidents.PlanChosen, Actor: wftest.Leader.Name}); it.Reason != want {
			t.Errorf("plan item %s reason = %+v, want %+v", it.Dept, it.Reason, want)
		}
	}
}

func TestReasonsWrittenAsTextStillRead(t *testing.T) {
	var inc incidents.Incident
	data := `{"id":"i1","grade":2,"grade_reason":"11 calls (rule needs 5)","plan":{"class":"emergency","items":[{"dept":"water","reason":"owns waterlogging"}]}}`
	if err := json.Unmarshal([]byte(data), &inc); err != nil {
		t.Fatalf("Unmarshal(an incident stored before reasons were data) = %v", err)
	}
	if inc.GradeReason.Kind != "legacy" || inc.GradeReason.Note != "11 calls (rule needs 5)" || inc.Plan.Items[0].Reason.Kind != "legacy" {
		t.Errorf("old reasons read as %+v and %+v, want kind legacy (the grade reason's text kept)", inc.GradeReason, inc.Plan.Items[0].Reason)
	}
	b, _ := json.Marshal(incidents.GradeReason{Kind: incidents.GradeByCalls, Calls: 12, MinCalls: 5})
	var back incidents.GradeReason
	if err := json.Unmarshal(b, &back); err != nil || back != (incidents.GradeReason{Kind: incidents.GradeByCalls, Calls: 12, MinCalls: 5}) {
		t.Errorf("GradeReason round trip %s = %+v, %v", b, back, err)
	}
	if string(b) != `{"kind":"calls","calls":12,"min_calls":5}` {
		t.Errorf("GradeReason JSON = %s, want the form docs/MESSAGES.md gives", b)
	}
}
