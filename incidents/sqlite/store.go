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
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"flare/incidents"
	"flare/incidents/sqlstore"
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
	*shared // the SQL both stores share

	path   string     // absolute
	writer *sql.DB    // one connection: writes are serialised
	reader *sql.DB    // read-only connections
	wst    *stmtCache // the writer's prepared statements
	rdb    dbq        // reader, with its prepared statements
	busy   time.Duration
	// pragmas are those of every connection, but busy_timeout.
	pragmas []string

	wake      sqlstore.Wakeups
	closed    chan struct{}
	closeOnce sync.Once

	leases leaseTable // of Lead
	gate   writeGate  // turns at the writer: calls before workflow transactions
}

var _ incidents.Store = (*Store)(nil)
var _ incidents.WorkflowStore = (*Store)(nil)
var _ incidents.UserStore = (*Store)(nil)

// shared is sqlstore.Store by a name that keeps the embedded field
// unexported.
type shared = sqlstore.Store

// Open opens (creating it if needed) the SQLite database file at path, in
// WAL mode with synchronous=FULL, a busy timeout and foreign keys on.
//
// The schema is left as it is: MigrateUp brings it up to date, and Ready
// tells whether that is needed. Open returns an error when the file cannot
// be opened or WAL mode cannot be set.
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
	if err := createPrivate(abs); err != nil {
		return nil, fmt.Errorf("open sqlite store: %w", err)
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
	s := &Store{
		path:    abs,
		writer:  writer,
		reader:  reader,
		wst:     newStmtCache(writer),
		rdb:     dbq{DB: reader, c: newStmtCache(reader)},
		busy:    opts.BusyTimeout,
		pragmas: pragmas,
		closed:  make(chan struct{}),
	}
	s.shared = sqlstore.New(sqlstore.Config{
		Dialect:   sqlstore.SQLite,
		Read:      s.rdb,
		Begin:     s.beginWrite,
		Append:    s.appendEvents,
		Migrator:  s.migrator,
		Translate: translate,
		Wake:      &s.wake,
		Poll:      opts.PollInterval,
		Closed:    s.closed,
	})
	return s, nil
}

// createPrivate creates the database file at path, readable by its owner
// only, when it does not exist, and takes the permissions of others away
// from an existing one and its write-ahead log and shared-memory index. The
// file holds phone numbers and password hashes; SQLite gives the files it
// creates beside it (-wal, -shm) the mode of the database file.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, fi.Mode().Perm()&0o700); err != nil {
				return err
			}
		}
	}
	return nil
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

// migrator returns a goose provider for the SQLite migrations and a
// function that releases it. For MigrateUp (up), the provider runs on a
// connection of its own that waits up to the busy timeout for the write
// lock; otherwise it reads through the readers. It is made afresh for each
// use, as a provider remembers a failed first contact.
func (s *Store) migrator(up bool) (*goose.Provider, func(), error) {
	db, done := s.reader, func() {}
	if up {
		var err error
		db, err = sql.Open("sqlite", dsn(s.path, append(s.pragmas, busyPragma(s.busy)), "_txlock", "immediate"))
		if err != nil {
			return nil, nil, err
		}
		db.SetMaxOpenConns(1)
		done = func() { db.Close() }
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, migrations.SQLite, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		done()
		return nil, nil, err
	}
	return p, done, nil
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
