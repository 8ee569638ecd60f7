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
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/rs/zerolog"

	"flare/incidents"
	"flare/incidents/sqlstore"
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
	*shared // the SQL both stores share

	pool       *pgxpool.Pool
	db         *sql.DB // database/sql over pool, for the shared SQL
	listenConf *pgx.ConnConfig
	log        zerolog.Logger

	wake      sqlstore.Wakeups
	closed    chan struct{}
	stop      context.CancelFunc
	listening sync.WaitGroup
	closeOnce sync.Once

	leases leaseSet // of Lead
}

// shared is the embedded SQL layer, under a name that keeps the field
// unexported.
type shared = sqlstore.Store

var (
	_ incidents.Store         = (*Store)(nil)
	_ incidents.WorkflowStore = (*Store)(nil)
	_ incidents.UserStore     = (*Store)(nil)
)

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
		db:         stdlib.OpenDBFromPool(pool),
		listenConf: cfg.ConnConfig.Copy(),
		log:        opts.Logger,
		closed:     make(chan struct{}),
		stop:       stop,
	}
	s.shared = sqlstore.New(sqlstore.Config{
		Dialect:   sqlstore.Postgres,
		Read:      s.db,
		Begin:     s.beginWrite,
		Append:    s.appendEvents,
		Migrator:  s.migrator,
		Translate: translate,
		Wake:      &s.wake,
		Poll:      opts.PollInterval,
		Closed:    s.closed,
	})
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
		s.db.Close()
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
		s.wake.Notify()
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
	s.wake.Notify()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if seq, err := strconv.ParseInt(n.Payload, 10, 64); err == nil {
			s.wake.Committed(seq)
		} else {
			s.wake.Notify()
		}
	}
}

// migrator returns a goose provider for the Postgres migrations on a
// database/sql handle over the pool, with goose's Postgres session locker
// for MigrateUp (up), so that nodes starting together migrate one at a time,
// and a function that releases it. It is made afresh for each use, as a
// provider remembers a failed first contact.
func (s *Store) migrator(up bool) (*goose.Provider, func(), error) {
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	if up {
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
	return p, func() { db.Close() }, nil
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
