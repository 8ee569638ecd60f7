package sqlite

import (
	"context"
	"sync"
)

// writeGate takes turns at the store's single writer and lets the calls go
// first: a call the call floor is waiting on never queues behind the
// incident tracker's or the supervision timers' transactions, only behind
// the one transaction that is running.
type writeGate struct {
	mu   sync.Mutex
	busy bool
	high []chan struct{} // waiting calls
	low  []chan struct{} // waiting workflow transactions
}

// acquire waits for the writer's turn; high goes before every waiting low.
// It returns ctx.Err() when ctx ends first, without the turn.
func (g *writeGate) acquire(ctx context.Context, high bool) error {
	g.mu.Lock()
	if !g.busy {
		g.busy = true
		g.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	if high {
		g.high = append(g.high, ch)
	} else {
		g.low = append(g.low, ch)
	}
	g.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		g.mu.Lock()
		if g.drop(ch) {
			g.mu.Unlock()
			return ctx.Err()
		}
		g.mu.Unlock()
		// The turn was handed over as ctx ended: pass it on.
		g.release()
		return ctx.Err()
	}
}

// drop removes a waiter that gave up and reports whether it was still
// waiting.
func (g *writeGate) drop(ch chan struct{}) bool {
	for _, q := range []*[]chan struct{}{&g.high, &g.low} {
		for i, c := range *q {
			if c == ch {
				*q = append((*q)[:i], (*q)[i+1:]...)
				return true
			}
		}
	}
	return false
}

// release ends a turn and hands the writer to the next waiter, calls first.
func (g *writeGate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	var next chan struct{}
	switch {
	case len(g.high) > 0:
		next, g.high = g.high[0], g.high[1:]
	case len(g.low) > 0:
		next, g.low = g.low[0], g.low[1:]
	default:
		g.busy = false
		return
	}
	close(next)
}
