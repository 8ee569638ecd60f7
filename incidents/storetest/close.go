package storetest

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"flare/incidents"
	"flare/incidents/internal/eventwait"
)

func testCloseEndsWaits(t *testing.T, open func(t *testing.T) incidents.Store) {
	before := runtime.NumGoroutine()
	s := open(t)
	done := make(chan error, 1)
	go func() { done <- s.WaitEvents(context.Background(), 0) }()
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v, want nil", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, eventwait.ErrClosed) || incidents.ErrorCode(err) != incidents.CodeUnavailable {
			t.Errorf("WaitEvents() after Close = %v, want the unavailable store-closed error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitEvents() did not return after Close")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
	WaitGoroutines(t, before)
}

// WaitGoroutines fails tb unless the number of goroutines falls back to n
// within a few seconds (a store's goroutines end after Close).
func WaitGoroutines(tb testing.TB, n int) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			tb.Fatalf("runtime.NumGoroutine() = %d after Close, want %d:\n%s",
				runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
