package tracking_test

import (
	"context"
	"testing"
	"time"

	"flare/incidents"
	"flare/incidents/internal/wftest"
	"flare/incidents/tracking"
)

func TestAutoGrade(t *testing.T) {
	tests := []struct {
		name                     string
		calls                    int
		categories               map[string]int
		urgent, recent, minCalls int
		grade                    incidents.Grade
		reason                   incidents.GradeReason
	}{
		{"a cluster at the rule's minimum is grade IV", 5, map[string]int{"waterlogging": 5}, 0, 0, 5, incidents.GradeIV,
			incidents.GradeReason{Kind: "calls", Calls: 5, MinCalls: 5}},
		{"twice the minimum is grade III", 10, map[string]int{"waterlogging": 10}, 0, 0, 5, incidents.GradeIII,
			incidents.GradeReason{Kind: "calls", Calls: 10, MinCalls: 5}},
		{"a hazard category weighs double", 10, map[string]int{"gas_leak": 10}, 0, 0, 5, incidents.GradeII,
			incidents.GradeReason{Kind: "calls", Calls: 10, MinCalls: 5, Hazard: true}},
		{"fast growth raises one grade", 10, map[string]int{"waterlogging": 10}, 0, 10, 5, incidents.GradeII,
			incidents.GradeReason{Kind: "calls", Calls: 10, MinCalls: 5, Recent: 10}},
		{"an urgent call makes grade III", 5, map[string]int{"waterlogging": 5}, 1, 0, 5, incidents.GradeIII,
			incidents.GradeReason{Kind: "calls", Calls: 5, MinCalls: 5, UrgentCalls: 1}},
		{"three urgent calls make grade II", 5, map[string]int{"waterlogging": 5}, 3, 0, 5, incidents.GradeII,
			incidents.GradeReason{Kind: "calls", Calls: 5, MinCalls: 5, UrgentCalls: 3}},
		{"eight times the minimum is grade I", 40, map[string]int{"waterlogging": 40}, 0, 0, 5, incidents.GradeI,
			incidents.GradeReason{Kind: "calls", Calls: 40, MinCalls: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, r := tracking.AutoGrade(tt.calls, tt.categories, tt.urgent, tt.recent, tt.minCalls)
			if g != tt.grade || r != tt.reason {
				t.Errorf("AutoGrade(%d, %v, %d, %d, %d) = %d, %+v; want %d, %+v", tt.calls, tt.categories, tt.urgent, tt.recent, tt.minCalls, g, r, tt.grade, tt.reason)
			}
		})
	}
}

// A cluster's incident has no title: it carries its main category and its
// district, and its alerts say what the dashboard needs to name it.
func TestClusterIncidentAlertsCarryParameters(t *testing.T) {
	e := wftest.New(t)
	lat, lon := 22.2215, 113.5485 // Gongbei
	for i := 0; i < 12; i++ {
		la, lo := wftest.Offset(lat, lon, float64(i%4*30), float64(i/4*30))
		e.Call(t, "waterlogging", la, lo, false)
		e.Clock.Add(2 * time.Minute)
	}
	inc := e.Incidents(t)[0]
	if inc.Title != "" || inc.Category != "waterlogging" || inc.District != "440402" {
		t.Errorf("incident title %q category %q district %q, want no title, waterlogging, 440402", inc.Title, inc.Category, inc.District)
	}
	var opened, raised []incidents.Alert
	for _, ev := range e.Events(t, 0) {
		if ev.Type != incidents.EventAlertRaised {
			continue
		}
		var a incidents.Alert
		wftest.Decode(t, ev, &a)
		if ev.Audience.CallFloor || len(ev.Audience.Depts) > 0 {
			t.Errorf("%s alert reaches %+v, want the leadership group only", a.Kind, ev.Audience)
		}
		switch a.Kind {
		case incidents.AlertIncidentOpened:
			opened = append(opened, a)
		case incidents.AlertGradeRaised:
			raised = append(raised, a)
		}
	}
	if len(opened) != 1 || opened[0].IncidentID != inc.ID || opened[0].Category != "waterlogging" || opened[0].District != "440402" ||
		opened[0].Calls != 5 || opened[0].Grade != incidents.GradeIV || opened[0].Colour != "blue" || opened[0].CallID != "" {
		t.Errorf("incident_opened alerts = %+v, want one for %s: waterlogging in 440402, 5 calls, grade IV blue", opened, inc.ID)
	}
	if len(raised) == 0 {
		t.Fatal("12 waterlogging calls raised no grade")
	}
	last := raised[len(raised)-1]
	if last.Reason == nil || last.Reason.Kind != incidents.GradeByCalls || last.Reason.MinCalls != 5 || last.Reason.Calls != last.Calls || last.Grade != inc.Grade {
		t.Errorf("last grade_raised alert = %+v (reason %+v), want the incident's grade and its calls against the rule's 5", last, last.Reason)
	}
	got, _ := e.WF.GetIncident(context.Background(), wftest.Leader, inc.ID)
	if got.GradeReason != *last.Reason {
		t.Errorf("incident grade_reason %+v, want the last alert's %+v", got.GradeReason, *last.Reason)
	}
}
