package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"flare/incidents"
	"flare/incidents/internal/workflowstore"
)

// The workflow part of the store: incidents, tasks and supervision timers,
// kept whole as JSON with the columns that queries use beside them, and
// written through the single writer connection, so that every Update and
// every timer firing is one serialised transaction.

var _ incidents.WorkflowStore = (*Store)(nil)

// querier is what reads need of a transaction or a pool.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// nanos returns t as Unix nanoseconds for a column that is sorted or
// compared, clamped to the int64 range (years 1678 to 2262), so that a zero
// time sorts first rather than overflowing.
func nanos(t time.Time) int64 {
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

// beginWrite begins a write transaction on the writer (BEGIN IMMEDIATE,
// which takes the write lock), trying again while another process holds the
// lock, up to the busy timeout. It returns an error with code unavailable
// when the lock stays taken, ctx.Err() when ctx ends, and the database's
// error otherwise.
func (s *Store) beginWrite(ctx context.Context) (txq, error) {
	deadline := time.Now().Add(s.busy)
	for {
		tx, err := s.writer.BeginTx(ctx, nil)
		if err == nil {
			return txq{Tx: tx, c: s.wst}, nil
		}
		if ctx.Err() != nil {
			return txq{}, ctx.Err()
		}
		if !isBusy(err) || time.Now().After(deadline) {
			return txq{}, translate(err)
		}
		if err := pause(ctx); err != nil {
			return txq{}, err
		}
	}
}

// pause waits a little before a write is tried again, or until ctx ends
// (ctx.Err()).
func pause(ctx context.Context) error {
	t := time.NewTimer(busyPause + rand.N(busyPause))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Update runs fn in one write transaction, as incidents.WorkflowStore
// documents. fn's Tx reads and writes through the transaction, so it sees
// its own writes; the transactions of this Store run one at a time, and
// those of other processes on the file wait for the write lock. The events
// fn appends are stored at commit with the next seqs (the previous maximum
// plus one, under the write lock), the time of the commit and their origin;
// WaitEvents callers are then woken.
//
// When fn returns an error, the transaction is rolled back and Update
// returns that error as it is. Otherwise it returns an error with code
// unavailable when another process keeps the file locked past the busy
// timeout, ctx.Err() when ctx ends, and the database's error when the commit
// fails; nothing is stored then.
func (s *Store) Update(ctx context.Context, fn func(ctx context.Context, tx incidents.Tx) error) ([]incidents.Event, error) {
	if err := s.gate.acquire(ctx, false); err != nil {
		return nil, fmt.Errorf("update: %w", err)
	}
	defer s.gate.release()
	tx, err := s.beginWrite(ctx)
	if err != nil {
		return nil, fmt.Errorf("update: %w", err)
	}
	defer tx.Rollback() // after Commit, a no-op
	w := &workTx{tx: tx}
	if err := fn(ctx, w); err != nil {
		return nil, err
	}
	evs, err := s.commitWork(ctx, w)
	if err != nil {
		return nil, fmt.Errorf("update: %w", translate(err))
	}
	return evs, nil
}

// commitWork stores w's events with their seqs, commits, wakes the waiters
// and returns the events as stored.
func (s *Store) commitWork(ctx context.Context, w *workTx) ([]incidents.Event, error) {
	evs := make([]incidents.Event, len(w.events))
	if len(w.events) > 0 {
		var last int64
		if err := w.tx.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM events`).Scan(&last); err != nil {
			return nil, err
		}
		insert, err := w.tx.stmt(ctx,
			`INSERT INTO events (seq, type, at, actor, data, origin) VALUES (?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return nil, err
		}
		defer insert.Close()
		at := time.Now().UTC().Truncate(time.Microsecond)
		for i, e := range w.events {
			seq := last + 1 + int64(i)
			if _, err := insert.ExecContext(ctx, seq, e.Type, at.UnixNano(), e.Actor, string(e.Data), e.Origin); err != nil {
				return nil, err
			}
			evs[i] = incidents.Event{Seq: seq, Type: e.Type, At: at, Actor: e.Actor, Data: json.RawMessage(e.Data)}
		}
	}
	if err := w.tx.Commit(); err != nil {
		return nil, err
	}
	if len(evs) > 0 {
		s.noteCommitted(evs[len(evs)-1].Seq)
	}
	return evs, nil
}

// FireDueTimers fires up to limit timers due at or before now, soonest
// first, each in its own write transaction: the timer is marked fired, then
// fire runs in the same transaction (and may replace the task's other
// timers), then its events are stored and the transaction commits. The
// write lock makes each timer fire once, also when several processes share
// the file. It returns how many fired.
//
// When fire returns an error, that timer's transaction is rolled back (the
// timer stays due) and FireDueTimers stops, returning the error wrapped with
// the timer's id. It also returns an error with code invalid when limit is
// below 1, one with code unavailable when another process keeps the file
// locked past the busy timeout, ctx.Err() when ctx ends, and the database's
// error when a transaction fails.
func (s *Store) FireDueTimers(ctx context.Context, now time.Time, limit int, fire func(ctx context.Context, tx incidents.Tx, t incidents.Timer) error) (int, error) {
	if limit < 1 {
		return 0, fmt.Errorf("fire due timers: %w",
			incidents.FieldError(incidents.CodeInvalid, "limit", "limit must be at least 1, got %d", limit))
	}
	// Most calls find nothing due: look without taking the write lock.
	var due bool
	if err := s.rdb.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM timers
		WHERE fired_at IS NULL AND due_at <= ?)`, nanos(now)).Scan(&due); err != nil {
		return 0, fmt.Errorf("fire due timers: %w", translate(err))
	}
	fired := 0
	for due && fired < limit {
		ok, err := s.fireNext(ctx, now, fire)
		if err != nil {
			return fired, err
		}
		if !ok {
			break
		}
		fired++
	}
	return fired, nil
}

// fireNext fires the soonest due timer, if any, and reports whether there
// was one.
func (s *Store) fireNext(ctx context.Context, now time.Time, fire func(ctx context.Context, tx incidents.Tx, t incidents.Timer) error) (bool, error) {
	if err := s.gate.acquire(ctx, false); err != nil {
		return false, fmt.Errorf("fire due timers: %w", err)
	}
	defer s.gate.release()
	tx, err := s.beginWrite(ctx)
	if err != nil {
		return false, fmt.Errorf("fire due timers: %w", err)
	}
	defer tx.Rollback() // after Commit, a no-op
	// Marked fired first: a SetTimers of fire leaves it alone.
	t, err := scanTimer(tx.QueryRowContext(ctx, `UPDATE timers SET fired_at = ?1
		WHERE id = (SELECT id FROM timers WHERE fired_at IS NULL AND due_at <= ?1 ORDER BY due_at, id LIMIT 1)
		RETURNING `+timerColumns, nanos(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("fire due timers: %w", translate(err))
	}
	w := &workTx{tx: tx}
	if err := fire(ctx, w, t); err != nil {
		return false, fmt.Errorf("fire timer %d (%s of task %s): %w", t.ID, t.Kind, t.TaskID, err)
	}
	if _, err := s.commitWork(ctx, w); err != nil {
		return false, fmt.Errorf("fire timer %d: %w", t.ID, translate(err))
	}
	return true, nil
}

// timerColumns are the columns scanTimer reads, in its order.
const timerColumns = `id, task_id, kind, due_at, attempt`

// scanTimer reads one row of timerColumns.
func scanTimer(row interface{ Scan(...any) error }) (incidents.Timer, error) {
	var (
		t   incidents.Timer
		due int64
	)
	err := row.Scan(&t.ID, &t.TaskID, &t.Kind, &due, &t.Attempt)
	t.DueAt = fromNanos(due)
	return t, err
}

// GetIncident returns the incident with the given id. It returns an error
// with code not_found when there is none, and the database's error when the
// query fails.
func (s *Store) GetIncident(ctx context.Context, id string) (incidents.Incident, error) {
	return getDoc[incidents.Incident](ctx, s.rdb, `SELECT doc FROM incidents WHERE id = ?`, workflowstore.KindIncident, id)
}

// GetTask returns the task with the given id. It returns an error with code
// not_found when there is none, and the database's error when the query
// fails.
func (s *Store) GetTask(ctx context.Context, id string) (incidents.Task, error) {
	return getDoc[incidents.Task](ctx, s.rdb, `SELECT doc FROM tasks WHERE id = ?`, workflowstore.KindTask, id)
}

// getDoc reads the JSON document that query selects for the record kind id
// and decodes it.
func getDoc[T any](ctx context.Context, q querier, query, kind, id string) (T, error) {
	var (
		v   T
		doc []byte
	)
	err := q.QueryRowContext(ctx, query, id).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return v, workflowstore.NotFound(kind, id)
	}
	if err != nil {
		return v, fmt.Errorf("get %s %s: %w", kind, id, translate(err))
	}
	if err := json.Unmarshal(doc, &v); err != nil {
		return v, fmt.Errorf("get %s %s: stored document: %w", kind, id, err)
	}
	return v, nil
}

// listDocs runs query and decodes the JSON document of each row.
func listDocs[T any](ctx context.Context, q querier, kind, query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		var doc sql.RawBytes
		if err := rows.Scan(&doc); err != nil {
			return nil, err
		}
		var v T
		if err := json.Unmarshal(doc, &v); err != nil {
			return nil, fmt.Errorf("stored %s: %w", kind, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, translate(err)
	}
	return out, nil
}

// in returns the placeholders and arguments of an SQL IN list of values.
func in[T ~string](values []T) (string, []any) {
	args := make([]any, len(values))
	for i, v := range values {
		args[i] = string(v)
	}
	return "(?" + strings.Repeat(", ?", len(values)-1) + ")", args
}

// limitClause returns the LIMIT clause of a listing whose limit is n, 0
// meaning none.
func limitClause(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" LIMIT %d", n)
}

// ListIncidents returns the incidents matching f, the most recently opened
// first (then by id, descending). A Dept filter keeps the incidents that
// department works on (Incident.Departments). It returns an error with code
// invalid when f.Limit is negative, and the database's error when the query
// fails.
func (s *Store) ListIncidents(ctx context.Context, f incidents.IncidentFilter) ([]incidents.Incident, error) {
	if err := workflowstore.CheckLimit(f.Limit); err != nil {
		return nil, fmt.Errorf("list incidents: %w", err)
	}
	var (
		where []string
		args  []any
	)
	if len(f.States) > 0 {
		list, a := in(f.States)
		where = append(where, "state IN "+list)
		args = append(args, a...)
	}
	if f.Dept != "" {
		where = append(where, "id IN (SELECT incident_id FROM incident_depts WHERE dept = ?)")
		args = append(args, f.Dept)
	}
	q := `SELECT doc FROM incidents`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY opened_at DESC, id DESC" + limitClause(f.Limit)
	out, err := listDocs[incidents.Incident](ctx, s.rdb, workflowstore.KindIncident, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list incidents: %w", err)
	}
	return out, nil
}

// ListTasks returns the tasks matching f, the soonest deadline first (then
// by id). It returns an error with code invalid when f.Limit is negative,
// and the database's error when the query fails.
func (s *Store) ListTasks(ctx context.Context, f incidents.TaskFilter) ([]incidents.Task, error) {
	if err := workflowstore.CheckLimit(f.Limit); err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	var (
		where []string
		args  []any
	)
	if f.Dept != "" {
		where = append(where, "dept = ?")
		args = append(args, f.Dept)
	}
	if f.IncidentID != "" {
		where = append(where, "incident_id = ?")
		args = append(args, f.IncidentID)
	}
	if len(f.States) > 0 {
		list, a := in(f.States)
		where = append(where, "state IN "+list)
		args = append(args, a...)
	}
	q := `SELECT doc FROM tasks`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY deadline, id" + limitClause(f.Limit)
	out, err := listDocs[incidents.Task](ctx, s.rdb, workflowstore.KindTask, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	return out, nil
}

// PendingTimers returns the timers of the task taskID that have not fired,
// the soonest first (then by id). It returns the database's error when the
// query fails.
func (s *Store) PendingTimers(ctx context.Context, taskID string) ([]incidents.Timer, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+timerColumns+` FROM timers
		WHERE task_id = ? AND fired_at IS NULL ORDER BY due_at, id`, taskID)
	if err != nil {
		return nil, fmt.Errorf("pending timers: %w", translate(err))
	}
	defer rows.Close()
	out := []incidents.Timer{}
	for rows.Next() {
		t, err := scanTimer(rows)
		if err != nil {
			return nil, fmt.Errorf("pending timers: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pending timers: %w", translate(err))
	}
	return out, nil
}

// Audit returns the events matching f with their origin, newest first: by
// actor (exactly), type prefix, time (From inclusive, To exclusive) and seq
// (below BeforeSeq). It returns an error with code invalid when f.Limit is
// negative, and the database's error when the query fails.
func (s *Store) Audit(ctx context.Context, f incidents.AuditFilter) ([]incidents.AuditEntry, error) {
	if err := workflowstore.CheckLimit(f.Limit); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	var (
		where []string
		args  []any
	)
	if f.Actor != "" {
		where = append(where, "actor = ?")
		args = append(args, f.Actor)
	}
	if f.TypePrefix != "" {
		where = append(where, "instr(type, ?) = 1")
		args = append(args, f.TypePrefix)
	}
	if !f.From.IsZero() {
		where = append(where, "at >= ?")
		args = append(args, nanos(f.From))
	}
	if !f.To.IsZero() {
		where = append(where, "at < ?")
		args = append(args, nanos(f.To))
	}
	if f.BeforeSeq > 0 {
		where = append(where, "seq < ?")
		args = append(args, f.BeforeSeq)
	}
	q := `SELECT seq, type, at, actor, data, origin FROM events`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY seq DESC" + limitClause(f.Limit)
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", translate(err))
	}
	defer rows.Close()
	out := []incidents.AuditEntry{}
	for rows.Next() {
		var (
			e    incidents.AuditEntry
			at   int64
			data string
		)
		if err := rows.Scan(&e.Seq, &e.Type, &at, &e.Actor, &data, &e.Origin); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		e.At = fromNanos(at)
		e.Data = json.RawMessage(data)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: %w", translate(err))
	}
	return out, nil
}

// workTx is the incidents.Tx of one write transaction: reads and writes go
// through it, and appended events wait in events for the commit. It is not
// safe for concurrent use.
type workTx struct {
	tx     txq
	events []workflowstore.Event
}

var _ incidents.Tx = (*workTx)(nil)

// Incident returns the incident with the given id as the transaction sees
// it. It returns an error with code not_found when there is none.
func (w *workTx) Incident(ctx context.Context, id string) (incidents.Incident, error) {
	return getDoc[incidents.Incident](ctx, w.tx, `SELECT doc FROM incidents WHERE id = ?`, workflowstore.KindIncident, id)
}

// PutIncident stores inc, read at version prev (0 to create it), with its
// departments. It returns an error with code invalid when inc has no id or
// inc.Version is not prev+1, code conflict (field "id") when creating an
// incident whose id exists, and code version_conflict (field "version")
// when the stored incident is not at version prev or does not exist.
func (w *workTx) PutIncident(ctx context.Context, inc incidents.Incident, prev int64) error {
	const kind = workflowstore.KindIncident
	if err := workflowstore.CheckPut(kind, inc.ID, inc.Version, prev); err != nil {
		return err
	}
	doc, err := json.Marshal(inc)
	if err != nil {
		return fmt.Errorf("put incident %s: %w", inc.ID, err)
	}
	var res sql.Result
	if prev == 0 {
		res, err = w.tx.ExecContext(ctx, `INSERT INTO incidents (id, version, state, grade, opened_at, updated_at, doc)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			inc.ID, inc.Version, string(inc.State), int(inc.Grade), nanos(inc.OpenedAt), nanos(inc.UpdatedAt), string(doc))
	} else {
		res, err = w.tx.ExecContext(ctx, `UPDATE incidents
			SET version = ?, state = ?, grade = ?, opened_at = ?, updated_at = ?, doc = ?
			WHERE id = ? AND version = ?`,
			inc.Version, string(inc.State), int(inc.Grade), nanos(inc.OpenedAt), nanos(inc.UpdatedAt), string(doc), inc.ID, prev)
	}
	if err := w.checkPut(ctx, res, err, kind, `SELECT version FROM incidents WHERE id = ?`, inc.ID, prev); err != nil {
		return err
	}
	depts, err := json.Marshal(workflowstore.Unique(inc.Departments))
	if err != nil {
		return fmt.Errorf("put incident %s: %w", inc.ID, err)
	}
	if _, err := w.tx.ExecContext(ctx, `DELETE FROM incident_depts
		WHERE incident_id = ?1 AND dept NOT IN (SELECT value FROM json_each(?2))`, inc.ID, string(depts)); err != nil {
		return fmt.Errorf("put incident %s: %w", inc.ID, translate(err))
	}
	if _, err := w.tx.ExecContext(ctx, `INSERT INTO incident_depts (dept, incident_id)
		SELECT value, ?1 FROM json_each(?2) WHERE true ON CONFLICT DO NOTHING`, inc.ID, string(depts)); err != nil {
		return fmt.Errorf("put incident %s: %w", inc.ID, translate(err))
	}
	return nil
}

// checkPut turns the outcome of a versioned insert or update into the put's
// error: a write that changed no row refused the put, and versionQuery tells
// why.
func (w *workTx) checkPut(ctx context.Context, res sql.Result, err error, kind, versionQuery, id string, prev int64) error {
	if err != nil {
		return fmt.Errorf("put %s %s: %w", kind, id, translate(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("put %s %s: %w", kind, id, err)
	}
	if n > 0 {
		return nil
	}
	if prev == 0 {
		return workflowstore.Exists(kind, id)
	}
	var stored int64
	if err := w.tx.QueryRowContext(ctx, versionQuery, id).Scan(&stored); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("put %s %s: %w", kind, id, translate(err))
	}
	return workflowstore.Stale(kind, id, prev, stored)
}

// ActiveIncidents returns the open and confirmed incidents, the oldest
// first. It returns the database's error when the query fails.
func (w *workTx) ActiveIncidents(ctx context.Context) ([]incidents.Incident, error) {
	out, err := listDocs[incidents.Incident](ctx, w.tx, workflowstore.KindIncident,
		`SELECT doc FROM incidents WHERE state IN (?, ?) ORDER BY opened_at, id`,
		string(incidents.IncidentOpen), string(incidents.IncidentConfirmed))
	if err != nil {
		return nil, fmt.Errorf("active incidents: %w", err)
	}
	return out, nil
}

// IncidentsOfCalls maps each of callIDs that is attached to an incident to
// that incident's id. It returns the database's error when the query
// fails.
func (w *workTx) IncidentsOfCalls(ctx context.Context, callIDs []string) (map[string]string, error) {
	out := make(map[string]string, len(callIDs))
	if len(callIDs) == 0 {
		return out, nil
	}
	ids, err := json.Marshal(callIDs)
	if err != nil {
		return nil, fmt.Errorf("incidents of calls: %w", err)
	}
	rows, err := w.tx.QueryContext(ctx, `SELECT call_id, incident_id FROM incident_calls
		WHERE call_id IN (SELECT value FROM json_each(?))`, string(ids))
	if err != nil {
		return nil, fmt.Errorf("incidents of calls: %w", translate(err))
	}
	defer rows.Close()
	for rows.Next() {
		var call, inc string
		if err := rows.Scan(&call, &inc); err != nil {
			return nil, fmt.Errorf("incidents of calls: %w", err)
		}
		out[call] = inc
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("incidents of calls: %w", translate(err))
	}
	return out, nil
}

// AttachCalls attaches the calls to the incident incidentID, moving those
// attached to another. It returns an error with code invalid when
// incidentID is empty.
func (w *workTx) AttachCalls(ctx context.Context, incidentID string, callIDs []string) error {
	if incidentID == "" {
		return incidents.FieldError(incidents.CodeInvalid, "incident_id", "calls must be attached to an incident id")
	}
	ids := workflowstore.Unique(callIDs)
	if len(ids) == 0 {
		return nil
	}
	b, err := json.Marshal(ids)
	if err != nil {
		return fmt.Errorf("attach calls: %w", err)
	}
	if _, err := w.tx.ExecContext(ctx, `INSERT INTO incident_calls (call_id, incident_id)
		SELECT value, ?1 FROM json_each(?2) WHERE true
		ON CONFLICT (call_id) DO UPDATE SET incident_id = excluded.incident_id`, incidentID, string(b)); err != nil {
		return fmt.Errorf("attach calls to %s: %w", incidentID, translate(err))
	}
	return nil
}

// Task returns the task with the given id as the transaction sees it. It
// returns an error with code not_found when there is none.
func (w *workTx) Task(ctx context.Context, id string) (incidents.Task, error) {
	return getDoc[incidents.Task](ctx, w.tx, `SELECT doc FROM tasks WHERE id = ?`, workflowstore.KindTask, id)
}

// PutTask stores t, read at version prev (0 to create it). It returns an
// error with code invalid when t has no id or t.Version is not prev+1, code
// conflict (field "id") when creating a task whose id exists, and code
// version_conflict (field "version") when the stored task is not at version
// prev or does not exist.
func (w *workTx) PutTask(ctx context.Context, t incidents.Task, prev int64) error {
	const kind = workflowstore.KindTask
	if err := workflowstore.CheckPut(kind, t.ID, t.Version, prev); err != nil {
		return err
	}
	doc, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("put task %s: %w", t.ID, err)
	}
	var res sql.Result
	if prev == 0 {
		res, err = w.tx.ExecContext(ctx, `INSERT INTO tasks (id, incident_id, dept, state, version,
			dispatched_at, deadline, updated_at, doc)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			t.ID, t.IncidentID, t.Dept, string(t.State), t.Version,
			nanos(t.DispatchedAt), nanos(t.Deadline), nanos(t.UpdatedAt), string(doc))
	} else {
		res, err = w.tx.ExecContext(ctx, `UPDATE tasks
			SET incident_id = ?, dept = ?, state = ?, version = ?, dispatched_at = ?, deadline = ?,
				updated_at = ?, doc = ?
			WHERE id = ? AND version = ?`,
			t.IncidentID, t.Dept, string(t.State), t.Version,
			nanos(t.DispatchedAt), nanos(t.Deadline), nanos(t.UpdatedAt), string(doc), t.ID, prev)
	}
	return w.checkPut(ctx, res, err, kind, `SELECT version FROM tasks WHERE id = ?`, t.ID, prev)
}

// TasksOfIncident returns the tasks of the incident incidentID, the first
// dispatched first (then by id). It returns the database's error when the
// query fails.
func (w *workTx) TasksOfIncident(ctx context.Context, incidentID string) ([]incidents.Task, error) {
	out, err := listDocs[incidents.Task](ctx, w.tx, workflowstore.KindTask,
		`SELECT doc FROM tasks WHERE incident_id = ? ORDER BY dispatched_at, id`, incidentID)
	if err != nil {
		return nil, fmt.Errorf("tasks of incident %s: %w", incidentID, err)
	}
	return out, nil
}

// SetTimers deletes the timers of the task taskID that have not fired and
// stores timers in their place, with new ids; their times are kept to the
// microsecond, in UTC. A timer being fired in this transaction is already
// marked fired, so it stays. It returns an error with code invalid when
// taskID is empty, a timer names another task or has no kind.
func (w *workTx) SetTimers(ctx context.Context, taskID string, timers []incidents.Timer) error {
	if err := workflowstore.CheckTimers(taskID, timers); err != nil {
		return err
	}
	if _, err := w.tx.ExecContext(ctx, `DELETE FROM timers WHERE task_id = ? AND fired_at IS NULL`, taskID); err != nil {
		return fmt.Errorf("set timers of task %s: %w", taskID, translate(err))
	}
	for _, t := range timers {
		if _, err := w.tx.ExecContext(ctx, `INSERT INTO timers (task_id, kind, due_at, attempt) VALUES (?, ?, ?, ?)`,
			taskID, t.Kind, nanos(t.DueAt.Truncate(time.Microsecond)), t.Attempt); err != nil {
			return fmt.Errorf("set timers of task %s: %w", taskID, translate(err))
		}
	}
	return nil
}

// Call returns the call with the given id. It returns an error with code
// not_found when there is none.
func (w *workTx) Call(ctx context.Context, id string) (incidents.Call, error) {
	st, err := scanCall(w.tx.QueryRowContext(ctx, `SELECT `+callColumns+` FROM calls WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return incidents.Call{}, workflowstore.NotFound("call", id)
	}
	if err != nil {
		return incidents.Call{}, fmt.Errorf("get call %s: %w", id, translate(err))
	}
	return st.Call, nil
}

// Append adds e to the events stored at commit. It returns an error with
// code invalid when e has no type or its data cannot be encoded as JSON.
func (w *workTx) Append(ctx context.Context, e incidents.EventInput) error {
	enc, err := workflowstore.Encode(e)
	if err != nil {
		return err
	}
	w.events = append(w.events, enc)
	return nil
}
