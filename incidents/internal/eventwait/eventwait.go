// Package eventwait implements the waiting side of EventLog.WaitEvents for
// the store adapters: a signal that wakes every waiter when events commit,
// and a wait loop that re-checks the store on each wake-up and on a slow
// poll, so that commits it was not told about (another process) are seen
// too.
package eventwait

import (
	"context"
	"sync"
	"time"

	"flare/incidents"
)

// Signal wakes all waiters at once. Its zero value is ready to use. It is a
// generation channel: Changed returns the channel of the current generation,
// and Notify closes it and starts the next one.
type Signal struct {
	mu sync.Mutex
	ch chan struct{}
}

// Changed returns a channel that is closed by the next Notify. Take it before
// checking the state it guards, so that no change can slip in between.
func (s *Signal) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// Notify wakes every goroutine waiting on a channel from Changed.
func (s *Signal) Notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

// ErrClosed is returned by Until when the store closes while a
// caller waits.
var ErrClosed = incidents.Errorf(incidents.CodeUnavailable, "store closed")

// Until blocks until ready reports true, ctx is done or closed is closed.
// It calls ready at once, then after every wake-up of sig and at least every
// poll. It returns nil once ready, ctx.Err() when ctx is done, ErrClosed
// when closed is closed, or the error of ready.
func Until(ctx context.Context, sig *Signal, poll time.Duration, closed <-chan struct{}, ready func(context.Context) (bool, error)) error {
	timer := time.NewTimer(poll)
	defer timer.Stop()
	for {
		select {
		case <-closed:
			return ErrClosed
		default:
		}
		changed := sig.Changed()
		ok, err := ready(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-changed:
		case <-timer.C:
		case <-ctx.Done():
			return ctx.Err()
		case <-closed:
			return ErrClosed
		}
		timer.Reset(poll)
	}
}
