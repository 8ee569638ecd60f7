package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"flare/incidents"
)

// setTimers replaces the timers of task taskID, failing tb on error.
func setTimers(tb testing.TB, s WorkflowStore, taskID string, timers ...incidents.Timer) {
	tb.Helper()
	mustUpdate(tb, s, func(ctx context.Context, tx incidents.Tx) error { return tx.SetTimers(ctx, taskID, timers) })
}

// mustPending returns s.PendingTimers(taskID), failing tb on error.
func mustPending(tb testing.TB, s WorkflowStore, taskID string) []incidents.Timer {
	tb.Helper()
	ts, err := s.PendingTimers(ctxFor(tb), taskID)
	if err != nil {
		tb.Fatalf("PendingTimers(%s) = %v, want no error", taskID, err)
	}
	return ts
}

// timerKey identifies a timer by what it is, its id aside.
type timerKey struct {
	Task, Kind string
	Due        time.Time
	Attempt    int
}

func keyOf(t incidents.Timer) timerKey { return timerKey{t.TaskID, t.Kind, t.DueAt, t.Attempt} }

// checkPending fails tb unless the pending timers of task taskID are want,
// in that order, with ids and UTC times.
func checkPending(tb testing.TB, s WorkflowStore, taskID string, want ...incidents.Timer) []incidents.Timer {
	tb.Helper()
	got := mustPending(tb, s, taskID)
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		g, w := got[i], want[i]
		ok = g.ID > 0 && g.TaskID == taskID && g.Kind == w.Kind && g.DueAt.Equal(w.DueAt) &&
			g.DueAt.Location() == time.UTC && g.Attempt == w.Attempt
	}
	if !ok {
		tb.Errorf("PendingTimers(%s) = %+v, want %+v (with ids, in UTC)", taskID, got, want)
	}
	return got
}

func testSetTimers(t *testing.T, open func() WorkflowStore) {
	s := open()
	shanghai := time.FixedZone("CST", 8*3600)
	sign := incidents.Timer{TaskID: "t1", Kind: incidents.TimerSign, DueAt: wbase.Add(30 * time.Minute).In(shanghai)}
	remind := incidents.Timer{TaskID: "t1", Kind: incidents.TimerRemind, DueAt: wbase.Add(2 * time.Hour)}
	overdue := incidents.Timer{TaskID: "t1", Kind: incidents.TimerOverdue, DueAt: wbase.Add(3 * time.Hour)}
	escalate := incidents.Timer{Kind: incidents.TimerEscalate, DueAt: wbase.Add(4 * time.Hour), Attempt: 1}
	other := incidents.Timer{TaskID: "t2", Kind: incidents.TimerSign, DueAt: wbase}
	setTimers(t, s, "t2", other)

	var first []incidents.Timer
	tests := []struct {
		name   string
		timers []incidents.Timer
		code   string
		field  string
		want   []incidents.Timer
	}{
		{"timers come back soonest first", []incidents.Timer{escalate, remind, sign, overdue}, "", "",
			[]incidents.Timer{sign, remind, overdue, escalate}},
		{"new timers replace the pending ones", []incidents.Timer{{Kind: incidents.TimerOverdue, DueAt: wbase.Add(5 * time.Hour)}}, "", "",
			[]incidents.Timer{{Kind: incidents.TimerOverdue, DueAt: wbase.Add(5 * time.Hour)}}},
		{"no timers clear them", nil, "", "", nil},
		{"a timer of another task is invalid", []incidents.Timer{other}, incidents.CodeInvalid, "task_id", nil},
		{"a timer without a kind is invalid", []incidents.Timer{{DueAt: wbase}}, incidents.CodeInvalid, "kind", nil},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Update(ctxFor(t), func(ctx context.Context, tx incidents.Tx) error {
				return tx.SetTimers(ctx, "t1", tt.timers)
			})
			if (tt.code == "" && err != nil) || (tt.code != "" && !errorIs(err, tt.code, tt.field)) {
				t.Errorf("SetTimers(t1, %+v) = %v, want code %q on field %q", tt.timers, err, tt.code, tt.field)
			}
			got := checkPending(t, s, "t1", tt.want...)
			if i == 0 {
				first = got
			}
			for _, g := range got {
				if slices.ContainsFunc(first, func(f incidents.Timer) bool { return i > 0 && f.ID == g.ID }) {
					t.Errorf("PendingTimers(t1) = %+v after a replacement, want new ids, not %+v", got, first)
				}
			}
			checkPending(t, s, "t2", other)
		})
	}
}

// fireLog records the timers a fire function was given, in order.
type fireLog struct {
	mu    sync.Mutex
	fired []incidents.Timer
}

// fire records t and appends a timer.fired event naming it.
func (l *fireLog) fire(ctx context.Context, tx incidents.Tx, t incidents.Timer) error {
	l.mu.Lock()
	l.fired = append(l.fired, t)
	l.mu.Unlock()
	return tx.Append(ctx, incidents.EventInput{Type: "timer.fired", Actor: "system", Data: t})
}

// firedKinds returns the kinds of the timers fired, in order, as "task/kind".
func (l *fireLog) firedKinds() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := []string{}
	for _, t := range l.fired {
		out = append(out, t.TaskID+"/"+t.Kind)
	}
	return out
}

func testFireDueTimers(t *testing.T, open func() WorkflowStore) {
	s := open()
	setTimers(t, s, "ta",
		incidents.Timer{Kind: incidents.TimerSign, DueAt: wbase.Add(time.Minute)},
		incidents.Timer{Kind: incidents.TimerOverdue, DueAt: wbase.Add(3 * time.Minute)})
	setTimers(t, s, "tb",
		incidents.Timer{Kind: incidents.TimerRemind, DueAt: wbase.Add(2 * time.Minute)},
		incidents.Timer{Kind: incidents.TimerEscalate, DueAt: wbase.Add(10 * time.Minute), Attempt: 1})

	var log fireLog
	tests := []struct {
		name  string
		now   time.Time
		limit int
		want  []string // all fired so far
	}{
		{"nothing is due yet", wbase, 10, []string{}},
		{"due timers fire soonest first, one due right now too", wbase.Add(2 * time.Minute), 10, []string{"ta/sign", "tb/remind"}},
		{"a fired timer does not fire again", wbase.Add(2 * time.Minute), 10, []string{"ta/sign", "tb/remind"}},
		{"the limit caps a call", wbase.Add(time.Hour), 1, []string{"ta/sign", "tb/remind", "ta/overdue"}},
		{"the rest fire on the next call", wbase.Add(time.Hour), 10, []string{"ta/sign", "tb/remind", "ta/overdue", "tb/escalate"}},
	}
	total := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := s.FireDueTimers(ctxFor(t), tt.now, tt.limit, log.fire)
			total += n
			if got := log.firedKinds(); err != nil || !slices.Equal(got, tt.want) || total != len(tt.want) {
				t.Errorf("FireDueTimers(%v, %d) = %d, %v, fired %v, want %v", tt.now, tt.limit, n, err, got, tt.want)
			}
		})
	}
	t.Run("a limit below 1 is invalid", func(t *testing.T) {
		if _, err := s.FireDueTimers(ctxFor(t), wbase, 0, log.fire); !errorIs(err, incidents.CodeInvalid, "limit") {
			t.Errorf("FireDueTimers(limit 0) = %v, want invalid on field limit", err)
		}
	})
	t.Run("each firing committed its events", func(t *testing.T) {
		evs := mustReadAll(t, s)
		if len(evs) != 4 {
			t.Fatalf("ReadEvents(all) = %d events, want one per timer fired, 4", len(evs))
		}
		for i, e := range evs {
			var tm incidents.Timer
			if err := json.Unmarshal(e.Data, &tm); err != nil || e.Type != "timer.fired" || tm.ID != log.fired[i].ID {
				t.Errorf("event %d = %s %s, want timer.fired of timer %d", e.Seq, e.Type, e.Data, log.fired[i].ID)
			}
		}
		for _, task := range []string{"ta", "tb"} {
			checkPending(t, s, task)
		}
	})
}

func testFireReplacesTimers(t *testing.T, open func() WorkflowStore) {
	s := open()
	putTasks(t, s, taskAt("t1", "i1", "water", incidents.TaskDispatched, wbase, wbase.Add(time.Hour)))
	setTimers(t, s, "t1",
		incidents.Timer{Kind: incidents.TimerEscalate, DueAt: wbase, Attempt: 1},
		incidents.Timer{Kind: incidents.TimerOverdue, DueAt: wbase.Add(time.Hour)})
	next := incidents.Timer{TaskID: "t1", Kind: incidents.TimerEscalate, DueAt: wbase.Add(2 * time.Hour), Attempt: 2}
	var fired []incidents.Timer
	n, err := s.FireDueTimers(ctxFor(t), wbase.Add(time.Minute), 10, func(ctx context.Context, tx incidents.Tx, tm incidents.Timer) error {
		fired = append(fired, tm)
		// As an escalation does: update the task, schedule the next one.
		task, err := tx.Task(ctx, tm.TaskID)
		if err != nil {
			return err
		}
		prev := task.Version
		task.Version, task.Escalations = prev+1, task.Escalations+1
		if err := tx.PutTask(ctx, task, prev); err != nil {
			return err
		}
		return tx.SetTimers(ctx, tm.TaskID, []incidents.Timer{next})
	})
	if err != nil || n != 1 || len(fired) != 1 || fired[0].Kind != incidents.TimerEscalate || fired[0].Attempt != 1 {
		t.Fatalf("FireDueTimers() = %d, %v, fired %+v, want the first escalation once", n, err, fired)
	}
	checkPending(t, s, "t1", next)
	if task, err := s.GetTask(ctxFor(t), "t1"); err != nil || task.Escalations != 1 {
		t.Errorf("GetTask(t1) = escalations %d, %v, want 1", task.Escalations, err)
	}
	if n, err := s.FireDueTimers(ctxFor(t), wbase.Add(time.Minute), 10, (&fireLog{}).fire); n != 0 || err != nil {
		t.Errorf("FireDueTimers() again = %d, %v, want 0: the fired timer stays fired", n, err)
	}
}

func testFireError(t *testing.T, open func() WorkflowStore) {
	s := open()
	setTimers(t, s, "t1", incidents.Timer{Kind: incidents.TimerOverdue, DueAt: wbase})
	pending := mustPending(t, s, "t1")
	tests := []struct {
		name string
		err  error
	}{
		{"an application error comes back", incidents.Errorf(incidents.CodeInvalidTransition, "no")},
		{"a plain error comes back", errors.New("fire failed")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := s.FireDueTimers(ctxFor(t), wbase.Add(time.Minute), 10, func(ctx context.Context, tx incidents.Tx, tm incidents.Timer) error {
				if err := tx.SetTimers(ctx, tm.TaskID, nil); err != nil {
					return err
				}
				if err := tx.Append(ctx, incidents.EventInput{Type: "task.overdue", Actor: "system", Data: tm}); err != nil {
					return err
				}
				return tt.err
			})
			if n != 0 || !errors.Is(err, tt.err) {
				t.Errorf("FireDueTimers(fire failing with %v) = %d, %v, want 0 and that error", tt.err, n, err)
			}
			var e *incidents.Error
			if errors.As(tt.err, &e) && (!errors.As(err, &e) || e.Code != incidents.CodeInvalidTransition) {
				t.Errorf("errors.As(FireDueTimers() error, *incidents.Error) = %v, want code %s", e, incidents.CodeInvalidTransition)
			}
			checkPending(t, s, "t1", pending...)
			if last := mustLastSeq(t, s); last != 0 {
				t.Errorf("LastSeq() after a failed firing = %d, want 0", last)
			}
		})
	}
	t.Run("the timer fires once fire succeeds", func(t *testing.T) {
		var log fireLog
		if n, err := s.FireDueTimers(ctxFor(t), wbase.Add(time.Minute), 10, log.fire); n != 1 || err != nil {
			t.Errorf("FireDueTimers() = %d, %v, want 1, nil", n, err)
		}
		checkPending(t, s, "t1")
	})
}

func testTimersAcrossRestart(t *testing.T, open func() WorkflowStore) {
	before := open()
	timers := []incidents.Timer{
		{TaskID: "t1", Kind: incidents.TimerSign, DueAt: wbase.Add(time.Minute)},
		{TaskID: "t1", Kind: incidents.TimerEscalate, DueAt: wbase.Add(time.Hour), Attempt: 3},
	}
	setTimers(t, before, "t1", timers...)
	want := mustPending(t, before, "t1")
	if err := before.Close(); err != nil {
		t.Fatalf("Close() = %v, want nil", err)
	}

	after := open()
	got := checkPending(t, after, "t1", timers...)
	if !slices.EqualFunc(got, want, func(a, b incidents.Timer) bool { return a.ID == b.ID && keyOf(a) == keyOf(b) }) {
		t.Errorf("PendingTimers(t1) after a restart = %+v, want %+v", got, want)
	}
	var log fireLog
	n, err := after.FireDueTimers(ctxFor(t), wbase.Add(2*time.Hour), 10, log.fire)
	if got, want := log.firedKinds(), []string{"t1/sign", "t1/escalate"}; n != 2 || err != nil || !slices.Equal(got, want) {
		t.Errorf("FireDueTimers() after a restart = %d, %v, fired %v, want %v", n, err, got, want)
	}
}

// Racing shape: timers spread over tasks, fired by two stores at once in
// small batches; each firing updates its task, as escalations do.
const (
	raceTasks  = 20
	raceTimers = 200
	raceBatch  = 7
)

func testRacingFire(t *testing.T, open func() WorkflowStore) {
	nodes := []WorkflowStore{open(), open()}
	s := nodes[0]
	for i := range raceTasks {
		putTasks(t, s, taskAt(fmt.Sprintf("t%02d", i), "i", "water", incidents.TaskDispatched, wbase, wbase.Add(time.Hour)))
	}
	for i := range raceTasks {
		var ts []incidents.Timer
		for j := i; j < raceTimers; j += raceTasks {
			ts = append(ts, incidents.Timer{Kind: incidents.TimerEscalate, DueAt: wbase.Add(time.Duration(j) * time.Second), Attempt: j})
		}
		setTimers(t, s, fmt.Sprintf("t%02d", i), ts...)
	}
	fire := func(ctx context.Context, tx incidents.Tx, tm incidents.Timer) error {
		task, err := tx.Task(ctx, tm.TaskID)
		if err != nil {
			return err
		}
		prev := task.Version
		task.Version, task.Escalations = prev+1, task.Escalations+1
		if err := tx.PutTask(ctx, task, prev); err != nil {
			return err
		}
		return tx.Append(ctx, incidents.EventInput{Type: "task.escalated", Actor: "system", Data: tm})
	}

	now := wbase.Add(time.Hour)
	counts := make([]int, len(nodes))
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for n, node := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				fired, err := node.FireDueTimers(ctxFor(t), now, raceBatch, fire)
				counts[n] += fired
				if err != nil || fired == 0 {
					errs[n] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	for n, err := range errs {
		if err != nil {
			t.Errorf("node %d: FireDueTimers() = %v, want no error", n, err)
		}
	}
	if total := counts[0] + counts[1]; total != raceTimers {
		t.Errorf("FireDueTimers() on two nodes fired %d + %d = %d, want %d", counts[0], counts[1], total, raceTimers)
	}
	// A node that found nothing free while the other still fired its
	// last timers stopped early: anything left is fired now.
	if n, err := s.FireDueTimers(ctxFor(t), now, raceTimers, fire); err != nil || n != 0 {
		t.Errorf("FireDueTimers() after the race = %d, %v, want 0: every timer fired in the race", n, err)
	}

	times := map[int64]int{}
	for _, e := range mustReadAll(t, s) {
		var tm incidents.Timer
		if err := json.Unmarshal(e.Data, &tm); err != nil {
			t.Fatalf("event %d data %s = %v, want a timer", e.Seq, e.Data, err)
		}
		times[tm.ID]++
	}
	if len(times) != raceTimers {
		t.Errorf("events name %d timers, want %d", len(times), raceTimers)
	}
	for id, n := range times {
		if n != 1 {
			t.Errorf("timer %d fired %d times, want once", id, n)
		}
	}
	for i := range raceTasks {
		id := fmt.Sprintf("t%02d", i)
		task, err := nodes[1].GetTask(ctxFor(t), id)
		if want := raceTimers / raceTasks; err != nil || task.Escalations != want {
			t.Errorf("GetTask(%s) = escalations %d, %v, want %d", id, task.Escalations, err, want)
		}
	}
}

func testLease(t *testing.T, open func() WorkflowStore) {
	s := open()
	ctx := ctxFor(t)
	first, err := s.Lead(ctx, "detector")
	if err != nil {
		t.Fatalf("Lead(detector) = %v, want the lease", err)
	}

	type result struct {
		l   incidents.Lease
		err error
	}
	second := make(chan result, 1)
	go func() {
		l, err := s.Lead(ctx, "detector")
		second <- result{l, err}
	}()

	t.Run("another name is free", func(t *testing.T) {
		other, err := s.Lead(ctx, "other")
		if err != nil {
			t.Fatalf("Lead(other) while detector is held = %v, want the lease", err)
		}
		other.Release()
	})
	t.Run("a held name makes the next caller wait", func(t *testing.T) {
		select {
		case r := <-second:
			t.Fatalf("second Lead(detector) = %v, %v while the first holds it, want it to block", r.l, r.err)
		case <-time.After(300 * time.Millisecond):
		}
		short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		if l, err := s.Lead(short, "detector"); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Lead(detector) with a context ending = %v, %v, want context.DeadlineExceeded", l, err)
		}
	})
	var next incidents.Lease
	t.Run("release hands the lease on", func(t *testing.T) {
		first.Release()
		first.Release() // a second Release does nothing
		select {
		case r := <-second:
			if r.err != nil {
				t.Fatalf("second Lead(detector) after Release = %v, want the lease", r.err)
			}
			next = r.l
		case <-time.After(10 * time.Second):
			t.Fatal("second Lead(detector) still blocked 10s after Release")
		}
		select {
		case <-first.Lost():
			t.Errorf("first lease's Lost() is closed after Release, want it open: the lease was not lost")
		default:
		}
	})
	t.Run("closing the store loses the lease", func(t *testing.T) {
		if next == nil {
			t.Skip("no second lease")
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close() = %v, want nil", err)
		}
		select {
		case <-next.Lost():
		case <-time.After(10 * time.Second):
			t.Errorf("Lost() still open 10s after Close, want it closed")
		}
		next.Release() // after Close, does nothing
		if _, err := s.Lead(ctx, "detector"); incidents.ErrorCode(err) != incidents.CodeUnavailable {
			t.Errorf("Lead(detector) after Close = %v, want unavailable", err)
		}
	})
}
