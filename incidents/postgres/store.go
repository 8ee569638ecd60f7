// Package postgres implements incidents.Store on PostgreSQL through a pgx
// connection pool: Flare's scale-out mode, where several hub nodes share one
// system of record.
//
// Event seqs come from the single row of event_counter, incremented as late
// as possible in each writing transaction. Its row lock is held until commit,
// so the next writer allocates only after the previous one is visible: seqs
// are gap-free (a rolled-back transaction gives its numbers back) and their
// order is the commit-visibility order, across any number of processes. Each
// writing transaction sends pg_notify on channel flare_events; a dedicated
// LISTEN connection per Store wakes WaitEvents callers, with a slow poll as
// a fallback.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/rs/zerolog"

	"flare/incidents"
	"flare/incidents/internal/eventwait"
	"flare/migrations"
)

// notifyChannel is the LISTEN/NOTIFY channel on which each writing
// transaction announces its last seq.
const notifyChannel = "flare_events"

// Options tunes Open. The zero value is ready to use.
type Options struct {
	// MaxConns caps the connection pool (default: pgxpool's, the larger of
	// 4 and the number of CPUs). The LISTEN connection comes on top.
	MaxConns int32
	// PollInterval is how often WaitEvents re-reads the log in case a
	// notification was lost (default 1s).
	PollInterval time.Duration
	// Logger receives the event listener's connection problems (default:
	// no logging).
	Logger zerolog.Logger
}

// Store is an incidents.Store on a PostgreSQL database. It is safe for
// concurrent use.
type Store struct {
	pool       *pgxpool.Pool
	listenConf *pgx.ConnConfig
	poll       time.Duration
	log        zerolog.Logger

	notified  atomic.Int64 // highest seq known to be committed
	signal    eventwait.Signal
	closed    chan struct{}
	stop      context.CancelFunc
	listening sync.WaitGroup
	closeOnce sync.Once

	leases leaseSet // of Lead
}

var _ incidents.Store = (*Store)(nil)

// Open connects to the database at url (a postgres:// URL or key=value
// string that pgx accepts), checks that it answers, and starts the event
// listener.
//
// Open does not migrate the schema: call MigrateUp before using the store
// (Ready reports whether migrations are pending). It returns an error with
// code invalid for a malformed url and code unavailable when the database
// cannot be reached.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w: %w",
			incidents.Errorf(incidents.CodeInvalid, "malformed database url"), err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	// Plan every statement with the table sizes of the moment: a cached
	// generic plan made while a table was small (a fresh database, before
	// autovacuum's first ANALYZE) would keep scanning it whole as it grows.
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", translate(err))
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres store: %w", unreachable(err))
	}
	listenCtx, stop := context.WithCancel(context.Background())
	s := &Store{
		pool:       pool,
		listenConf: cfg.ConnConfig.Copy(),
		poll:       opts.PollInterval,
		log:        opts.Logger,
		closed:     make(chan struct{}),
		stop:       stop,
	}
	s.listening.Add(1)
	go s.listen(listenCtx)
	return s, nil
}

// Close stops the event listener, wakes every WaitEvents caller (which then
// returns an error), ends the leases held (closing their Lost channels) and
// closes the pool, waiting for connections in use to be released. Calls
// made after Close fail. It always returns nil.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.stop()
		s.listening.Wait()
		s.leases.close()
		s.pool.Close()
	})
	return nil
}

// listen keeps a LISTEN connection open until ctx ends, reconnecting with
// backoff when it fails.
func (s *Store) listen(ctx context.Context) {
	defer s.listening.Done()
	const minBackoff, maxBackoff = 100 * time.Millisecond, 5 * time.Second
	backoff := minBackoff
	for {
		err := s.listenOnce(ctx, func() { backoff = minBackoff })
		if ctx.Err() != nil {
			return
		}
		// Notifications may have been lost: let waiters read the log.
		s.signal.Notify()
		s.log.Warn().Err(err).Dur("retry_in", backoff).Msg("postgres event listener disconnected")
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// listenOnce connects, listens on notifyChannel and relays notifications
// until the connection fails or ctx ends. It calls connected once listening.
func (s *Store) listenOnce(ctx context.Context, connected func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.listenConf.Copy())
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return err
	}
	connected()
	// Commits made before LISTEN took effect were not announced: let
	// waiters read the log once.
	s.signal.Notify()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if seq, err := strconv.ParseInt(n.Payload, 10, 64); err == nil {
			s.noteCommitted(seq)
		} else {
			s.signal.Notify()
		}
	}
}

// noteCommitted records that events up to seq are committed and wakes the
// waiters.
func (s *Store) noteCommitted(seq int64) {
	for {
		cur := s.notified.Load()
		if seq <= cur || s.notified.CompareAndSwap(cur, seq) {
			break
		}
	}
	s.signal.Notify()
}

// migrator returns a goose provider for the Postgres migrations on a
// database/sql handle over the pool, with goose's Postgres session locker
// when locked, so that nodes starting together migrate one at a time. It is
// made afresh for each use, as a provider remembers a failed first contact.
// Close the returned *sql.DB after use (the pool stays open).
func (s *Store) migrator(locked bool) (*goose.Provider, *sql.DB, error) {
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	if locked {
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	db := stdlib.OpenDBFromPool(s.pool)
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.Postgres, opts...)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return p, db, nil
}

// MigrateUp applies every pending migration, each in its own transaction,
// holding a Postgres advisory lock so that concurrent callers (several nodes
// starting at once) take turns; the later ones find nothing left to do. It
// returns an error when the lock cannot be had, a migration fails (the
// schema is then at the last one that succeeded) or ctx ends.
func (s *Store) MigrateUp(ctx context.Context) error {
	p, db, err := s.migrator(true)
	if err != nil {
		return fmt.Errorf("migrate up: %w", err)
	}
	defer db.Close()
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate up: %w", translate(err))
	}
	return nil
}

// MigrationStatus lists every migration known to this binary, in version
// order, with whether and when it was applied. It only reads and takes no
// lock: on a database never migrated it lists them all as pending. It
// returns an error when the database cannot be read.
func (s *Store) MigrationStatus(ctx context.Context) ([]incidents.Migration, error) {
	var tracked bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, goose.DefaultTablename).Scan(&tracked); err != nil {
		return nil, fmt.Errorf("migration status: %w", translate(err))
	}
	p, db, err := s.migrator(false)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	defer db.Close()
	if !tracked {
		var out []incidents.Migration
		for _, src := range p.ListSources() {
			out = append(out, incidents.Migration{Version: src.Version, Name: path.Base(src.Path)})
		}
		return out, nil
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", translate(err))
	}
	out := make([]incidents.Migration, 0, len(st))
	for _, m := range st {
		mig := incidents.Migration{
			Version: m.Source.Version,
			Name:    path.Base(m.Source.Path),
			Applied: m.State == goose.StateApplied,
		}
		if mig.Applied {
			mig.AppliedAt = m.AppliedAt.UTC()
		}
		out = append(out, mig)
	}
	return out, nil
}

// Ready reports whether the store can serve: the database answers and no
// migration is pending. Its error (code unavailable) says which migrations
// are pending, or why the database cannot be read.
func (s *Store) Ready(ctx context.Context) error {
	ms, err := s.MigrationStatus(ctx)
	if err != nil {
		if incidents.ErrorCode(err) != incidents.CodeUnavailable {
			err = fmt.Errorf("%w: %w", incidents.Errorf(incidents.CodeUnavailable, "database unreadable"), err)
		}
		return fmt.Errorf("postgres store not ready: %w", err)
	}
	var pending []string
	for _, m := range ms {
		if !m.Applied {
			pending = append(pending, m.Name)
		}
	}
	if len(pending) > 0 {
		return fmt.Errorf("postgres store not ready: %w", incidents.Errorf(incidents.CodeUnavailable,
			"%d migration(s) pending: %s (run `flare migrate up`)", len(pending), strings.Join(pending, ", ")))
	}
	return nil
}

// isUniqueViolation reports whether err is Postgres' unique_violation.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// translate turns driver errors that mean something to the domain into
// *incidents.Error values (keeping the cause in the chain) and returns the
// other errors as they are.
func translate(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "23505":
			return fmt.Errorf("%w: %w", incidents.Errorf(incidents.CodeConflict, "record already exists"), err)
		case pgErr.Code == "40001", pgErr.Code == "40P01":
			return fmt.Errorf("%w: %w", incidents.Errorf(incidents.CodeUnavailable, "transaction aborted, try again"), err)
		case strings.HasPrefix(pgErr.Code, "08"), strings.HasPrefix(pgErr.Code, "57P"), pgErr.Code == "53300":
			return unreachable(err)
		}
		return err
	}
	var (
		connectErr *pgconn.ConnectError
		netErr     net.Error
	)
	if errors.As(err, &connectErr) || errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return unreachable(err)
	}
	return err
}

// unreachable wraps err, a failure to reach the database, with code
// unavailable.
func unreachable(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w: %w", incidents.Errorf(incidents.CodeUnavailable, "database unreachable"), err)
}
