package sqlite

import (
	"context"
	"sync"

	"flare/incidents"
	"flare/incidents/internal/eventwait"
)

// leaseTable holds the leases of a Store, by name. Its zero value is ready
// to use.
type leaseTable struct {
	mu     sync.Mutex
	held   map[string]*lease
	closed bool
}

// lease is one held lease of a Store.
type lease struct {
	table    *leaseTable
	name     string
	released chan struct{} // closed when the name is free again
	lost     chan struct{} // closed when the store closes
}

// Lost returns a channel that is closed when the store closes while the
// lease is held.
func (l *lease) Lost() <-chan struct{} { return l.lost }

// Release gives the lease up; the next Lead of the name may have it. A
// second Release does nothing.
func (l *lease) Release() {
	l.table.mu.Lock()
	defer l.table.mu.Unlock()
	l.free()
}

// free gives the name up if l still holds it; the caller holds table.mu.
func (l *lease) free() {
	if l.table.held[l.name] == l {
		delete(l.table.held, l.name)
		close(l.released)
	}
}

// take gives the lease called name to the caller when it is free. When it
// is held, it returns a channel closed when that holder gives it up. It
// returns an error with code unavailable when the table is closed.
func (t *leaseTable) take(name string) (*lease, <-chan struct{}, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, nil, eventwait.ErrClosed
	}
	if h, ok := t.held[name]; ok {
		return nil, h.released, nil
	}
	if t.held == nil {
		t.held = map[string]*lease{}
	}
	l := &lease{table: t, name: name, released: make(chan struct{}), lost: make(chan struct{})}
	t.held[name] = l
	return l, nil, nil
}

// close refuses every later take and ends the leases held, closing their
// Lost channels.
func (t *leaseTable) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	for _, l := range t.held {
		close(l.lost)
		l.free()
	}
}

// Lead blocks until this Store holds the lease called name, or ctx ends.
//
// The SQLite store is deployed as one process per file, so its leases live
// in that process: a Store grants each name to one holder at a time (a
// second Lead of the name, from any goroutine, waits for Release), but two
// Stores opened on the same file, in one process or two, do not see each
// other's leases. A lease is lost only when the Store closes, which closes
// its Lost channel.
//
// Lead returns ctx.Err() when ctx ends first, and an error with code
// unavailable when the store is closed.
func (s *Store) Lead(ctx context.Context, name string) (incidents.Lease, error) {
	for {
		l, wait, err := s.leases.take(name)
		if err != nil {
			return nil, err
		}
		if l != nil {
			return l, nil
		}
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.closed:
			return nil, eventwait.ErrClosed
		}
	}
}
