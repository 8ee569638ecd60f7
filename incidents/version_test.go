package incidents_test

import (
	"context"
	"testing"

	"flare/incidents"
	"flare/incidents/internal/wftest"
)

func TestActionsWithoutAVersionAreRefused(t *testing.T) {
	e, tk := dispatched(t)
	ctx := context.Background()
	inc, err := e.WF.GetIncident(ctx, wftest.Leader, tk.IncidentID)
	if err != nil {
		t.Fatal(err)
	}
	after := e.LastSeq(t)
	for _, v := range []int64{0, -1} {
		if _, err := e.WF.ActOnIncident(ctx, wftest.Leader, inc.ID, incidents.IncidentAction{Action: "note", Text: "已到场", Version: v}); incidents.ErrorCode(err) != incidents.CodeInvalid || fieldOf(err) != "version" {
			t.Errorf("incident action with version %d = %v, want invalid naming version", v, err)
		}
		if _, err := e.WF.ActOnTask(ctx, wftest.Dept("gas"), tk.ID, incidents.TaskActionInput{Action: incidents.ActSign, Version: v}); incidents.ErrorCode(err) != incidents.CodeInvalid || fieldOf(err) != "version" {
			t.Errorf("task action with version %d = %v, want invalid naming version", v, err)
		}
	}
	if evs := e.Events(t, after); len(evs) != 0 {
		t.Errorf("refused actions appended %v", wftest.TypesOf(evs))
	}
	got, err := e.WF.GetIncident(ctx, wftest.Leader, inc.ID)
	if err != nil || got.Version != inc.Version || len(got.Notes) != 0 {
		t.Errorf("incident v%d with %d notes (%v) after refused actions, want v%d unchanged", got.Version, len(got.Notes), err, inc.Version)
	}
}
