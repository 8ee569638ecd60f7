// Package sqlstore is the SQL that Flare's two store adapters share, on
// database/sql: the reads of calls and events, the users, the command
// workflow (incidents, tasks, timers, the audit log) and the migrations'
// status. A Dialect holds what the two databases write differently:
// placeholders, times, list parameters, row locks, a string function and
// JSON columns.
//
// An adapter (incidents/sqlite, incidents/postgres) embeds a *Store and
// keeps what is its own: opening the database, its write transactions, the
// event append and the call batch insert (the measured hot paths), leases,
// wake-ups across processes and the translation of its driver's errors. It
// hands those to New in a Config.
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pressly/goose/v3"

	"flare/incidents"
	"flare/incidents/internal/eventwait"
)

// Querier runs statements: a pool or a transaction.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Tx is a write transaction an adapter begins. Rollback after Commit must be
// harmless: the shared code always defers it.
type Tx interface {
	Querier
	Commit() error
	Rollback() error
}

// Config is what an adapter gives New: its dialect, its connections and the
// operations that are its own.
type Config struct {
	Dialect *Dialect
	// Read runs the reads made outside a transaction.
	Read Querier
	// Begin begins a write transaction (of the workflow or the users),
	// waiting for the database's write lock where there is one. Its error
	// is already translated.
	Begin func(ctx context.Context) (Tx, error)
	// Append stores events in tx, just before it commits, with the next
	// seqs and the time at, and returns them as stored.
	Append func(ctx context.Context, tx Tx, events []Event, at time.Time) ([]incidents.Event, error)
	// Migrator returns a goose provider of the adapter's migrations, for
	// MigrateUp when up is true, and a function that releases it.
	Migrator func(up bool) (*goose.Provider, func(), error)
	// Translate turns the driver's errors into *incidents.Error values
	// where they mean something to the domain.
	Translate func(error) error
	// Wake is told of the adapter's commits; WaitEvents waits on it.
	Wake *Wakeups
	// Poll is how often WaitEvents reads the log in case it was not told
	// of a commit; Closed is closed when the store closes.
	Poll   time.Duration
	Closed <-chan struct{}
}

// Store implements the parts of incidents.Store, incidents.WorkflowStore
// and incidents.UserStore that both databases share. Its methods are safe
// for concurrent use.
type Store struct {
	c       Config
	d       *Dialect
	queries sync.Map // query text as written ($N) -> as the dialect wants it
}

// New returns a Store on the connections and operations of c.
func New(c Config) *Store {
	return &Store{c: c, d: c.Dialect}
}

// q returns query, written with $N placeholders, as the dialect writes it.
func (s *Store) q(query string) string {
	if s.d.Param == '$' {
		return query
	}
	if v, ok := s.queries.Load(query); ok {
		return v.(string)
	}
	out := strings.ReplaceAll(query, "$", string(s.d.Param))
	s.queries.Store(query, out)
	return out
}

// translate translates err with the adapter's Translate.
func (s *Store) translate(err error) error {
	if err == nil {
		return nil
	}
	return s.c.Translate(err)
}

// Wakeups tells waiters of commits: the highest seq committed that the
// store knows of, and a signal. Its zero value is ready to use.
type Wakeups struct {
	committed atomic.Int64
	signal    eventwait.Signal
}

// Committed records that events up to seq are committed and wakes the
// waiters.
func (w *Wakeups) Committed(seq int64) {
	for {
		cur := w.committed.Load()
		if seq <= cur || w.committed.CompareAndSwap(cur, seq) {
			break
		}
	}
	w.signal.Notify()
}

// Notify wakes the waiters so that they read the log.
func (w *Wakeups) Notify() { w.signal.Notify() }

// filter builds the WHERE clause and the arguments of a listing.
type filter struct {
	conds []string
	args  []any
}

// arg adds an argument and returns its placeholder.
func (f *filter) arg(v any) string {
	f.args = append(f.args, v)
	return "$" + strconv.Itoa(len(f.args))
}

// where adds a condition.
func (f *filter) where(cond string) { f.conds = append(f.conds, cond) }

// clause returns " WHERE ..." or "" when there is no condition.
func (f *filter) clause() string {
	if len(f.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(f.conds, " AND ")
}

// limit returns the LIMIT clause of a listing whose limit is n, 0 meaning
// none.
func (f *filter) limit(n int) string {
	if n == 0 {
		return ""
	}
	return " LIMIT " + f.arg(n)
}

// timeDest scans a time column of either encoding (Unix nanoseconds or a
// timestamp) into a UTC time.
type timeDest struct{ t *time.Time }

// Scan implements sql.Scanner.
func (d timeDest) Scan(src any) error {
	switch v := src.(type) {
	case int64:
		*d.t = time.Unix(0, v).UTC()
	case time.Time:
		*d.t = v.UTC()
	case nil:
		*d.t = time.Time{}
	default:
		return fmt.Errorf("time column holds %T", src)
	}
	return nil
}

// audienceDest scans an audience column (JSON) into an incidents.Audience.
type audienceDest struct{ a *incidents.Audience }

// Scan implements sql.Scanner.
func (d audienceDest) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case []byte:
		b = v
	case string:
		b = []byte(v)
	case nil:
		*d.a = incidents.Audience{}
		return nil
	default:
		return fmt.Errorf("audience column holds %T", src)
	}
	*d.a = incidents.Audience{}
	return json.Unmarshal(b, d.a)
}

// The times a store keeps: both stores refuse to compare with times outside
// [MinTime, MaxTime), which SQLite's Unix nanoseconds cannot all hold.
var (
	MinTime = incidents.MinTime
	MaxTime = incidents.MaxTime
)

// CheckTime returns an *incidents.Error with CodeInvalid naming field when t
// is set but outside [MinTime, MaxTime), and nil otherwise.
func CheckTime(field string, t time.Time) error {
	if t.IsZero() || incidents.TimeInRange(t) {
		return nil
	}
	return incidents.FieldError(incidents.CodeInvalid, field,
		"%s must be from %d to %d, got %s", field, MinTime.Year(), MaxTime.Year()-1, t.Format(time.RFC3339))
}

// Nanos returns t as Unix nanoseconds, clamped to the int64 range (years
// 1678 to 2262), so that a zero time sorts first rather than overflowing.
func Nanos(t time.Time) int64 {
	switch {
	case t.Before(minNanos):
		return math.MinInt64
	case t.After(maxNanos):
		return math.MaxInt64
	}
	return t.UnixNano()
}

var (
	minNanos = time.Unix(0, math.MinInt64)
	maxNanos = time.Unix(0, math.MaxInt64)
)

// checkLimit returns an invalid error on field "limit" when n is below 1.
func checkLimit(n int) error {
	if n < 1 {
		return incidents.FieldError(incidents.CodeInvalid, "limit", "limit must be at least 1, got %d", n)
	}
	return nil
}

// collect reads every row of rows with scan, translating the errors of the
// query and of the rows. It never returns a nil slice without an error.
func collect[T any](s *Store, rows *sql.Rows, err error, scan func(*sql.Rows) (T, error)) ([]T, error) {
	if err != nil {
		return nil, s.translate(err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, s.translate(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, s.translate(err)
	}
	return out, nil
}

// first returns the first error of errs that is not nil.
func first(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
