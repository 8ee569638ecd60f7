// Package sqlite implements incidents.Store on an embedded SQLite database
// (modernc.org/sqlite, pure Go, no cgo): Flare's single-node default.
//
// The store is one file in WAL mode with synchronous=FULL, so every commit
// is durable when CreateCalls returns. Writes go through a single connection
// and are serialised; reads use a pool of read-only connections. Event seqs
// are allocated as the previous maximum plus one inside the write
// transaction, which SQLite serialises across processes too, so they are
// gap-free and in commit order.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pressly/goose/v3"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"flare/incidents"
	"flare/incidents/internal/eventwait"
	"flare/migrations"
)

// Options tunes Open. The zero value is ready to use.
type Options struct {
	// BusyTimeout is how long a write waits for the lock another process
	// holds on the file, and a read for a lock during recovery, before it
	// fails (default 5s). SQLite does not queue writers: a process that
	// writes without pause can make another wait this long.
	BusyTimeout time.Duration
	// Readers is the number of read-only connections (default 4).
	Readers int
	// PollInterval is how often WaitEvents re-reads the file to see commits
	// made by another process (default 1s). Commits of this process wake
	// waiters at once.
	PollInterval time.Duration
}

// Store is an incidents.Store on one SQLite file. It is safe for concurrent
// use.
type Store struct {
	path   string     // absolute
	writer *sql.DB    // one connection: writes are serialised
	reader *sql.DB    // read-only connections
	wst    *stmtCache // the writer's prepared statements
	rdb    dbq        // reader, with its prepared statements
	poll   time.Duration
	busy   time.Duration
	// pragmas are those of every connection, but busy_timeout.
	pragmas []string

	committed atomic.Int64 // highest seq committed by this Store
	signal    eventwait.Signal
	closed    chan struct{}
	closeOnce sync.Once

	leases leaseTable // of Lead
	gate   writeGate  // turns at the writer: calls before workflow transactions
}

var _ incidents.Store = (*Store)(nil)

// Open opens (creating it if needed) the SQLite database file at path, in
// WAL mode with synchronous=FULL, a busy timeout and foreign keys on.
//
// Open does not migrate the schema: call MigrateUp before using the store
// (Ready reports whether migrations are pending). It returns an error when
// the file cannot be opened or WAL mode cannot be set.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, fmt.Errorf("open sqlite store: %w", incidents.Errorf(incidents.CodeInvalid, "empty database path"))
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 5 * time.Second
	}
	if opts.Readers <= 0 {
		opts.Readers = 4
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	// temp_store(MEMORY): a multi-row INSERT keeps a statement journal
	// (to undo itself alone should a row break a constraint), which is
	// otherwise a temporary file written with a system call per page; it
	// cost a fifth of each commit.
	pragmas := []string{"synchronous(FULL)", "foreign_keys(1)", "temp_store(MEMORY)"}
	// The writer does not sleep in SQLite's busy handler, whose waits grow
	// to 100ms and let a busy writer in another process starve it:
	// CreateCalls retries a busy transaction itself, at a finer pace.
	writer, err := sql.Open("sqlite", dsn(abs, append(pragmas, "busy_timeout(0)", "journal_mode(WAL)"),
		"_txlock", "immediate"))
	if err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxIdleTime(0)
	writer.SetConnMaxLifetime(0)
	var mode string
	if err := writer.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		writer.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", abs, err)
	}
	if !strings.EqualFold(mode, "wal") {
		writer.Close()
		return nil, fmt.Errorf("open sqlite store %s: journal mode is %q, want wal", abs, mode)
	}
	reader, err := sql.Open("sqlite", dsn(abs, append(pragmas, busyPragma(opts.BusyTimeout)), "_query_only", "1"))
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("open sqlite store: %w", err)
	}
	reader.SetMaxOpenConns(opts.Readers)
	reader.SetMaxIdleConns(opts.Readers)
	if err := reader.PingContext(ctx); err != nil {
		writer.Close()
		reader.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", abs, err)
	}
	return &Store{
		path:    abs,
		writer:  writer,
		reader:  reader,
		wst:     newStmtCache(writer),
		rdb:     dbq{DB: reader, c: newStmtCache(reader)},
		poll:    opts.PollInterval,
		busy:    opts.BusyTimeout,
		pragmas: pragmas,
		closed:  make(chan struct{}),
	}, nil
}

// busyPragma returns the busy_timeout pragma for d.
func busyPragma(d time.Duration) string {
	return fmt.Sprintf("busy_timeout(%d)", d.Milliseconds())
}

// dsn returns the driver's name for the file at abs with the given pragmas
// and one more driver parameter.
func dsn(abs string, pragmas []string, key, value string) string {
	q := url.Values{}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	q.Set(key, value)
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}
	return u.String()
}

// Close wakes every WaitEvents caller (which then returns an error), ends
// the leases held (closing their Lost channels) and closes the database.
// Calls made after Close fail. Close returns the error of closing the
// connections, if any.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closed)
		s.leases.close()
		s.wst.close()
		s.rdb.c.close()
		err = errors.Join(s.reader.Close(), s.writer.Close())
	})
	return err
}

// provider returns a goose provider for the SQLite migrations on db. It is
// made afresh for each use, as it remembers a failed first contact.
func provider(db *sql.DB) (*goose.Provider, error) {
	return goose.NewProvider(goose.DialectSQLite3, db, migrations.SQLite, goose.WithDisableGlobalRegistry(true))
}

// MigrateUp applies every pending migration, each in its own transaction, on
// a connection of its own that waits up to the busy timeout for the write
// lock. It returns the first migration's error, after which the schema is at
// the last migration that succeeded.
func (s *Store) MigrateUp(ctx context.Context) error {
	db, err := sql.Open("sqlite", dsn(s.path, append(s.pragmas, busyPragma(s.busy)), "_txlock", "immediate"))
	if err != nil {
		return fmt.Errorf("migrate up: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	p, err := provider(db)
	if err != nil {
		return fmt.Errorf("migrate up: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate up: %w", translate(err))
	}
	return nil
}

// MigrationStatus lists every migration known to this binary, in version
// order, with whether and when it was applied. It only reads: on a database
// never migrated, it lists them all as pending. It returns an error when the
// database cannot be read.
func (s *Store) MigrationStatus(ctx context.Context) ([]incidents.Migration, error) {
	var tracked bool
	err := s.rdb.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?)`,
		goose.DefaultTablename).Scan(&tracked)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", translate(err))
	}
	p, err := provider(s.reader)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	if !tracked {
		var out []incidents.Migration
		for _, src := range p.ListSources() {
			out = append(out, incidents.Migration{Version: src.Version, Name: filepath.Base(src.Path)})
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
			Name:    filepath.Base(m.Source.Path),
			Applied: m.State == goose.StateApplied,
		}
		if mig.Applied {
			mig.AppliedAt = m.AppliedAt.UTC()
		}
		out = append(out, mig)
	}
	return out, nil
}

// Ready reports whether the store can serve: the file is readable and no
// migration is pending. Its error (code unavailable) says which migrations
// are pending, or why the file cannot be read.
func (s *Store) Ready(ctx context.Context) error {
	ms, err := s.MigrationStatus(ctx)
	if err != nil {
		return fmt.Errorf("sqlite store not ready: %w: %w",
			incidents.Errorf(incidents.CodeUnavailable, "database unreadable"), err)
	}
	if err := pendingError(ms); err != nil {
		return fmt.Errorf("sqlite store not ready: %w", err)
	}
	return nil
}

// pendingError returns an unavailable error naming the pending migrations
// of ms, or nil when there is none.
func pendingError(ms []incidents.Migration) error {
	var pending []string
	for _, m := range ms {
		if !m.Applied {
			pending = append(pending, m.Name)
		}
	}
	if len(pending) == 0 {
		return nil
	}
	return incidents.Errorf(incidents.CodeUnavailable,
		"%d migration(s) pending: %s (run `flare migrate up`)", len(pending), strings.Join(pending, ", "))
}

// translate turns SQLite errors that mean something to the domain into
// *incidents.Error values (keeping the cause in the chain) and returns the
// other errors as they are.
func translate(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return fmt.Errorf("%w: %w", incidents.Errorf(incidents.CodeConflict, "record already exists"), err)
	}
	if isBusy(err) {
		return fmt.Errorf("%w: %w", incidents.Errorf(incidents.CodeUnavailable, "database busy"), err)
	}
	return err
}

// isBusy reports whether err is SQLite's SQLITE_BUSY or SQLITE_LOCKED, of
// any extended kind: the lock was not free.
func isBusy(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return true
	}
	return false
}
