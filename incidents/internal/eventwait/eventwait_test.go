package eventwait

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestUntil(t *testing.T) {
	closedCh := make(chan struct{})
	close(closedCh)
	errStore := errors.New("store failed")
	tests := []struct {
		name    string
		closed  chan struct{}
		timeout time.Duration
		ready   func(n int64) (bool, error) // n counts the calls, from 1
		want    error
		minRuns int64
	}{
		{"ready at once returns nil", nil, time.Second, func(int64) (bool, error) { return true, nil }, nil, 1},
		{"ready on a later poll returns nil", nil, 5 * time.Second,
			func(n int64) (bool, error) { return n >= 3, nil }, nil, 3},
		{"store error is returned", nil, time.Second, func(int64) (bool, error) { return false, errStore }, errStore, 1},
		{"never ready returns the context error", nil, 50 * time.Millisecond,
			func(int64) (bool, error) { return false, nil }, context.DeadlineExceeded, 1},
		{"closed store returns ErrClosed", closedCh, time.Second,
			func(int64) (bool, error) { return false, errStore }, ErrClosed, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			var sig Signal
			var runs atomic.Int64
			err := Until(ctx, &sig, 5*time.Millisecond, tt.closed, func(context.Context) (bool, error) {
				return tt.ready(runs.Add(1))
			})
			if !errors.Is(err, tt.want) {
				t.Errorf("Until() = %v, want %v", err, tt.want)
			}
			if runs.Load() < tt.minRuns {
				t.Errorf("Until() checked %d times, want at least %d", runs.Load(), tt.minRuns)
			}
		})
	}
}

func TestSignalWakesAllWaiters(t *testing.T) {
	var sig Signal
	const waiters = 5
	var ready atomic.Bool
	done := make(chan error, waiters)
	for range waiters {
		go func() {
			done <- Until(context.Background(), &sig, time.Hour, nil, func(context.Context) (bool, error) {
				return ready.Load(), nil
			})
		}()
	}
	time.Sleep(20 * time.Millisecond)
	ready.Store(true)
	sig.Notify()
	for range waiters {
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Until() = %v after Notify, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Until() still waiting 5s after Notify (poll is an hour): Notify did not wake it")
		}
	}
}
