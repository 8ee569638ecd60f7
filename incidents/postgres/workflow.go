package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"flare/incidents"
	"flare/incidents/internal/workflowstore"
)

// The workflow part of the store: incidents, tasks and supervision timers,
// kept whole as JSON with the columns that queries use beside them.
//
// Every Update and every timer firing is one transaction at READ COMMITTED.
// Reads of incidents and tasks in a transaction lock the rows they return
// (SELECT ... FOR UPDATE), so that concurrent transactions on the same
// records, on any node, take turns; versioned writes check the version
// read. Transactions that lock the same records in opposite orders may
// deadlock: Postgres then aborts one, which fails with code unavailable
// ("try again").

var _ incidents.WorkflowStore = (*Store)(nil)

// Update runs fn in one transaction, as incidents.WorkflowStore documents.
// fn's Tx reads and writes through the transaction, so it sees its own
// writes; its reads of incidents and tasks lock them until the end of the
// transaction. The events fn appends are stored last, in one statement that
// takes their seqs from the event counter (whose row lock, held until
// commit, orders seqs with commits across nodes), the time of the commit and
// their origin, and announces the last seq to every node's listener;
// WaitEvents callers of this Store are woken at once.
//
// When fn returns an error, the transaction is rolled back and Update
// returns that error as it is. Otherwise it returns an error with code
// unavailable when the database cannot be reached or aborted the
// transaction (deadlock, serialisation), ctx.Err() when ctx ends, and the
// database's error when the commit fails; nothing is stored then.
func (s *Store) Update(ctx context.Context, fn func(ctx context.Context, tx incidents.Tx) error) ([]incidents.Event, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("update: %w", translate(err))
	}
	defer tx.Rollback(ctx) // after Commit, a no-op
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
	n := len(w.events)
	if n == 0 {
		return []incidents.Event{}, w.tx.Commit(ctx)
	}
	types, actors := make([]string, n), make([]string, n)
	data, origins := make([]string, n), make([]string, n)
	for i, e := range w.events {
		types[i], actors[i], data[i], origins[i] = e.Type, e.Actor, string(e.Data), e.Origin
	}
	at := time.Now().UTC().Truncate(time.Microsecond)
	// The counter's row lock, taken by the UPDATE, is held until commit:
	// the next writer allocates only once this transaction is visible. The
	// notification, sent at commit, is made by the UPDATE too: a join would
	// multiply the planner's guesses of the rows of the CTEs until JIT
	// compilation costs more than the statement.
	rows, err := w.tx.Query(ctx, `WITH counter AS (
			UPDATE event_counter SET last = last + $1
			RETURNING last - $1 AS base, pg_notify('`+notifyChannel+`', last::text)
		), new_events AS (
			INSERT INTO events (seq, type, at, actor, data, origin)
			SELECT counter.base + u.ord, u.type, $2, u.actor, u.data::jsonb, u.origin
			FROM counter, unnest($3::text[], $4::text[], $5::text[], $6::text[])
				WITH ORDINALITY AS u (type, actor, data, origin, ord)
			RETURNING seq, type, actor, data
		)
		SELECT seq, type, actor, data::text FROM new_events ORDER BY seq`,
		n, at, types, actors, data, origins)
	if err != nil {
		return nil, err
	}
	evs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (incidents.Event, error) {
		e := incidents.Event{At: at}
		var data string
		err := row.Scan(&e.Seq, &e.Type, &e.Actor, &data)
		e.Data = json.RawMessage(data)
		return e, err
	})
	if err != nil {
		return nil, err
	}
	if len(evs) != n {
		return nil, fmt.Errorf("stored %d events of %d", len(evs), n)
	}
	if err := w.tx.Commit(ctx); err != nil {
		return nil, err
	}
	s.noteCommitted(evs[n-1].Seq)
	return evs, nil
}

// FireDueTimers fires up to limit timers due at or before now, soonest
// first, each in its own transaction: the timer is claimed and marked fired
// in one statement (SELECT ... FOR UPDATE SKIP LOCKED, so that nodes firing
// at once take different timers), then fire runs in the same transaction
// (and may replace the task's other timers), then its events are stored and
// the transaction commits. A timer fires once whatever the number of nodes.
// It returns how many fired.
//
// When fire returns an error, that timer's transaction is rolled back (the
// timer stays due) and FireDueTimers stops, returning the error wrapped with
// the timer's id. It also returns an error with code invalid when limit is
// below 1, one with code unavailable when the database cannot be reached,
// ctx.Err() when ctx ends, and the database's error when a transaction
// fails.
func (s *Store) FireDueTimers(ctx context.Context, now time.Time, limit int, fire func(ctx context.Context, tx incidents.Tx, t incidents.Timer) error) (int, error) {
	if limit < 1 {
		return 0, fmt.Errorf("fire due timers: %w",
			incidents.FieldError(incidents.CodeInvalid, "limit", "limit must be at least 1, got %d", limit))
	}
	fired := 0
	for fired < limit {
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

// fireNext fires the soonest due timer that no other transaction is
// firing, if any, and reports whether there was one.
func (s *Store) fireNext(ctx context.Context, now time.Time, fire func(ctx context.Context, tx incidents.Tx, t incidents.Timer) error) (bool, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("fire due timers: %w", translate(err))
	}
	defer tx.Rollback(ctx) // after Commit, a no-op
	// Marked fired first: a SetTimers of fire leaves it alone.
	t, err := scanTimer(tx.QueryRow(ctx, `UPDATE timers SET fired_at = $1
		WHERE id = (SELECT id FROM timers WHERE fired_at IS NULL AND due_at <= $1
			ORDER BY due_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
		RETURNING `+timerColumns, now))
	if errors.Is(err, pgx.ErrNoRows) {
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
func scanTimer(row pgx.Row) (incidents.Timer, error) {
	var t incidents.Timer
	err := row.Scan(&t.ID, &t.TaskID, &t.Kind, &t.DueAt, &t.Attempt)
	t.DueAt = t.DueAt.UTC()
	return t, err
}

// queryer is what reads need of a transaction or the pool.
type queryer interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// GetIncident returns the incident with the given id. It returns an error
// with code not_found when there is none, one with code unavailable when
// the database cannot be reached, and the database's error when the query
// fails.
func (s *Store) GetIncident(ctx context.Context, id string) (incidents.Incident, error) {
	return getDoc[incidents.Incident](ctx, s.pool, `SELECT doc FROM incidents WHERE id = $1`, workflowstore.KindIncident, id)
}

// GetTask returns the task with the given id. It returns an error with code
// not_found when there is none, one with code unavailable when the database
// cannot be reached, and the database's error when the query fails.
func (s *Store) GetTask(ctx context.Context, id string) (incidents.Task, error) {
	return getDoc[incidents.Task](ctx, s.pool, `SELECT doc FROM tasks WHERE id = $1`, workflowstore.KindTask, id)
}

// getDoc reads the JSON document that query selects for the record kind id
// and decodes it.
func getDoc[T any](ctx context.Context, q queryer, query, kind, id string) (T, error) {
	var (
		v   T
		doc []byte
	)
	err := q.QueryRow(ctx, query, id).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
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
func listDocs[T any](ctx context.Context, q queryer, kind, query string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, translate(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (T, error) {
		var (
			v   T
			doc []byte
		)
		if err := row.Scan(&doc); err != nil {
			return v, err
		}
		if err := json.Unmarshal(doc, &v); err != nil {
			return v, fmt.Errorf("stored %s: %w", kind, err)
		}
		return v, nil
	})
	if err != nil {
		return nil, translate(err)
	}
	if out == nil {
		out = []T{}
	}
	return out, nil
}

// strs returns values as strings, for a text[] parameter.
func strs[T ~string](values []T) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	return out
}

// ListIncidents returns the incidents matching f, the most recently opened
// first (then by id, descending). A Dept filter keeps the incidents that
// department works on (Incident.Departments). It returns an error with code
// invalid when f.Limit is negative, one with code unavailable when the
// database cannot be reached, and the database's error when the query
// fails.
func (s *Store) ListIncidents(ctx context.Context, f incidents.IncidentFilter) ([]incidents.Incident, error) {
	if err := workflowstore.CheckLimit(f.Limit); err != nil {
		return nil, fmt.Errorf("list incidents: %w", err)
	}
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if len(f.States) > 0 {
		where = append(where, "state = ANY("+arg(strs(f.States))+")")
	}
	if f.Dept != "" {
		where = append(where, "id IN (SELECT incident_id FROM incident_depts WHERE dept = "+arg(f.Dept)+")")
	}
	q := `SELECT doc FROM incidents`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY opened_at DESC, id DESC"
	if f.Limit > 0 {
		q += " LIMIT " + arg(f.Limit)
	}
	out, err := listDocs[incidents.Incident](ctx, s.pool, workflowstore.KindIncident, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list incidents: %w", err)
	}
	return out, nil
}

// ListTasks returns the tasks matching f, the soonest deadline first (then
// by id). It returns an error with code invalid when f.Limit is negative,
// one with code unavailable when the database cannot be reached, and the
// database's error when the query fails.
func (s *Store) ListTasks(ctx context.Context, f incidents.TaskFilter) ([]incidents.Task, error) {
	if err := workflowstore.CheckLimit(f.Limit); err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Dept != "" {
		where = append(where, "dept = "+arg(f.Dept))
	}
	if f.IncidentID != "" {
		where = append(where, "incident_id = "+arg(f.IncidentID))
	}
	if len(f.States) > 0 {
		where = append(where, "state = ANY("+arg(strs(f.States))+")")
	}
	q := `SELECT doc FROM tasks`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY deadline, id"
	if f.Limit > 0 {
		q += " LIMIT " + arg(f.Limit)
	}
	out, err := listDocs[incidents.Task](ctx, s.pool, workflowstore.KindTask, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	return out, nil
}

// PendingTimers returns the timers of the task taskID that have not fired,
// the soonest first (then by id). It returns an error with code unavailable
// when the database cannot be reached, and the database's error when the
// query fails.
func (s *Store) PendingTimers(ctx context.Context, taskID string) ([]incidents.Timer, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+timerColumns+` FROM timers
		WHERE task_id = $1 AND fired_at IS NULL ORDER BY due_at, id`, taskID)
	if err != nil {
		return nil, fmt.Errorf("pending timers: %w", translate(err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (incidents.Timer, error) {
		return scanTimer(row)
	})
	if err != nil {
		return nil, fmt.Errorf("pending timers: %w", translate(err))
	}
	if out == nil {
		out = []incidents.Timer{}
	}
	return out, nil
}

// Audit returns the events matching f with their origin, newest first: by
// actor (exactly), type prefix, time (From inclusive, To exclusive) and seq
// (below BeforeSeq). It returns an error with code invalid when f.Limit is
// negative, one with code unavailable when the database cannot be reached,
// and the database's error when the query fails.
func (s *Store) Audit(ctx context.Context, f incidents.AuditFilter) ([]incidents.AuditEntry, error) {
	if err := workflowstore.CheckLimit(f.Limit); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Actor != "" {
		where = append(where, "actor = "+arg(f.Actor))
	}
	if f.TypePrefix != "" {
		where = append(where, "starts_with(type, "+arg(f.TypePrefix)+")")
	}
	if !f.From.IsZero() {
		where = append(where, "at >= "+arg(f.From))
	}
	if !f.To.IsZero() {
		where = append(where, "at < "+arg(f.To))
	}
	if f.BeforeSeq > 0 {
		where = append(where, "seq < "+arg(f.BeforeSeq))
	}
	q := `SELECT seq, type, at, actor, data, origin FROM events`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY seq DESC"
	if f.Limit > 0 {
		q += " LIMIT " + arg(f.Limit)
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", translate(err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (incidents.AuditEntry, error) {
		var (
			e    incidents.AuditEntry
			data []byte
		)
		err := row.Scan(&e.Seq, &e.Type, &e.At, &e.Actor, &data, &e.Origin)
		e.At = e.At.UTC()
		e.Data = json.RawMessage(data)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("audit: %w", translate(err))
	}
	if out == nil {
		out = []incidents.AuditEntry{}
	}
	return out, nil
}

// workTx is the incidents.Tx of one transaction: reads and writes go
// through it, and appended events wait in events for the commit. It is not
// safe for concurrent use.
type workTx struct {
	tx     pgx.Tx
	events []workflowstore.Event
}

var _ incidents.Tx = (*workTx)(nil)

// Incident returns the incident with the given id as the transaction sees
// it, locking it until the transaction ends. It returns an error with code
// not_found when there is none.
func (w *workTx) Incident(ctx context.Context, id string) (incidents.Incident, error) {
	return getDoc[incidents.Incident](ctx, w.tx, `SELECT doc FROM incidents WHERE id = $1 FOR UPDATE`, workflowstore.KindIncident, id)
}

// putDepts is the tail of the statements that put an incident: it keeps
// incident_depts equal to the departments ($8) of the incident put.
const putDepts = `, gone AS (
		DELETE FROM incident_depts
		WHERE incident_id IN (SELECT id FROM put) AND NOT (dept = ANY($8::text[]))
	), added AS (
		INSERT INTO incident_depts (dept, incident_id)
		SELECT d, put.id FROM put, unnest($8::text[]) AS d
		ON CONFLICT DO NOTHING
	)
	SELECT count(*) FROM put`

// PutIncident stores inc, read at version prev (0 to create it), with its
// departments, in one statement. It returns an error with code invalid when
// inc has no id or inc.Version is not prev+1, code conflict (field "id")
// when creating an incident whose id exists, and code version_conflict
// (field "version") when the stored incident is not at version prev or does
// not exist. A refused put leaves the transaction usable.
func (w *workTx) PutIncident(ctx context.Context, inc incidents.Incident, prev int64) error {
	const kind = workflowstore.KindIncident
	if err := workflowstore.CheckPut(kind, inc.ID, inc.Version, prev); err != nil {
		return err
	}
	doc, err := json.Marshal(inc)
	if err != nil {
		return fmt.Errorf("put incident %s: %w", inc.ID, err)
	}
	q := `WITH put AS (
			INSERT INTO incidents (id, version, state, grade, opened_at, updated_at, doc)
			VALUES ($1, $2, $3, $4, $5, $6, $7::text::json) ON CONFLICT (id) DO NOTHING
			RETURNING id
		)` + putDepts
	args := []any{inc.ID, inc.Version, string(inc.State), int(inc.Grade), inc.OpenedAt, inc.UpdatedAt, string(doc),
		workflowstore.Unique(inc.Departments)}
	if prev > 0 {
		q = `WITH put AS (
				UPDATE incidents SET version = $2, state = $3, grade = $4, opened_at = $5, updated_at = $6,
					doc = $7::text::json
				WHERE id = $1 AND version = $9
				RETURNING id
			)` + putDepts
		args = append(args, prev)
	}
	var n int64
	err = w.tx.QueryRow(ctx, q, args...).Scan(&n)
	return w.checkPut(ctx, n, err, kind, `SELECT version FROM incidents WHERE id = $1`, inc.ID, prev)
}

// checkPut turns the outcome of a versioned insert or update that changed n
// rows into the put's error: a write that changed none refused the put, and
// versionQuery tells why.
func (w *workTx) checkPut(ctx context.Context, n int64, err error, kind, versionQuery, id string, prev int64) error {
	if err != nil {
		return fmt.Errorf("put %s %s: %w", kind, id, translate(err))
	}
	if n > 0 {
		return nil
	}
	if prev == 0 {
		return workflowstore.Exists(kind, id)
	}
	var stored int64
	if err := w.tx.QueryRow(ctx, versionQuery, id).Scan(&stored); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("put %s %s: %w", kind, id, translate(err))
	}
	return workflowstore.Stale(kind, id, prev, stored)
}

// ActiveIncidents returns the open and confirmed incidents, the oldest
// first, locking them until the transaction ends. It returns an error with
// code unavailable when the database cannot be reached.
func (w *workTx) ActiveIncidents(ctx context.Context) ([]incidents.Incident, error) {
	out, err := listDocs[incidents.Incident](ctx, w.tx, workflowstore.KindIncident,
		`SELECT doc FROM incidents WHERE state = ANY($1) ORDER BY opened_at, id FOR UPDATE`,
		[]string{string(incidents.IncidentOpen), string(incidents.IncidentConfirmed)})
	if err != nil {
		return nil, fmt.Errorf("active incidents: %w", err)
	}
	return out, nil
}

// IncidentsOfCalls maps each of callIDs that is attached to an incident to
// that incident's id. It returns an error with code unavailable when the
// database cannot be reached.
func (w *workTx) IncidentsOfCalls(ctx context.Context, callIDs []string) (map[string]string, error) {
	out := make(map[string]string, len(callIDs))
	if len(callIDs) == 0 {
		return out, nil
	}
	rows, err := w.tx.Query(ctx, `SELECT call_id, incident_id FROM incident_calls WHERE call_id = ANY($1)`, callIDs)
	if err != nil {
		return nil, fmt.Errorf("incidents of calls: %w", translate(err))
	}
	var call, inc string
	_, err = pgx.ForEachRow(rows, []any{&call, &inc}, func() error {
		out[call] = inc
		return nil
	})
	if err != nil {
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
	if _, err := w.tx.Exec(ctx, `INSERT INTO incident_calls (call_id, incident_id)
		SELECT c, $1 FROM unnest($2::text[]) AS c
		ON CONFLICT (call_id) DO UPDATE SET incident_id = excluded.incident_id`, incidentID, ids); err != nil {
		return fmt.Errorf("attach calls to %s: %w", incidentID, translate(err))
	}
	return nil
}

// Task returns the task with the given id as the transaction sees it,
// locking it until the transaction ends. It returns an error with code
// not_found when there is none.
func (w *workTx) Task(ctx context.Context, id string) (incidents.Task, error) {
	return getDoc[incidents.Task](ctx, w.tx, `SELECT doc FROM tasks WHERE id = $1 FOR UPDATE`, workflowstore.KindTask, id)
}

// PutTask stores t, read at version prev (0 to create it). It returns an
// error with code invalid when t has no id or t.Version is not prev+1, code
// conflict (field "id") when creating a task whose id exists, and code
// version_conflict (field "version") when the stored task is not at version
// prev or does not exist. A refused put leaves the transaction usable.
func (w *workTx) PutTask(ctx context.Context, t incidents.Task, prev int64) error {
	const kind = workflowstore.KindTask
	if err := workflowstore.CheckPut(kind, t.ID, t.Version, prev); err != nil {
		return err
	}
	doc, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("put task %s: %w", t.ID, err)
	}
	args := []any{t.ID, t.IncidentID, t.Dept, string(t.State), t.Version, t.DispatchedAt, t.Deadline, t.UpdatedAt, string(doc)}
	var tag pgconn.CommandTag
	if prev == 0 {
		tag, err = w.tx.Exec(ctx, `INSERT INTO tasks (id, incident_id, dept, state, version,
				dispatched_at, deadline, updated_at, doc)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::text::json) ON CONFLICT (id) DO NOTHING`, args...)
	} else {
		tag, err = w.tx.Exec(ctx, `UPDATE tasks SET incident_id = $2, dept = $3, state = $4, version = $5,
				dispatched_at = $6, deadline = $7, updated_at = $8, doc = $9::text::json
			WHERE id = $1 AND version = $10`, append(args, prev)...)
	}
	return w.checkPut(ctx, tag.RowsAffected(), err, kind, `SELECT version FROM tasks WHERE id = $1`, t.ID, prev)
}

// TasksOfIncident returns the tasks of the incident incidentID, the first
// dispatched first (then by id), locking them until the transaction ends.
// It returns an error with code unavailable when the database cannot be reached.
func (w *workTx) TasksOfIncident(ctx context.Context, incidentID string) ([]incidents.Task, error) {
	out, err := listDocs[incidents.Task](ctx, w.tx, workflowstore.KindTask,
		`SELECT doc FROM tasks WHERE incident_id = $1 ORDER BY dispatched_at, id FOR UPDATE`, incidentID)
	if err != nil {
		return nil, fmt.Errorf("tasks of incident %s: %w", incidentID, err)
	}
	return out, nil
}

// SetTimers deletes the timers of the task taskID that have not fired and
// stores timers in their place, with new ids; their times are kept to the
// microsecond. A timer being fired in this transaction is already marked
// fired, so it stays; one that another transaction is firing is skipped
// rather than waited for (so that a task action never waits on a firing,
// which waits on the task), and stays if that firing fails. It returns an
// error with code invalid when taskID is empty, a timer names another task
// or has no kind.
func (w *workTx) SetTimers(ctx context.Context, taskID string, timers []incidents.Timer) error {
	if err := workflowstore.CheckTimers(taskID, timers); err != nil {
		return err
	}
	kinds, dues, attempts := make([]string, len(timers)), make([]time.Time, len(timers)), make([]int32, len(timers))
	for i, t := range timers {
		kinds[i], dues[i], attempts[i] = t.Kind, t.DueAt.Truncate(time.Microsecond), int32(t.Attempt)
	}
	if _, err := w.tx.Exec(ctx, `WITH gone AS (
			DELETE FROM timers WHERE id IN (
				SELECT id FROM timers WHERE task_id = $1 AND fired_at IS NULL FOR UPDATE SKIP LOCKED)
		)
		INSERT INTO timers (task_id, kind, due_at, attempt)
		SELECT $1, u.kind, u.due_at, u.attempt
		FROM unnest($2::text[], $3::timestamptz[], $4::int[]) AS u (kind, due_at, attempt)`,
		taskID, kinds, dues, attempts); err != nil {
		return fmt.Errorf("set timers of task %s: %w", taskID, translate(err))
	}
	return nil
}

// Call returns the call with the given id. It returns an error with code
// not_found when there is none.
func (w *workTx) Call(ctx context.Context, id string) (incidents.Call, error) {
	st, err := scanCall(w.tx.QueryRow(ctx, `SELECT `+callColumns+` FROM calls WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
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
