package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"flare/incidents"
)

// WorkflowStore is a store with what the command workflow needs of it.
type WorkflowStore interface {
	incidents.Store
	incidents.WorkflowStore
}

// RunWorkflow runs the conformance suite of incidents.WorkflowStore.
// newDatabase must create an empty, migrated database of t's own and return
// a function that opens a new store on it each time it is called (as
// another node would, or the same process after a restart), closing it when
// t ends. Tests may close a store earlier, so Close must allow a second
// call.
func RunWorkflow(t *testing.T, newDatabase func(t *testing.T) (open func() WorkflowStore)) {
	t.Run("RoundTrip", func(t *testing.T) { testWorkflowRoundTrip(t, newDatabase(t)) })
	t.Run("Versions", func(t *testing.T) { testVersions(t, newDatabase(t)) })
	t.Run("RefusedPutKeepsTransaction", func(t *testing.T) { testRefusedPut(t, newDatabase(t)) })
	t.Run("ConcurrentUpdates", func(t *testing.T) { testConcurrentUpdates(t, newDatabase(t)) })
	t.Run("LockedReads", func(t *testing.T) { testLockedReads(t, newDatabase(t)) })
	t.Run("Rollback", func(t *testing.T) { testRollback(t, newDatabase) })
	t.Run("UpdateEvents", func(t *testing.T) { testUpdateEvents(t, newDatabase(t)) })
	t.Run("AppendErrors", func(t *testing.T) { testAppendErrors(t, newDatabase(t)) })
	t.Run("UpdateWakesWaiters", func(t *testing.T) { testUpdateWakes(t, newDatabase(t)) })
	t.Run("AttachCalls", func(t *testing.T) { testAttachCalls(t, newDatabase(t)) })
	t.Run("WorkflowNotFound", func(t *testing.T) { testWorkflowNotFound(t, newDatabase(t)) })
	t.Run("ListIncidents", func(t *testing.T) { testListIncidents(t, newDatabase(t)) })
	t.Run("ListTasks", func(t *testing.T) { testListTasks(t, newDatabase(t)) })
	t.Run("Audit", func(t *testing.T) { testAudit(t, newDatabase(t)) })
	t.Run("SetTimers", func(t *testing.T) { testSetTimers(t, newDatabase(t)) })
	t.Run("FireDueTimers", func(t *testing.T) { testFireDueTimers(t, newDatabase(t)) })
	t.Run("FireReplacesTimers", func(t *testing.T) { testFireReplacesTimers(t, newDatabase(t)) })
	t.Run("FireError", func(t *testing.T) { testFireError(t, newDatabase(t)) })
	t.Run("TimersAcrossRestart", func(t *testing.T) { testTimersAcrossRestart(t, newDatabase(t)) })
	t.Run("RacingFire", func(t *testing.T) { testRacingFire(t, newDatabase(t)) })
	t.Run("Lease", func(t *testing.T) { testLease(t, newDatabase(t)) })
	t.Run("UpdateAudience", func(t *testing.T) { testUpdateAudience(t, newDatabase(t)) })
	t.Run("AuditTimeRange", func(t *testing.T) { testAuditTimeRange(t, newDatabase(t)) })
}

// wbase is the reference time of the workflow fixtures: in UTC, at
// microsecond precision, as the domain keeps times.
var wbase = time.Date(2026, 7, 1, 0, 30, 15, 123456000, time.UTC)

// fullIncident returns an incident with every field set.
func fullIncident(id string) incidents.Incident {
	closed := wbase.Add(5 * time.Hour)
	decided := wbase.Add(10 * time.Minute)
	return incidents.Incident{
		ID: id, Version: 1, State: incidents.IncidentClosed, Grade: incidents.GradeII,
		GradeReason: incidents.GradeReason{Kind: incidents.GradeByCalls, Calls: 12, MinCalls: 5, Hazard: true, Recent: 10, UrgentCalls: 1,
			CallID: "c1", Actor: "leader-1", Note: "积水深", MergedFrom: "i-old",
			Observed: 9, Expected: 0.42, Score: 17.5, RecurrenceDays: 812.5, WindowS: 1800},
		GradeManual: true, Title: "前山街道内涝", Category: "waterlogging", Source: "cluster",
		Rule: "waterlogging", Calls: []string{"c1", "c2"}, CallCount: 2, UrgentCalls: 1,
		Categories: map[string]int{"waterlogging": 2, "traffic": 1}, Centroid: [2]float64{113.5767, 22.2707},
		Hull:    json.RawMessage(`{"type":"Polygon","coordinates":[[[113.57,22.27],[113.58,22.27],[113.58,22.28],[113.57,22.27]]]}`),
		RadiusM: 420.5, District: "440402", FirstCallAt: wbase, LastCallAt: wbase.Add(20 * time.Minute),
		OpenedAt: wbase.Add(time.Minute), UpdatedAt: wbase.Add(2 * time.Hour), ClosedAt: &closed,
		Summary: "积水已排除", LeadDept: "water", Departments: []string{"water", "gov-440402"},
		Plan: &incidents.DispatchPlan{
			Class: incidents.ClassEmergency, Items: []incidents.PlanItem{{Dept: "water", Reason: incidents.PlanReason{Kind: incidents.PlanOwnsCategory, Category: "waterlogging", District: "440402", Actor: "system"}}},
			Auto: true, Dispatched: true, DecidedBy: "system", DecidedAt: &decided,
		},
		Notes:      []incidents.Note{{At: wbase.Add(30 * time.Minute), Actor: "leader-1", Text: "请水务局加派泵车"}},
		MergedInto: "i-other", MergedFrom: []string{"i-old"}, Clusters: []string{"waterlogging/7"},
	}
}

// fullTask returns a task of incident incidentID with every field set.
func fullTask(id, incidentID string) incidents.Task {
	signed, completed, verified := wbase.Add(10*time.Minute), wbase.Add(90*time.Minute), wbase.Add(100*time.Minute)
	decided := wbase.Add(40 * time.Minute)
	return incidents.Task{
		ID: id, Version: 1, IncidentID: incidentID, Dept: "water", State: incidents.TaskVerified,
		Class: incidents.ClassEmergency, Grade: incidents.GradeII, Category: "waterlogging", District: "440402", Calls: 2, Instructions: "请于 08:30 前签收",
		DispatchedAt: wbase, DispatchedBy: "system", SignBy: wbase.Add(30 * time.Minute), Deadline: wbase.Add(2 * time.Hour),
		SignedAt: &signed, CompletedAt: &completed, VerifiedAt: &verified, Result: "已排水",
		Progress:     []incidents.Note{{At: wbase.Add(20 * time.Minute), Actor: "dept-water", Text: "泵车已到"}},
		ReturnReason: "not ours", PreviousDepts: []string{"roads"},
		Extension: &incidents.Extension{
			RequestedAt: wbase.Add(30 * time.Minute), RequestedBy: "dept-water", NewDeadline: wbase.Add(4 * time.Hour),
			Reason: "more pumps needed", Decision: "approved", DecidedAt: &decided, DecidedBy: "leader-1", Comment: "ok",
		},
		Overdue: true, Escalations: 2, Reopened: 1,
		Callbacks: []incidents.Callback{{
			At: wbase.Add(3 * time.Hour), Actor: "agent-7", CallID: "c1", Reached: true,
			Satisfaction: incidents.BasicSatisfied, Comment: "基本满意",
		}},
		UpdatedAt: wbase.Add(3 * time.Hour),
	}
}

// incidentAt returns a minimal incident opened at opened, in state st, with
// the given departments.
func incidentAt(id string, opened time.Time, st incidents.IncidentState, depts ...string) incidents.Incident {
	return incidents.Incident{ID: id, Version: 1, State: st, Grade: incidents.GradeIV, OpenedAt: opened,
		UpdatedAt: opened, Departments: depts}
}

// taskAt returns a minimal task of incident inc for dept, in state st,
// dispatched at dispatched and due at deadline.
func taskAt(id, inc, dept string, st incidents.TaskState, dispatched, deadline time.Time) incidents.Task {
	return incidents.Task{ID: id, Version: 1, IncidentID: inc, Dept: dept, State: st, Class: incidents.ClassGeneral,
		DispatchedAt: dispatched, SignBy: dispatched.Add(time.Hour), Deadline: deadline, UpdatedAt: dispatched}
}

// mustUpdate runs s.Update(fn) and fails tb on an error.
func mustUpdate(tb testing.TB, s WorkflowStore, fn func(ctx context.Context, tx incidents.Tx) error) []incidents.Event {
	tb.Helper()
	evs, err := s.Update(ctxFor(tb), fn)
	if err != nil {
		tb.Fatalf("Update() = %v, want no error", err)
	}
	return evs
}

// putIncidents creates incs in one transaction, failing tb on error.
func putIncidents(tb testing.TB, s WorkflowStore, incs ...incidents.Incident) {
	tb.Helper()
	mustUpdate(tb, s, func(ctx context.Context, tx incidents.Tx) error {
		for _, inc := range incs {
			if err := tx.PutIncident(ctx, inc, inc.Version-1); err != nil {
				return err
			}
		}
		return nil
	})
}

// putTasks creates tasks in one transaction, failing tb on error.
func putTasks(tb testing.TB, s WorkflowStore, tasks ...incidents.Task) {
	tb.Helper()
	mustUpdate(tb, s, func(ctx context.Context, tx incidents.Tx) error {
		for _, t := range tasks {
			if err := tx.PutTask(ctx, t, t.Version-1); err != nil {
				return err
			}
		}
		return nil
	})
}

// zeroFields returns the paths of the fields of v (a struct) that hold
// their zero value, looking into nested structs, pointers to structs and the
// first element of slices of structs; times count as values.
func zeroFields(v any) []string {
	var zero []string
	var walk func(path string, rv reflect.Value)
	walk = func(path string, rv reflect.Value) {
		for i := range rv.NumField() {
			f, fv := rv.Type().Field(i), rv.Field(i)
			p := path + f.Name
			if fv.IsZero() {
				zero = append(zero, p)
				continue
			}
			switch {
			case fv.Type() == reflect.TypeFor[time.Time]():
			case fv.Kind() == reflect.Struct:
				walk(p+".", fv)
			case fv.Kind() == reflect.Pointer && fv.Elem().Kind() == reflect.Struct && fv.Elem().Type() != reflect.TypeFor[time.Time]():
				walk(p+".", fv.Elem())
			case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Struct:
				walk(p+"[0].", fv.Index(0))
			}
		}
	}
	walk("", reflect.ValueOf(v))
	return zero
}

// asJSON returns v encoded as JSON, for failure messages.
func asJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%+v", v)
	}
	return string(b)
}

// sameJSON reports whether a and b encode the same JSON value.
func sameJSON(a, b []byte) bool {
	var va, vb any
	return json.Unmarshal(a, &va) == nil && json.Unmarshal(b, &vb) == nil && reflect.DeepEqual(va, vb)
}

func testWorkflowRoundTrip(t *testing.T, open func() WorkflowStore) {
	s := open()
	inc, task := fullIncident("i-full"), fullTask("t-full", "i-full")
	for _, v := range []any{inc, task} {
		if zero := zeroFields(v); len(zero) > 0 {
			t.Fatalf("fixture %T leaves %v unset, want every field set", v, zero)
		}
	}

	mustUpdate(t, s, func(ctx context.Context, tx incidents.Tx) error {
		if err := tx.PutIncident(ctx, inc, 0); err != nil {
			return err
		}
		if err := tx.PutTask(ctx, task, 0); err != nil {
			return err
		}
		// The transaction sees its own writes.
		if got, err := tx.Incident(ctx, inc.ID); err != nil || !reflect.DeepEqual(got, inc) {
			t.Errorf("Tx.Incident(%s) after PutIncident = %s, %v, want %s", inc.ID, asJSON(got), err, asJSON(inc))
		}
		if got, err := tx.Task(ctx, task.ID); err != nil || !reflect.DeepEqual(got, task) {
			t.Errorf("Tx.Task(%s) after PutTask = %s, %v, want %s", task.ID, asJSON(got), err, asJSON(task))
		}
		return nil
	})
	checkStored(t, s, inc, task)

	// An update replaces the whole document.
	inc2, task2 := inc, task
	inc2.Version, inc2.State, inc2.Notes, inc2.Plan, inc2.ClosedAt = 2, incidents.IncidentConfirmed, nil, nil, nil
	task2.Version, task2.State, task2.Extension, task2.Callbacks = 2, incidents.TaskReopened, nil, nil
	mustUpdate(t, s, func(ctx context.Context, tx incidents.Tx) error {
		if err := tx.PutIncident(ctx, inc2, 1); err != nil {
			return err
		}
		return tx.PutTask(ctx, task2, 1)
	})
	checkStored(t, s, inc2, task2)

	// Another store on the same database reads the same.
	checkStored(t, open(), inc2, task2)
}

// checkStored fails tb unless s returns inc and task as they are.
func checkStored(tb testing.TB, s WorkflowStore, inc incidents.Incident, task incidents.Task) {
	tb.Helper()
	if got, err := s.GetIncident(ctxFor(tb), inc.ID); err != nil || !reflect.DeepEqual(got, inc) {
		tb.Errorf("GetIncident(%s) = %s, %v, want %s", inc.ID, asJSON(got), err, asJSON(inc))
	}
	if got, err := s.GetTask(ctxFor(tb), task.ID); err != nil || !reflect.DeepEqual(got, task) {
		tb.Errorf("GetTask(%s) = %s, %v, want %s", task.ID, asJSON(got), err, asJSON(task))
	}
}

func testVersions(t *testing.T, open func() WorkflowStore) {
	s := open()
	// Stored before the cases: "taken", "current" and "skip" at version 1,
	// "moved" at version 3.
	ids := []string{"taken", "current", "skip", "moved"}
	for _, id := range ids {
		putIncidents(t, s, incidentAt(id, wbase, incidents.IncidentOpen))
		putTasks(t, s, taskAt(id, "i", "water", incidents.TaskDispatched, wbase, wbase.Add(time.Hour)))
	}
	for v := int64(2); v <= 3; v++ {
		mustUpdate(t, s, func(ctx context.Context, tx incidents.Tx) error {
			inc := incidentAt("moved", wbase, incidents.IncidentOpen)
			inc.Version = v
			task := taskAt("moved", "i", "water", incidents.TaskDispatched, wbase, wbase.Add(time.Hour))
			task.Version = v
			if err := tx.PutIncident(ctx, inc, v-1); err != nil {
				return err
			}
			return tx.PutTask(ctx, task, v-1)
		})
	}

	tests := []struct {
		name      string
		id        string
		version   int64
		prev      int64
		code      string // "" for success
		field     string
		storedVer int64 // the version stored after, 0 for none
	}{
		{"creating a new id succeeds", "new", 1, 0, "", "", 1},
		{"creating a taken id is a conflict", "taken", 1, 0, incidents.CodeConflict, "id", 1},
		{"updating at the stored version succeeds", "current", 2, 1, "", "", 2},
		{"updating at an older version is a version conflict", "moved", 3, 2, incidents.CodeVersionConflict, "version", 3},
		{"updating a missing record is a version conflict", "missing", 2, 1, incidents.CodeVersionConflict, "version", 0},
		{"a version that is not the read one plus one is invalid", "skip", 3, 1, incidents.CodeInvalid, "version", 1},
		{"creating at version 2 is invalid", "new2", 2, 0, incidents.CodeInvalid, "version", 0},
		{"a negative read version is invalid", "neg", 0, -1, incidents.CodeInvalid, "version", 0},
		{"an empty id is invalid", "", 1, 0, incidents.CodeInvalid, "id", 0},
	}
	kinds := []struct {
		name   string
		put    func(ctx context.Context, tx incidents.Tx, id string, version, prev int64) error
		stored func(id string) (int64, error)
	}{
		{"incident", func(ctx context.Context, tx incidents.Tx, id string, version, prev int64) error {
			inc := incidentAt(id, wbase, incidents.IncidentConfirmed)
			inc.Version = version
			return tx.PutIncident(ctx, inc, prev)
		}, func(id string) (int64, error) {
			inc, err := s.GetIncident(ctxFor(t), id)
			return inc.Version, err
		}},
		{"task", func(ctx context.Context, tx incidents.Tx, id string, version, prev int64) error {
			task := taskAt(id, "i", "roads", incidents.TaskSigned, wbase, wbase.Add(time.Hour))
			task.Version = version
			return tx.PutTask(ctx, task, prev)
		}, func(id string) (int64, error) {
			task, err := s.GetTask(ctxFor(t), id)
			return task.Version, err
		}},
	}
	for _, k := range kinds {
		for _, tt := range tests {
			t.Run(k.name+" "+tt.name, func(t *testing.T) {
				_, err := s.Update(ctxFor(t), func(ctx context.Context, tx incidents.Tx) error {
					return k.put(ctx, tx, tt.id, tt.version, tt.prev)
				})
				if tt.code == "" && err != nil {
					t.Errorf("Put%s(%q, version %d, prev %d) = %v, want nil", k.name, tt.id, tt.version, tt.prev, err)
				}
				if tt.code != "" && !errorIs(err, tt.code, tt.field) {
					t.Errorf("Put%s(%q, version %d, prev %d) = %v, want code %s on field %q",
						k.name, tt.id, tt.version, tt.prev, err, tt.code, tt.field)
				}
				if tt.id == "" {
					return
				}
				got, err := k.stored(tt.id)
				switch {
				case tt.storedVer == 0 && incidents.ErrorCode(err) != incidents.CodeNotFound:
					t.Errorf("Get%s(%q) after the put = version %d, %v, want not_found", k.name, tt.id, got, err)
				case tt.storedVer > 0 && (err != nil || got != tt.storedVer):
					t.Errorf("Get%s(%q) after the put = version %d, %v, want version %d", k.name, tt.id, got, err, tt.storedVer)
				}
			})
		}
	}
}

func testRefusedPut(t *testing.T, open func() WorkflowStore) {
	s := open()
	putIncidents(t, s, incidentAt("taken", wbase, incidents.IncidentOpen))
	putTasks(t, s, taskAt("taken", "taken", "water", incidents.TaskDispatched, wbase, wbase.Add(time.Hour)))
	evs := mustUpdate(t, s, func(ctx context.Context, tx incidents.Tx) error {
		if err := tx.PutIncident(ctx, incidentAt("taken", wbase, incidents.IncidentOpen), 0); incidents.ErrorCode(err) != incidents.CodeConflict {
			t.Errorf("PutIncident(taken, 0) = %v, want a conflict", err)
		}
		stale := taskAt("taken", "taken", "water", incidents.TaskSigned, wbase, wbase.Add(time.Hour))
		stale.Version = 8
		if err := tx.PutTask(ctx, stale, 7); incidents.ErrorCode(err) != incidents.CodeVersionConflict {
			t.Errorf("PutTask(taken, 7) = %v, want a version conflict", err)
		}
		if err := tx.PutIncident(ctx, incidentAt("after", wbase, incidents.IncidentOpen), 0); err != nil {
			return err
		}
		return tx.Append(ctx, incidents.EventInput{Type: "incident.opened", Actor: "system", Data: map[string]string{"id": "after"}})
	})
	if len(evs) != 1 {
		t.Errorf("Update() after refused puts = %d events, want 1", len(evs))
	}
	if _, err := s.GetIncident(ctxFor(t), "after"); err != nil {
		t.Errorf("GetIncident(after) = %v, want the incident put after the refused puts", err)
	}
}

func testConcurrentUpdates(t *testing.T, open func() WorkflowStore) {
	s1, s2 := open(), open()
	const rounds = 10
	tests := []struct {
		name   string
		stores [2]WorkflowStore
	}{
		{"one wins on one store", [2]WorkflowStore{s1, s1}},
		{"one wins across two stores", [2]WorkflowStore{s1, s2}},
	}
	for n, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprintf("race-%d", n)
			putTasks(t, s1, taskAt(id, "i", "water", incidents.TaskDispatched, wbase, wbase.Add(time.Hour)))
			for round := range rounds {
				seen, err := s1.GetTask(ctxFor(t), id)
				if err != nil {
					t.Fatalf("GetTask(%s) = %v", id, err)
				}
				var (
					start = make(chan struct{})
					errs  [2]error
					wg    sync.WaitGroup
				)
				for w, s := range tt.stores {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						_, errs[w] = s.Update(ctxFor(t), func(ctx context.Context, tx incidents.Tx) error {
							next := seen
							next.Version, next.Result = seen.Version+1, fmt.Sprintf("writer %d", w)
							return tx.PutTask(ctx, next, seen.Version)
						})
					}()
				}
				close(start)
				wg.Wait()
				won := -1
				for w, err := range errs {
					switch {
					case err == nil && won == -1:
						won = w
					case err == nil:
						t.Errorf("round %d: both Update(PutTask(%s, %d)) = nil, want one version conflict", round, id, seen.Version)
					case !errorIs(err, incidents.CodeVersionConflict, "version"):
						t.Errorf("round %d: writer %d: Update(PutTask(%s, %d)) = %v, want nil or a version conflict", round, w, id, seen.Version, err)
					}
				}
				if won == -1 {
					t.Fatalf("round %d: Update(PutTask(%s, %d)) = %v, want one to win", round, id, seen.Version, errs)
				}
				got, err := s1.GetTask(ctxFor(t), id)
				if want := fmt.Sprintf("writer %d", won); err != nil || got.Version != seen.Version+1 || got.Result != want {
					t.Fatalf("round %d: GetTask(%s) = version %d result %q, %v, want version %d by %q",
						round, id, got.Version, got.Result, err, seen.Version+1, want)
				}
			}
		})
	}
}

// testLockedReads checks that the reads of a transaction keep the records
// read from changing under it: read-modify-write updates from several
// goroutines and stores all succeed, without retries.
func testLockedReads(t *testing.T, open func() WorkflowStore) {
	stores := []WorkflowStore{open(), open()}
	putTasks(t, stores[0], taskAt("counted", "i", "water", incidents.TaskDispatched, wbase, wbase.Add(time.Hour)))
	putIncidents(t, stores[0], incidentAt("counted", wbase, incidents.IncidentOpen))
	const workers, each = 4, 5
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[w%len(stores)]
			for range each {
				_, err := s.Update(ctxFor(t), func(ctx context.Context, tx incidents.Tx) error {
					task, err := tx.Task(ctx, "counted")
					if err != nil {
						return err
					}
					inc, err := tx.Incident(ctx, "counted")
					if err != nil {
						return err
					}
					prev, prevInc := task.Version, inc.Version
					task.Version, task.Escalations = prev+1, task.Escalations+1
					inc.Version, inc.UrgentCalls = prevInc+1, inc.UrgentCalls+1
					if err := tx.PutTask(ctx, task, prev); err != nil {
						return err
					}
					return tx.PutIncident(ctx, inc, prevInc)
				})
				if err != nil {
					t.Errorf("worker %d: Update(read, increment, put) = %v, want nil", w, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	task, err := stores[0].GetTask(ctxFor(t), "counted")
	if want := workers * each; err != nil || task.Escalations != want || task.Version != int64(want+1) {
		t.Errorf("GetTask(counted) = escalations %d version %d, %v, want %d and %d", task.Escalations, task.Version, err, want, want+1)
	}
	inc, err := stores[1].GetIncident(ctxFor(t), "counted")
	if want := workers * each; err != nil || inc.UrgentCalls != want {
		t.Errorf("GetIncident(counted) = urgent calls %d, %v, want %d", inc.UrgentCalls, err, want)
	}
}

func testRollback(t *testing.T, newDatabase func(t *testing.T) (open func() WorkflowStore)) {
	tests := []struct {
		name string
		err  error
	}{
		{"an application error comes back as it is", incidents.FieldError(incidents.CodeInvalidTransition, "action", "no")},
		{"a plain error comes back as it is", errors.New("fn failed")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newDatabase(t)()
			mustCreate(t, s, newCall("c1", base))
			evs, err := s.Update(ctxFor(t), func(ctx context.Context, tx incidents.Tx) error {
				if err := tx.PutIncident(ctx, incidentAt("i1", wbase, incidents.IncidentOpen, "water"), 0); err != nil {
					return err
				}
				if err := tx.PutTask(ctx, taskAt("t1", "i1", "water", incidents.TaskDispatched, wbase, wbase.Add(time.Hour)), 0); err != nil {
					return err
				}
				if err := tx.AttachCalls(ctx, "i1", []string{"c1"}); err != nil {
					return err
				}
				if err := tx.SetTimers(ctx, "t1", []incidents.Timer{{TaskID: "t1", Kind: incidents.TimerSign, DueAt: wbase}}); err != nil {
					return err
				}
				for _, typ := range []string{"incident.opened", "task.dispatched"} {
					if err := tx.Append(ctx, incidents.EventInput{Type: typ, Actor: "system", Data: typ}); err != nil {
						return err
					}
				}
				return tt.err
			})
			if err != tt.err || evs != nil {
				t.Fatalf("Update(fn failing with %v) = %v, %v, want nil, the same error", tt.err, evs, err)
			}
			var e *incidents.Error
			if errors.As(tt.err, &e) && (!errors.As(err, &e) || e.Code != incidents.CodeInvalidTransition) {
				t.Errorf("errors.As(Update() error, *incidents.Error) = %v, want code %s", e, incidents.CodeInvalidTransition)
			}
			checkNothingStored(t, s)

			// The seqs the failed transaction did not use are the next ones.
			evs = mustUpdate(t, s, func(ctx context.Context, tx incidents.Tx) error {
				return tx.Append(ctx, incidents.EventInput{Type: "incident.note", Actor: "leader-1", Data: 1})
			})
			if len(evs) != 1 || evs[0].Seq != 2 {
				t.Errorf("Update() after the rollback = %+v, want one event with seq 2", evs)
			}
		})
	}
}

// checkNothingStored fails tb unless s holds only call c1 and its event.
func checkNothingStored(tb testing.TB, s WorkflowStore) {
	tb.Helper()
	ctx := ctxFor(tb)
	if _, err := s.GetIncident(ctx, "i1"); incidents.ErrorCode(err) != incidents.CodeNotFound {
		tb.Errorf("GetIncident(i1) after the rollback = %v, want not_found", err)
	}
	if _, err := s.GetTask(ctx, "t1"); incidents.ErrorCode(err) != incidents.CodeNotFound {
		tb.Errorf("GetTask(t1) after the rollback = %v, want not_found", err)
	}
	if ts, err := s.PendingTimers(ctx, "t1"); err != nil || len(ts) != 0 {
		tb.Errorf("PendingTimers(t1) after the rollback = %v, %v, want none", ts, err)
	}
	if incs, err := s.ListIncidents(ctx, incidents.IncidentFilter{Dept: "water"}); err != nil || len(incs) != 0 {
		tb.Errorf("ListIncidents(water) after the rollback = %v, %v, want none", incs, err)
	}
	if last := mustLastSeq(tb, s); last != 1 {
		tb.Errorf("LastSeq() after the rollback = %d, want 1", last)
	}
	if entries, err := s.Audit(ctx, incidents.AuditFilter{}); err != nil || len(entries) != 1 {
		tb.Errorf("Audit() after the rollback = %v, %v, want the call's event only", entries, err)
	}
	evs := mustUpdate(tb, s, func(ctx context.Context, tx incidents.Tx) error {
		owners, err := tx.IncidentsOfCalls(ctx, []string{"c1"})
		if err != nil || len(owners) != 0 {
			tb.Errorf("IncidentsOfCalls(c1) after the rollback = %v, %v, want none", owners, err)
		}
		return err
	})
	if len(evs) != 0 {
		tb.Errorf("Update() without events = %v, want none", evs)
	}
}

func testUpdateEvents(t *testing.T, open func() WorkflowStore) {
	s := open()
	mustCreate(t, s, newCall("c1", base))
	type note struct {
		Text string `json:"text"`
		N    int    `json:"n"`
	}
	inputs := [][]incidents.EventInput{
		{
			{Type: "incident.opened", Actor: "system", Data: note{"opened", 1}},
			{Type: "alert.raised", Actor: "system", Origin: "10.0.0.1:5000", Data: map[string]any{"kind": "incident_opened", "grade": 3}},
		},
		{{Type: "task.signed", Actor: "dept-water", Origin: "10.0.0.2:6000", Data: note{"签收", 2}}},
	}
	var updates []incidents.Event
	before := time.Now().UTC().Truncate(time.Microsecond)
	for i, in := range inputs {
		evs := mustUpdate(t, s, func(ctx context.Context, tx incidents.Tx) error {
			for _, e := range in {
				if err := tx.Append(ctx, e); err != nil {
					return err
				}
			}
			return nil
		})
		if len(evs) != len(in) {
			t.Fatalf("Update(%d events) = %d events, want %d", len(in), len(evs), len(in))
		}
		updates = append(updates, evs...)
		mustCreate(t, s, newCall(fmt.Sprintf("after-%d", i), base.Add(time.Duration(i+1)*time.Second)))
	}
	after := time.Now().UTC()

	// Calls and updates take turns: 1 call, 2 events, 1 call, 1 event, 1 call.
	wantSeqs := []int64{2, 3, 5}
	var want []incidents.EventInput
	for _, in := range inputs {
		want = append(want, in...)
	}
	for i, e := range updates {
		data, _ := json.Marshal(want[i].Data)
		if e.Seq != wantSeqs[i] || e.Type != want[i].Type || e.Actor != want[i].Actor || !sameJSON(e.Data, data) {
			t.Errorf("Update() event %d = seq %d %s by %q %s, want seq %d %s by %q %s",
				i, e.Seq, e.Type, e.Actor, e.Data, wantSeqs[i], want[i].Type, want[i].Actor, data)
		}
		if e.At.Before(before) || e.At.After(after) || e.At.Location() != time.UTC || !e.At.Equal(e.At.Truncate(time.Microsecond)) {
			t.Errorf("Update() event %d: At = %v, want the commit time in UTC, to the microsecond, between %v and %v", i, e.At, before, after)
		}
	}
	all := mustReadAll(t, s)
	if len(all) != 6 {
		t.Fatalf("ReadEvents(all) = %d events, want 6", len(all))
	}
	for i, e := range all {
		if e.Seq != int64(i+1) {
			t.Errorf("ReadEvents(all)[%d].Seq = %d, want %d: seqs are gap-free across calls and updates", i, e.Seq, i+1)
		}
	}
	for _, u := range updates {
		r := all[u.Seq-1]
		if r.Type != u.Type || r.Actor != u.Actor || !r.At.Equal(u.At) || r.At.Location() != time.UTC || !sameJSON(r.Data, u.Data) {
			t.Errorf("ReadEvents() event %d = %+v, want %+v as Update returned it", u.Seq, r, u)
		}
	}
}

func testAppendErrors(t *testing.T, open func() WorkflowStore) {
	s := open()
	tests := []struct {
		name  string
		in    incidents.EventInput
		field string
	}{
		{"an event without a type is invalid", incidents.EventInput{Actor: "system", Data: 1}, "type"},
		{"data that is not JSON is invalid", incidents.EventInput{Type: "incident.note", Data: make(chan int)}, "data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Update(ctxFor(t), func(ctx context.Context, tx incidents.Tx) error {
				return tx.Append(ctx, tt.in)
			})
			if !errorIs(err, incidents.CodeInvalid, tt.field) {
				t.Errorf("Append(%+v) = %v, want invalid on field %q", tt.in, err, tt.field)
			}
			if last := mustLastSeq(t, s); last != 0 {
				t.Errorf("LastSeq() = %d, want 0", last)
			}
		})
	}
}

func testUpdateWakes(t *testing.T, open func() WorkflowStore) {
	a, b := open(), open()
	tests := []struct {
		name   string
		waiter WorkflowStore
	}{
		{"a waiter on the same store wakes", a},
		{"a waiter on another store wakes", b},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			last := mustLastSeq(t, a)
			done := waitResult(ctxFor(t), tt.waiter, last)
			select {
			case err := <-done:
				t.Fatalf("WaitEvents(%d) = %v before the update, want it to block", last, err)
			case <-time.After(100 * time.Millisecond):
			}
			mustUpdate(t, a, func(ctx context.Context, tx incidents.Tx) error {
				return tx.Append(ctx, incidents.EventInput{Type: "incident.note", Actor: "leader-1", Data: "wake"})
			})
			if err := awaitWait(t, done, 10*time.Second); err != nil {
				t.Errorf("WaitEvents(%d) = %v after the update committed, want nil", last, err)
			}
		})
	}
}

func testAttachCalls(t *testing.T, open func() WorkflowStore) {
	s := open()
	ask := []string{"c1", "c2", "c3"}
	tests := []struct {
		name     string
		incident string
		calls    []string
		code     string
		want     map[string]string
	}{
		{"calls attach, repeats once", "A", []string{"c1", "c2", "c2"}, "", map[string]string{"c1": "A", "c2": "A"}},
		{"a call moves to the new incident", "B", []string{"c2"}, "", map[string]string{"c1": "A", "c2": "B"}},
		{"no calls change nothing", "B", nil, "", map[string]string{"c1": "A", "c2": "B"}},
		{"an empty incident id is invalid", "", []string{"c3"}, incidents.CodeInvalid, map[string]string{"c1": "A", "c2": "B"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Update(ctxFor(t), func(ctx context.Context, tx incidents.Tx) error {
				return tx.AttachCalls(ctx, tt.incident, tt.calls)
			})
			if incidents.ErrorCode(err) != tt.code {
				t.Errorf("AttachCalls(%q, %v) = %v, want code %q", tt.incident, tt.calls, err, tt.code)
			}
			mustUpdate(t, s, func(ctx context.Context, tx incidents.Tx) error {
				got, err := tx.IncidentsOfCalls(ctx, ask)
				if err != nil || !reflect.DeepEqual(got, tt.want) {
					t.Errorf("IncidentsOfCalls(%v) = %v, %v, want %v", ask, got, err, tt.want)
				}
				return nil
			})
		})
	}
}

func testWorkflowNotFound(t *testing.T, open func() WorkflowStore) {
	s := open()
	tests := []struct {
		name string
		get  func(ctx context.Context, tx incidents.Tx) error
	}{
		{"GetIncident", func(ctx context.Context, _ incidents.Tx) error { _, err := s.GetIncident(ctx, "nope"); return err }},
		{"GetTask", func(ctx context.Context, _ incidents.Tx) error { _, err := s.GetTask(ctx, "nope"); return err }},
		{"Tx.Incident", func(ctx context.Context, tx incidents.Tx) error { _, err := tx.Incident(ctx, "nope"); return err }},
		{"Tx.Task", func(ctx context.Context, tx incidents.Tx) error { _, err := tx.Task(ctx, "nope"); return err }},
		{"Tx.Call", func(ctx context.Context, tx incidents.Tx) error { _, err := tx.Call(ctx, "nope"); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name+" of a missing record is not_found", func(t *testing.T) {
			var err error
			mustUpdate(t, s, func(ctx context.Context, tx incidents.Tx) error {
				err = tt.get(ctx, tx)
				return nil
			})
			if incidents.ErrorCode(err) != incidents.CodeNotFound {
				t.Errorf("%s(nope) = %v, want not_found", tt.name, err)
			}
		})
	}
	t.Run("Tx.Call of a stored call returns it", func(t *testing.T) {
		res := mustCreate(t, s, newCall("c1", base))
		mustUpdate(t, s, func(ctx context.Context, tx incidents.Tx) error {
			got, err := tx.Call(ctx, "c1")
			if err != nil {
				t.Errorf("Tx.Call(c1) = %v, want the call", err)
			} else if d := diffCall(got, res[0].Call); d != "" {
				t.Errorf("Tx.Call(c1) differs:%s", d)
			}
			return nil
		})
	})
}

// ids returns the ids of records.
func ids[T any](records []T, id func(T) string) []string {
	out := []string{}
	for _, r := range records {
		out = append(out, id(r))
	}
	return out
}

func testListIncidents(t *testing.T, open func() WorkflowStore) {
	s := open()
	putIncidents(t, s,
		incidentAt("i1", wbase, incidents.IncidentOpen, "d1"),
		incidentAt("i2", wbase.Add(time.Hour), incidents.IncidentConfirmed, "d1", "d2"),
		incidentAt("i3", wbase.Add(2*time.Hour), incidents.IncidentClosed, "d2"),
		incidentAt("i4", wbase.Add(3*time.Hour), incidents.IncidentMerged),
		incidentAt("i5", wbase.Add(3*time.Hour), incidents.IncidentOpen),
	)
	// i1 moves from d1 to d3: the department filter follows the document.
	moved := incidentAt("i1", wbase, incidents.IncidentOpen, "d3", "d3")
	moved.Version = 2
	mustUpdate(t, s, func(ctx context.Context, tx incidents.Tx) error { return tx.PutIncident(ctx, moved, 1) })

	open2 := []incidents.IncidentState{incidents.IncidentOpen}
	tests := []struct {
		name string
		f    incidents.IncidentFilter
		want []string
	}{
		{"no filter lists all, newest opened first, ties by id descending", incidents.IncidentFilter{}, []string{"i5", "i4", "i3", "i2", "i1"}},
		{"a state", incidents.IncidentFilter{States: open2}, []string{"i5", "i1"}},
		{"two states", incidents.IncidentFilter{States: []incidents.IncidentState{incidents.IncidentOpen, incidents.IncidentConfirmed}}, []string{"i5", "i2", "i1"}},
		{"a department", incidents.IncidentFilter{Dept: "d2"}, []string{"i3", "i2"}},
		{"a department an incident left", incidents.IncidentFilter{Dept: "d1"}, []string{"i2"}},
		{"a department an incident joined", incidents.IncidentFilter{Dept: "d3"}, []string{"i1"}},
		{"a department and a state", incidents.IncidentFilter{Dept: "d2", States: []incidents.IncidentState{incidents.IncidentClosed}}, []string{"i3"}},
		{"an unknown department lists none", incidents.IncidentFilter{Dept: "d9"}, []string{}},
		{"a limit keeps the newest", incidents.IncidentFilter{Limit: 2}, []string{"i5", "i4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListIncidents(ctxFor(t), tt.f)
			if gotIDs := ids(got, func(i incidents.Incident) string { return i.ID }); err != nil || !slices.Equal(gotIDs, tt.want) {
				t.Errorf("ListIncidents(%+v) = %v, %v, want %v", tt.f, gotIDs, err, tt.want)
			}
		})
	}
	t.Run("a negative limit is invalid", func(t *testing.T) {
		if _, err := s.ListIncidents(ctxFor(t), incidents.IncidentFilter{Limit: -1}); !errorIs(err, incidents.CodeInvalid, "limit") {
			t.Errorf("ListIncidents(limit -1) = %v, want invalid on field limit", err)
		}
	})
	t.Run("active incidents are the open and confirmed, oldest first", func(t *testing.T) {
		mustUpdate(t, s, func(ctx context.Context, tx incidents.Tx) error {
			got, err := tx.ActiveIncidents(ctx)
			if gotIDs, want := ids(got, func(i incidents.Incident) string { return i.ID }), []string{"i1", "i2", "i5"}; err != nil || !slices.Equal(gotIDs, want) {
				t.Errorf("ActiveIncidents() = %v, %v, want %v", gotIDs, err, want)
			}
			return nil
		})
	})
}

func testListTasks(t *testing.T, open func() WorkflowStore) {
	s := open()
	putTasks(t, s,
		taskAt("t1", "A", "d1", incidents.TaskDispatched, wbase, wbase.Add(3*time.Hour)),
		taskAt("t2", "A", "d2", incidents.TaskSigned, wbase.Add(time.Minute), wbase.Add(time.Hour)),
		taskAt("t3", "B", "d1", incidents.TaskCompleted, wbase.Add(2*time.Minute), wbase.Add(2*time.Hour)),
		taskAt("t4", "B", "d1", incidents.TaskDispatched, wbase.Add(-time.Minute), wbase.Add(time.Hour)),
	)
	// t3 is reassigned to d2 and given a later deadline: the columns follow
	// the document.
	moved := taskAt("t3", "B", "d2", incidents.TaskDispatched, wbase.Add(2*time.Minute), wbase.Add(4*time.Hour))
	moved.Version = 2
	mustUpdate(t, s, func(ctx context.Context, tx incidents.Tx) error { return tx.PutTask(ctx, moved, 1) })

	tests := []struct {
		name string
		f    incidents.TaskFilter
		want []string
	}{
		{"no filter lists all, soonest deadline first, ties by id", incidents.TaskFilter{}, []string{"t2", "t4", "t1", "t3"}},
		{"a department", incidents.TaskFilter{Dept: "d1"}, []string{"t4", "t1"}},
		{"a department a task moved to", incidents.TaskFilter{Dept: "d2"}, []string{"t2", "t3"}},
		{"an incident", incidents.TaskFilter{IncidentID: "B"}, []string{"t4", "t3"}},
		{"a state", incidents.TaskFilter{States: []incidents.TaskState{incidents.TaskDispatched}}, []string{"t4", "t1", "t3"}},
		{"two states", incidents.TaskFilter{States: []incidents.TaskState{incidents.TaskSigned, incidents.TaskCompleted}}, []string{"t2"}},
		{"every filter", incidents.TaskFilter{Dept: "d1", IncidentID: "A", States: []incidents.TaskState{incidents.TaskDispatched}}, []string{"t1"}},
		{"an unknown department lists none", incidents.TaskFilter{Dept: "d9"}, []string{}},
		{"a limit keeps the soonest", incidents.TaskFilter{Limit: 3}, []string{"t2", "t4", "t1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListTasks(ctxFor(t), tt.f)
			if gotIDs := ids(got, func(t incidents.Task) string { return t.ID }); err != nil || !slices.Equal(gotIDs, tt.want) {
				t.Errorf("ListTasks(%+v) = %v, %v, want %v", tt.f, gotIDs, err, tt.want)
			}
		})
	}
	t.Run("a negative limit is invalid", func(t *testing.T) {
		if _, err := s.ListTasks(ctxFor(t), incidents.TaskFilter{Limit: -1}); !errorIs(err, incidents.CodeInvalid, "limit") {
			t.Errorf("ListTasks(limit -1) = %v, want invalid on field limit", err)
		}
	})
	t.Run("an incident's tasks come first dispatched first", func(t *testing.T) {
		mustUpdate(t, s, func(ctx context.Context, tx incidents.Tx) error {
			for inc, want := range map[string][]string{"A": {"t1", "t2"}, "B": {"t4", "t3"}, "C": {}} {
				got, err := tx.TasksOfIncident(ctx, inc)
				if gotIDs := ids(got, func(t incidents.Task) string { return t.ID }); err != nil || !slices.Equal(gotIDs, want) {
					t.Errorf("TasksOfIncident(%s) = %v, %v, want %v", inc, gotIDs, err, want)
				}
			}
			return nil
		})
	})
}

func testAudit(t *testing.T, open func() WorkflowStore) {
	s := open()
	mustCreate(t, s, newCall("c1", base)) // seq 1, actor agent-7, no origin
	inputs := []incidents.EventInput{
		{Type: "task.signed", Actor: "dept-a", Origin: "10.0.0.1:5000", Data: 1},
		{Type: "task.overdue", Actor: "system", Data: 2},
		{Type: "taskXsigned", Actor: "dept-a", Origin: "10.0.0.1:5001", Data: 3},
		{Type: "incident.opened", Actor: "leader-1", Origin: "10.0.0.2:6000", Data: 4},
	}
	for _, in := range inputs {
		mustUpdate(t, s, func(ctx context.Context, tx incidents.Tx) error { return tx.Append(ctx, in) })
	}
	all := mustReadAll(t, s)
	origin := map[int64]string{1: ""}
	for i, in := range inputs {
		origin[int64(i+2)] = in.Origin
	}
	// seqs picks events by seq, newest first as Audit returns them.
	between := func(from, to time.Time) []int64 {
		var out []int64
		for i := len(all) - 1; i >= 0; i-- {
			if !all[i].At.Before(from) && all[i].At.Before(to) {
				out = append(out, all[i].Seq)
			}
		}
		return out
	}
	from, to := all[2].At, all[4].At
	tests := []struct {
		name string
		f    incidents.AuditFilter
		want []int64
	}{
		{"no filter lists all, newest first", incidents.AuditFilter{}, []int64{5, 4, 3, 2, 1}},
		{"an actor, exactly", incidents.AuditFilter{Actor: "dept-a"}, []int64{4, 2}},
		{"a type prefix", incidents.AuditFilter{TypePrefix: "task."}, []int64{3, 2}},
		{"a whole type", incidents.AuditFilter{TypePrefix: "incident.opened"}, []int64{5}},
		{"a prefix is not a pattern", incidents.AuditFilter{TypePrefix: "task%"}, nil},
		{"a time range, from inclusive, to exclusive", incidents.AuditFilter{From: from, To: to}, between(from, to)},
		{"from only", incidents.AuditFilter{From: from}, between(from, all[4].At.Add(time.Hour))},
		{"before a seq", incidents.AuditFilter{BeforeSeq: 4}, []int64{3, 2, 1}},
		{"a limit keeps the newest", incidents.AuditFilter{Limit: 2}, []int64{5, 4}},
		{"filters combine", incidents.AuditFilter{Actor: "dept-a", TypePrefix: "task", BeforeSeq: 4, Limit: 5}, []int64{2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Audit(ctxFor(t), tt.f)
			if err != nil {
				t.Fatalf("Audit(%+v) = %v, want no error", tt.f, err)
			}
			gotSeqs := []int64{}
			for _, e := range got {
				gotSeqs = append(gotSeqs, e.Seq)
				r := all[e.Seq-1]
				if e.Type != r.Type || e.Actor != r.Actor || !e.At.Equal(r.At) || e.At.Location() != time.UTC ||
					!sameJSON(e.Data, r.Data) || e.Origin != origin[e.Seq] {
					t.Errorf("Audit(%+v) entry %d = %+v, want %+v with origin %q", tt.f, e.Seq, e, r, origin[e.Seq])
				}
			}
			if want := append([]int64{}, tt.want...); !slices.Equal(gotSeqs, want) {
				t.Errorf("Audit(%+v) = seqs %v, want %v", tt.f, gotSeqs, want)
			}
		})
	}
	t.Run("a negative limit is invalid", func(t *testing.T) {
		if _, err := s.Audit(ctxFor(t), incidents.AuditFilter{Limit: -1}); !errorIs(err, incidents.CodeInvalid, "limit") {
			t.Errorf("Audit(limit -1) = %v, want invalid on field limit", err)
		}
	})
}

func testAuditTimeRange(t *testing.T, open func() WorkflowStore) {
	s := open()
	mustUpdate(t, s, func(ctx context.Context, tx incidents.Tx) error {
		return tx.Append(ctx, incidents.EventInput{Type: "incident.opened", Actor: "system", Data: 1})
	})
	for _, tt := range []struct {
		f     incidents.AuditFilter
		field string
	}{
		{incidents.AuditFilter{From: tooLate}, "from"},
		{incidents.AuditFilter{To: tooEarly}, "to"},
	} {
		if got, err := s.Audit(ctxFor(t), tt.f); !errorIs(err, incidents.CodeInvalid, tt.field) {
			t.Errorf("Audit(from %v, to %v) = %d entries, %v, want an invalid %s error", tt.f.From, tt.f.To, len(got), err, tt.field)
		}
	}
	if got, err := s.Audit(ctxFor(t), incidents.AuditFilter{From: lastEarly, To: lastLate}); err != nil || len(got) != 1 {
		t.Errorf("Audit(from %v, to %v) = %d entries, %v, want 1", lastEarly, lastLate, len(got), err)
	}
}
