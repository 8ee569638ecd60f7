package storetest

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io/fs"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"flare/incidents"
)

// sameAudience reports whether a and b name the same people (a nil and an
// empty list of departments are the same).
func sameAudience(a, b incidents.Audience) bool {
	if len(a.Depts) == 0 && len(b.Depts) == 0 {
		a.Depts, b.Depts = nil, nil
	}
	return reflect.DeepEqual(a, b)
}

// audiences are the audiences the tests write, each as it reads back.
var audiences = []incidents.Audience{
	{},
	incidents.CallReceivedAudience(),
	{CallFloor: true},
	{Hotline: true, Depts: []string{"power", "water"}},
	{Depts: []string{"B_dept", "a-dept", "water"}},
}

func testCallAudience(t *testing.T, open func(t *testing.T) incidents.Store) {
	s := open(t)
	var batch []incidents.NewCall
	for i, a := range audiences {
		c := newCall(fmt.Sprintf("c%d", i), base.Add(time.Duration(i)*time.Second))
		c.Audience = a
		batch = append(batch, c)
	}
	mustCreate(t, s, batch...)
	mustCreate(t, s, batch[1:2]...) // a retry stores nothing
	evs := mustReadAll(t, s)
	if len(evs) != len(audiences) {
		t.Fatalf("ReadEvents(all) = %d events, want %d", len(evs), len(audiences))
	}
	for i, e := range evs {
		if !sameAudience(e.Audience, audiences[i]) {
			t.Errorf("event %d (call %s): Audience = %+v, want %+v as CreateCalls was given it", e.Seq, batch[i].ID, e.Audience, audiences[i])
		}
	}
}

func testUpdateAudience(t *testing.T, open func() WorkflowStore) {
	s := open()
	in := make([]incidents.EventInput, len(audiences))
	for i, a := range audiences {
		in[i] = incidents.EventInput{Type: "task.dispatched", Actor: "system", Data: map[string]any{"n": i}, Audience: a}
	}
	// An audience given out of order, with repeats, reads back sorted.
	in = append(in, incidents.EventInput{Type: "incident.graded", Data: 1,
		Audience: incidents.Audience{Depts: []string{"water", "", "power", "water"}}})
	want := append(append([]incidents.Audience{}, audiences...), incidents.Audience{Depts: []string{"power", "water"}})
	updated := mustUpdate(t, s, func(ctx context.Context, tx incidents.Tx) error {
		for _, e := range in {
			if err := tx.Append(ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
	read := mustReadAll(t, s)
	audit, err := s.Audit(ctxFor(t), incidents.AuditFilter{})
	if err != nil {
		t.Fatalf("Audit() = %v, want no error", err)
	}
	if len(updated) != len(want) || len(read) != len(want) || len(audit) != len(want) {
		t.Fatalf("Update() = %d events, ReadEvents(all) %d, Audit() %d, want %d each", len(updated), len(read), len(audit), len(want))
	}
	for i, w := range want {
		got := map[string]incidents.Audience{
			"Update": updated[i].Audience, "ReadEvents": read[i].Audience, "Audit": audit[len(audit)-1-i].Audience,
		}
		for by, a := range got {
			if !sameAudience(a, w) {
				t.Errorf("%s: event %d Audience = %+v, want %+v as Append was given it", by, i+1, a, w)
			}
		}
	}
}

// Legacy is a database before migration 00005, where events kept no
// audience.
type Legacy struct {
	DB         *sql.DB // on the database; the caller closes it
	Dialect    goose.Dialect
	Migrations fs.FS
	// Insert stores an event as a binary of schema version 4 did, with the
	// next seq, from two parameters: its type and its data (JSON text).
	Insert string
	// Open opens a store on the database and migrates it up.
	Open func() incidents.Store
}

// RunAudienceBackfill checks that migration 00005 gives the events stored
// before it the audience legacyAudience decides from their type and
// data. newDatabase must return a Legacy on an empty database of t's own.
func RunAudienceBackfill(t *testing.T, newDatabase func(t *testing.T) Legacy) {
	ctx := ctxFor(t)
	l := newDatabase(t)
	p, err := goose.NewProvider(l.Dialect, l.DB, l.Migrations, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatalf("goose.NewProvider() = %v", err)
	}
	if _, err := p.UpTo(ctx, 4); err != nil {
		t.Fatalf("UpTo(4) = %v, want no error", err)
	}
	old := []struct{ typ, data string }{
		{"call.received", `{"id":"c1","urgent":false}`},
		{"call.received", `{"id":"c2","urgent":true,"dept":"water"}`},
		{"task.dispatched", `{"dept":"water","task":{"id":"t1"}}`},
		{"task.reassigned", `{"dept":"water","previous_dept":"power"}`},
		{"incident.opened", `{"departments":["roads","water","roads",""],"urgent":true}`},
		{"incident.graded", `{"departments":["b","B","a","_x"]}`},
		{"alert.raised", `{"urgent":true,"kind":"urgent_call"}`},
		{"assessment.computed", `{"total":91.5}`},
		{"task.noted", `{"dept":5,"urgent":true}`},
		{"call.updated", `{"departments":"water"}`},
		{"incident.closed", `{"dept":null,"previous_dept":"","departments":["a",null],"urgent":null}`},
		{"incident.merged", `{"departments":["a",7]}`},
		{"call.note", `[1,2]`},
		{"alert.cleared", `null`},
	}
	for _, e := range old {
		if _, err := l.DB.ExecContext(ctx, l.Insert, e.typ, e.data); err != nil {
			t.Fatalf("insert %s %s as version 4 did: %v", e.typ, e.data, err)
		}
	}
	s := l.Open()
	evs := mustReadAll(t, s)
	if len(evs) != len(old) {
		t.Fatalf("ReadEvents(all) after migrating = %d events, want %d", len(evs), len(old))
	}
	for i, e := range evs {
		want := legacyAudience(incidents.Event{Type: old[i].typ, Data: []byte(old[i].data)})
		if !sameAudience(e.Audience, want) {
			t.Errorf("event %d %s %s: Audience after migrating = %+v, want %+v (legacyAudience)", e.Seq, old[i].typ, old[i].data, e.Audience, want)
		}
	}
	res := mustCreate(t, s, newCall("after", base))
	if want := int64(len(old) + 1); res[0].Call.Seq != want {
		t.Errorf("CreateCalls() after migrating stored seq %d, want %d", res[0].Call.Seq, want)
	}
}

// audienceFields are the fields of an event's data that legacyAudience reads.
type audienceFields struct {
	Dept         string   `json:"dept"`
	PreviousDept string   `json:"previous_dept"`
	Departments  []string `json:"departments"`
	Urgent       bool     `json:"urgent"`
}

// legacyAudience is the audience the 00005 migration backfills for events
// written before events carried their audience: it guesses from the type and
// the data's field names, as the hub once did (call.* and any data with
// "urgent": true for the call floor; data.dept, data.previous_dept and
// data.departments for those departments). Nothing but the backfill's test
// uses it: an event's stored Audience is what counts.
func legacyAudience(ev incidents.Event) incidents.Audience {
	var a incidents.Audience
	if strings.HasPrefix(ev.Type, "call.") {
		a.CallFloor = true
	}
	var f audienceFields
	if len(ev.Data) == 0 || json.Unmarshal(ev.Data, &f) != nil {
		return a
	}
	if f.Urgent {
		a.CallFloor = true
	}
	n := len(f.Departments)
	if f.Dept != "" {
		n++
	}
	if f.PreviousDept != "" {
		n++
	}
	if n == 0 {
		return a
	}
	depts := make([]string, 0, n)
	for _, d := range f.Departments {
		if d != "" {
			depts = append(depts, d)
		}
	}
	if f.Dept != "" {
		depts = append(depts, f.Dept)
	}
	if f.PreviousDept != "" {
		depts = append(depts, f.PreviousDept)
	}
	slices.Sort(depts)
	a.Depts = slices.Compact(depts)
	return a
}
