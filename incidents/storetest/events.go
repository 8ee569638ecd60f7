package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"flare/incidents"
)

func testEvents(t *testing.T, open func(t *testing.T) incidents.Store) {
	s := open(t)
	if last := mustLastSeq(t, s); last != 0 {
		t.Fatalf("LastSeq() = %d on an empty store, want 0", last)
	}
	if evs, err := s.ReadEvents(ctxFor(t), 0, 10); err != nil || len(evs) != 0 {
		t.Fatalf("ReadEvents(0, 10) = %v, %v on an empty store, want none", evs, err)
	}
	var created []incidents.Call
	for b, size := range []int{1, 3, 2} {
		batch := make([]incidents.NewCall, size)
		for i := range batch {
			batch[i] = newCall(fmt.Sprintf("b%d-c%d", b, i), base.Add(time.Duration(b*10+i)*time.Second))
			batch[i].Actor = fmt.Sprintf("agent-%d", i)
		}
		for _, r := range mustCreate(t, s, batch...) {
			created = append(created, r.Call)
		}
	}
	evs := mustReadAll(t, s)
	if len(evs) != len(created) {
		t.Fatalf("ReadEvents(all) = %d events, want %d", len(evs), len(created))
	}
	for i, e := range evs {
		want := created[i]
		if e.Seq != int64(i+1) || want.Seq != e.Seq {
			t.Errorf("event %d: Seq = %d (call %s has Seq %d), want %d for both", i, e.Seq, want.ID, want.Seq, i+1)
		}
		if e.Type != incidents.EventCallReceived {
			t.Errorf("event %d: Type = %q, want %q", e.Seq, e.Type, incidents.EventCallReceived)
		}
		if !e.At.Equal(want.RecordedAt) || e.At.Location() != time.UTC {
			t.Errorf("event %d: At = %v, want %v in UTC (the call's RecordedAt)", e.Seq, e.At, want.RecordedAt)
		}
		if e.Actor != want.Actor {
			t.Errorf("event %d: Actor = %q, want %q", e.Seq, e.Actor, want.Actor)
		}
		if d := diffCall(eventCall(t, e), want); d != "" {
			t.Errorf("event %d: Data differs from the stored call:%s", e.Seq, d)
		}
	}
	if last := mustLastSeq(t, s); last != int64(len(created)) {
		t.Errorf("LastSeq() = %d, want %d", last, len(created))
	}
}

func testReadEvents(t *testing.T, open func(t *testing.T) incidents.Store) {
	s := open(t)
	const total = 10
	for i := range total {
		mustCreate(t, s, newCall(fmt.Sprintf("c%02d", i), base.Add(time.Duration(i)*time.Minute)))
	}
	tests := []struct {
		name         string
		after        int64
		limit        int
		wantFirst    int64
		wantN        int
		wantErrField string
	}{
		{name: "first page", after: 0, limit: 3, wantFirst: 1, wantN: 3},
		{name: "middle page", after: 3, limit: 3, wantFirst: 4, wantN: 3},
		{name: "last partial page", after: 8, limit: 5, wantFirst: 9, wantN: 2},
		{name: "limit above the rest", after: 0, limit: 1000, wantFirst: 1, wantN: total},
		{name: "nothing after the last", after: total, limit: 5, wantN: 0},
		{name: "nothing far past the last", after: 1 << 40, limit: 5, wantN: 0},
		{name: "zero limit is invalid", after: 0, limit: 0, wantErrField: "limit"},
		{name: "negative limit is invalid", after: 0, limit: -1, wantErrField: "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := s.ReadEvents(ctxFor(t), tt.after, tt.limit)
			if tt.wantErrField != "" {
				if !errorIs(err, incidents.CodeInvalid, tt.wantErrField) {
					t.Errorf("ReadEvents(%d, %d) = %v, want an invalid %s error", tt.after, tt.limit, err, tt.wantErrField)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadEvents(%d, %d) = %v, want no error", tt.after, tt.limit, err)
			}
			if len(evs) != tt.wantN {
				t.Fatalf("ReadEvents(%d, %d) = %d events, want %d", tt.after, tt.limit, len(evs), tt.wantN)
			}
			for i, e := range evs {
				if want := tt.wantFirst + int64(i); e.Seq != want {
					t.Errorf("ReadEvents(%d, %d)[%d].Seq = %d, want %d", tt.after, tt.limit, i, e.Seq, want)
				}
			}
		})
	}
}

// waitResult runs WaitEvents in a goroutine and returns the channel of its
// result.
func waitResult(ctx context.Context, s incidents.Store, after int64) <-chan error {
	done := make(chan error, 1)
	go func() { done <- s.WaitEvents(ctx, after) }()
	return done
}

// awaitWait fails tb unless done yields a result within d, and returns it.
func awaitWait(tb testing.TB, done <-chan error, d time.Duration) error {
	tb.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		tb.Fatalf("WaitEvents did not return within %v", d)
		return nil
	}
}

func testWaitEvents(t *testing.T, open func(t *testing.T) incidents.Store) {
	t.Run("returns at once when a newer event exists", func(t *testing.T) {
		s := open(t)
		mustCreate(t, s, newCall("c1", base))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.WaitEvents(ctx, 0); err != nil {
			t.Errorf("WaitEvents(0) = %v with event 1 committed, want nil", err)
		}
	})

	t.Run("wakes when an event commits", func(t *testing.T) {
		s := open(t)
		mustCreate(t, s, newCall("c1", base))
		done := waitResult(ctxFor(t), s, 1)
		select {
		case err := <-done:
			t.Fatalf("WaitEvents(1) = %v before event 2 was committed, want it to block", err)
		case <-time.After(100 * time.Millisecond):
		}
		mustCreate(t, s, newCall("c2", base))
		if err := awaitWait(t, done, 10*time.Second); err != nil {
			t.Errorf("WaitEvents(1) = %v after event 2 committed, want nil", err)
		}
	})

	t.Run("no wake-up for events it has seen", func(t *testing.T) {
		s := open(t)
		mustCreate(t, s, newCall("c1", base), newCall("c2", base))
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		if err := s.WaitEvents(ctx, 2); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("WaitEvents(2) = %v with last seq 2, want context.DeadlineExceeded", err)
		}
	})

	t.Run("returns the context error when cancelled", func(t *testing.T) {
		s := open(t)
		ctx, cancel := context.WithCancel(context.Background())
		done := waitResult(ctx, s, 0)
		time.Sleep(50 * time.Millisecond)
		cancel()
		if err := awaitWait(t, done, 5*time.Second); !errors.Is(err, context.Canceled) {
			t.Errorf("WaitEvents(0) = %v after cancel, want context.Canceled", err)
		}
	})

	t.Run("returns the context error when already cancelled", func(t *testing.T) {
		s := open(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := s.WaitEvents(ctx, 0); !errors.Is(err, context.Canceled) {
			t.Errorf("WaitEvents(0) = %v with a cancelled context, want context.Canceled", err)
		}
	})
}
