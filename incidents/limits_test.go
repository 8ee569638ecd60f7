package incidents_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"flare/incidents"
	"flare/incidents/internal/wftest"
)

// fieldOf returns the field an *incidents.Error names.
func fieldOf(err error) string {
	var e *incidents.Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// hubQueue is a WebSocket client's queue in the hub: an event larger than
// it closes every dashboard that receives it.
const hubQueue = 4 << 20

func TestProgressNotesAreBoundedAndEventsStaySmall(t *testing.T) {
	e, tk := dispatched(t)
	ctx := context.Background()
	gas := wftest.Dept("gas")
	tk, err := e.WF.ActOnTask(ctx, gas, tk.ID, incidents.TaskActionInput{Action: incidents.ActSign, Version: tk.Version})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.WF.ActOnTask(ctx, gas, tk.ID, incidents.TaskActionInput{Action: incidents.ActProgress, Version: tk.Version, Note: strings.Repeat("x", incidents.MaxNoteChars+1)}); incidents.ErrorCode(err) != incidents.CodeInvalid || fieldOf(err) != "note" {
		t.Fatalf("a note of %d characters = %v, want invalid naming note", incidents.MaxNoteChars+1, err)
	}
	// The probe's attack: notes of 2,000 '<' (6 bytes each once escaped).
	note := strings.Repeat("<", incidents.MaxNoteChars)
	after := e.LastSeq(t)
	refused, tries := 0, incidents.MaxProgressNotes+20
	for i := 0; i < tries; i++ {
		got, err := e.WF.ActOnTask(ctx, gas, tk.ID, incidents.TaskActionInput{Action: incidents.ActProgress, Version: tk.Version, Note: note})
		if err != nil {
			if incidents.ErrorCode(err) != incidents.CodeInvalid || fieldOf(err) != "progress" {
				t.Fatalf("note %d: %v, want invalid naming progress", i+1, err)
			}
			refused++
			continue
		}
		tk = got
	}
	if len(tk.Progress) != incidents.MaxProgressNotes || refused != tries-incidents.MaxProgressNotes {
		t.Errorf("task holds %d notes, %d refused; want %d held", len(tk.Progress), refused, incidents.MaxProgressNotes)
	}
	stored, err := e.WF.GetTask(ctx, wftest.Leader, tk.ID)
	if err != nil || stored.Version != tk.Version || len(stored.Progress) != incidents.MaxProgressNotes {
		t.Errorf("stored task v%d with %d notes (%v), want v%d: a refused note changes nothing", stored.Version, len(stored.Progress), err, tk.Version)
	}
	largest := 0
	for _, ev := range e.Events(t, after) {
		largest = max(largest, len(ev.Data))
	}
	if largest > incidents.MaxEventBytes || largest > hubQueue/8 {
		t.Errorf("largest event %d bytes, want at most %d", largest, incidents.MaxEventBytes)
	}
	var last struct {
		Progress      []incidents.Note `json:"progress"`
		ProgressCount int              `json:"progress_count"`
		Note          string           `json:"note"`
	}
	evs := e.Events(t, after)
	wftest.Decode(t, evs[len(evs)-1], &last)
	if len(last.Progress) != incidents.EventNotes || last.ProgressCount != incidents.MaxProgressNotes || last.Note != note {
		t.Errorf("last event carries %d notes of %d and note %d chars; want the newest %d of %d and the new note", len(last.Progress), last.ProgressCount, len(last.Note), incidents.EventNotes, incidents.MaxProgressNotes)
	}
}

func TestIncidentNotesAreBounded(t *testing.T) {
	e := wftest.New(t)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		la, lo := wftest.Offset(22.2080, 113.2970, float64(i*20), 0)
		e.Call(t, "waterlogging", la, lo, false)
	}
	inc := e.Incidents(t)[0]
	if _, err := e.WF.ActOnIncident(ctx, wftest.Leader, inc.ID, incidents.IncidentAction{Action: "close", Version: inc.Version, Summary: strings.Repeat("x", incidents.MaxSummaryChars+1)}); fieldOf(err) != "summary" {
		t.Errorf("an over-long summary = %v, want invalid naming summary", err)
	}
	text := strings.Repeat("<", incidents.MaxNoteChars)
	for i := 0; i < incidents.MaxIncidentNotes; i++ {
		got, err := e.WF.ActOnIncident(ctx, wftest.Leader, inc.ID, incidents.IncidentAction{Action: "note", Version: inc.Version, Text: text})
		if err != nil {
			t.Fatalf("note %d: %v", i+1, err)
		}
		inc = got
	}
	after := e.LastSeq(t)
	if _, err := e.WF.ActOnIncident(ctx, wftest.Leader, inc.ID, incidents.IncidentAction{Action: "note", Version: inc.Version, Text: "one more"}); incidents.ErrorCode(err) != incidents.CodeInvalid || fieldOf(err) != "notes" {
		t.Errorf("note %d = %v, want invalid naming notes", incidents.MaxIncidentNotes+1, err)
	}
	if evs := e.Events(t, after); len(evs) != 0 {
		t.Errorf("a refused note appended %s", wftest.TypesOf(evs))
	}
	// Any later incident event stays small.
	after = e.LastSeq(t)
	if _, err := e.WF.ActOnIncident(ctx, wftest.Leader, inc.ID, incidents.IncidentAction{Action: "confirm", Version: inc.Version}); err != nil {
		t.Fatal(err)
	}
	for _, ev := range e.Events(t, after) {
		if len(ev.Data) > incidents.MaxEventBytes {
			t.Errorf("%s of %d bytes, want at most %d", ev.Type, len(ev.Data), incidents.MaxEventBytes)
		}
	}
}

func TestCallbacksAreBounded(t *testing.T) {
	e, tk := dispatched(t)
	ctx := context.Background()
	gas := wftest.Dept("gas")
	for _, a := range []incidents.TaskActionInput{{Action: incidents.ActSign}, {Action: incidents.ActComplete, Note: "已修复"}} {
		a.Version = tk.Version
		var err error
		if tk, err = e.WF.ActOnTask(ctx, gas, tk.ID, a); err != nil {
			t.Fatal(err)
		}
	}
	reached := true
	in := incidents.CallbackInput{Reached: &reached, Satisfaction: incidents.Satisfied, Comment: "满意"}
	if _, err := e.WF.RecordCallback(ctx, wftest.Agent, tk.ID, incidents.CallbackInput{Reached: &reached, Satisfaction: incidents.Satisfied, Comment: strings.Repeat("x", incidents.MaxNoteChars+1)}); fieldOf(err) != "comment" {
		t.Errorf("an over-long comment = %v, want invalid naming comment", err)
	}
	for i := 0; i < incidents.MaxCallbacks; i++ {
		if _, err := e.WF.RecordCallback(ctx, wftest.Agent, tk.ID, in); err != nil {
			t.Fatalf("callback %d: %v", i+1, err)
		}
	}
	if _, err := e.WF.RecordCallback(ctx, wftest.Agent, tk.ID, in); incidents.ErrorCode(err) != incidents.CodeInvalid || fieldOf(err) != "callbacks" {
		t.Errorf("callback %d = %v, want invalid naming callbacks", incidents.MaxCallbacks+1, err)
	}
	got, err := e.WF.GetTask(ctx, wftest.Leader, tk.ID)
	if err != nil || len(got.Callbacks) != incidents.MaxCallbacks {
		t.Errorf("task holds %d callbacks (%v), want %d", len(got.Callbacks), err, incidents.MaxCallbacks)
	}
}
