package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"flare/incidents"
	"flare/incidents/internal/eventwait"
)

// Leases are session advisory locks with two keys: leaseClass, then the
// hash of the lease's name.
const (
	leaseClass = 0x466c6172 // "Flar"
	leasePoll  = time.Second
	leasePing  = 2 * time.Second
)

// Lead blocks until this node holds the lease called name, or ctx ends.
//
// The lease is a session advisory lock of Postgres, taken on a connection of
// the pool that the lease keeps while it is held: of all the nodes (and
// callers on one node) asking for a name, one holds it at a time. A caller
// that does not get it asks again every second. The holder's connection is
// pinged every two seconds; when a ping fails, the session, and with it the
// lock, is gone or going: the lease closes the connection and its Lost
// channel, and from then on another node may take the lease, so the holder
// must stop at once. Closing the store also closes Lost.
//
// Lead returns ctx.Err() when ctx ends first, an error with code unavailable
// when the store is closed or the database cannot be reached, and the
// database's error when the lock cannot be asked for.
func (s *Store) Lead(ctx context.Context, name string) (incidents.Lease, error) {
	for {
		l, err := s.tryLead(ctx, name)
		if err != nil || l != nil {
			return l, err
		}
		t := time.NewTimer(leasePoll)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-s.closed:
			t.Stop()
			return nil, eventwait.ErrClosed
		}
	}
}

// tryLead takes the lease called name if it is free, and returns nil
// without an error when another session holds it.
func (s *Store) tryLead(ctx context.Context, name string) (*lease, error) {
	select {
	case <-s.closed:
		return nil, eventwait.ErrClosed
	default:
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, s.leadError(ctx, name, err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, hashtext($2))`, leaseClass, name).Scan(&ok); err != nil {
		// The lock may have been granted before the failure: end the
		// session rather than leave it in the pool holding the lock.
		discard(conn)
		return nil, s.leadError(ctx, name, err)
	}
	if !ok {
		conn.Release()
		return nil, nil
	}
	l := &lease{
		name: name,
		conn: conn,
		log:  s.log,
		lost: make(chan struct{}),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	if !s.leases.add(l) {
		l.giveBack()
		return nil, eventwait.ErrClosed
	}
	go l.watch(leasePing, s.leases.remove)
	return l, nil
}

// leadError returns the error of Lead for err, a failure to ask for the
// lease: ctx.Err() when ctx ended, the store's closed error when it closed
// meanwhile, else err translated.
func (s *Store) leadError(ctx context.Context, name string, err error) error {
	select {
	case <-s.closed:
		return eventwait.ErrClosed
	default:
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("lead %s: %w", name, translate(err))
}

// discard closes the connection of conn and gives its place in the pool
// back.
func discard(conn *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn.Conn().Close(ctx)
	conn.Release() // destroys a closed connection
}

// lease is a held lease: an advisory lock on conn, which watch owns until
// the lease ends.
type lease struct {
	name string
	conn *pgxpool.Conn
	log  zerolog.Logger

	lost     chan struct{} // closed when the lease is lost or the store closes
	stop     chan struct{} // closed to end the lease
	closing  bool          // set before stop is closed when the store closes
	stopOnce sync.Once
	done     chan struct{} // closed once the connection is given back
}

// Lost returns a channel that is closed when the lease is lost (its
// connection failed) or the store closes while it is held.
func (l *lease) Lost() <-chan struct{} { return l.lost }

// Release unlocks the lease and gives its connection back to the pool (or
// closes it, when the unlock fails). It returns once that is done. A second
// Release, or one after the lease was lost, does nothing.
func (l *lease) Release() { l.end(false) }

// end stops the lease and waits until its connection is given back;
// closing closes Lost too (the store is closing).
func (l *lease) end(closing bool) {
	l.stopOnce.Do(func() {
		l.closing = closing
		close(l.stop)
	})
	<-l.done
}

// watch pings the lease's connection every interval until the lease ends
// or the connection fails, then gives the connection back and calls ended.
func (l *lease) watch(interval time.Duration, ended func(*lease)) {
	defer close(l.done)
	defer ended(l)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			if l.closing {
				close(l.lost)
			}
			l.giveBack()
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), interval)
			err := l.conn.Ping(ctx)
			cancel()
			if err != nil {
				l.log.Warn().Err(err).Str("lease", l.name).Msg("lease connection failed; lease lost")
				close(l.lost)
				discard(l.conn)
				return
			}
		}
	}
}

// giveBack unlocks the lease and returns its connection to the pool, or
// closes the connection when the unlock fails, which ends its locks too.
func (l *lease) giveBack() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var ok bool
	err := l.conn.QueryRow(ctx, `SELECT pg_advisory_unlock($1, hashtext($2))`, leaseClass, l.name).Scan(&ok)
	if err != nil || !ok {
		discard(l.conn)
		return
	}
	l.conn.Release()
}

// leaseSet holds the leases of a Store, so that Close ends them. Its zero
// value is ready to use.
type leaseSet struct {
	mu       sync.Mutex
	held     map[*lease]bool
	closed   bool
	watchers sync.WaitGroup
}

// add records l, unless the set is closed; it reports whether it did.
func (ls *leaseSet) add(l *lease) bool {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.closed {
		return false
	}
	if ls.held == nil {
		ls.held = map[*lease]bool{}
	}
	ls.held[l] = true
	ls.watchers.Add(1)
	return true
}

// remove forgets l, whose watch ends.
func (ls *leaseSet) remove(l *lease) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	delete(ls.held, l)
	ls.watchers.Done()
}

// close refuses later leases, ends those held (closing their Lost
// channels) and waits until every connection is given back.
func (ls *leaseSet) close() {
	ls.mu.Lock()
	ls.closed = true
	held := make([]*lease, 0, len(ls.held))
	for l := range ls.held {
		held = append(held, l)
	}
	ls.mu.Unlock()
	for _, l := range held {
		l.end(true)
	}
	ls.watchers.Wait()
}
