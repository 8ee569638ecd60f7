package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"flare/incidents"
)

// The workflow part of the store: incidents, tasks and supervision timers,
// kept whole as JSON with the columns that queries use beside them. Every
// Update and every timer firing is one of the adapter's write transactions;
// on Postgres, reads of incidents and tasks in it lock their rows (the
// dialect's ForUpdate), so that transactions on the same records, on any
// node, take turns.

// Update runs fn in one write transaction, as incidents.WorkflowStore
// documents. fn's Tx reads and writes through the transaction, so it sees
// its own writes. The events fn appends are stored last, by the adapter,
// with the next seqs, the time of the commit and their origin; waiters are
// then woken.
//
// When fn returns an error, the transaction is rolled back and Update
// returns that error as it is. Otherwise it returns the adapter's error when
// the transaction cannot begin (code unavailable when the database is busy
// or unreachable), ctx.Err() when ctx ends, and the database's error when
// the commit fails; nothing is stored then.
func (s *Store) Update(ctx context.Context, fn func(ctx context.Context, tx incidents.Tx) error) ([]incidents.Event, error) {
	tx, err := s.c.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("update: %w", err)
	}
	defer tx.Rollback() // after Commit, a no-op
	w := &workTx{s: s, tx: tx}
	if err := fn(ctx, w); err != nil {
		return nil, err
	}
	evs, err := s.commit(ctx, w)
	if err != nil {
		return nil, fmt.Errorf("update: %w", s.translate(err))
	}
	return evs, nil
}

// commit stores w's events, commits, wakes the waiters and returns the
// events as stored.
func (s *Store) commit(ctx context.Context, w *workTx) ([]incidents.Event, error) {
	evs := []incidents.Event{}
	if len(w.events) > 0 {
		var err error
		evs, err = s.c.Append(ctx, w.tx, w.events, time.Now().UTC().Truncate(time.Microsecond))
		if err != nil {
			return nil, err
		}
	}
	if err := w.tx.Commit(); err != nil {
		return nil, err
	}
	if len(evs) > 0 {
		s.c.Wake.Committed(evs[len(evs)-1].Seq)
	}
	return evs, nil
}

// FireDueTimers fires up to limit timers due at or before now, soonest
// first, each in its own write transaction: the timer is claimed and marked
// fired in one statement (on Postgres passing over the timers other nodes
// are firing), then fire runs in the same transaction (and may replace the
// task's other timers), then its events are stored and the transaction
// commits. A timer fires once whatever the number of nodes or processes. It
// returns how many fired.
//
// When fire returns an error, that timer's transaction is rolled back (the
// timer stays due) and FireDueTimers stops, returning the error wrapped with
// the timer's id. It also returns an error with code invalid when limit is
// below 1, the adapter's error when a transaction cannot begin, ctx.Err()
// when ctx ends, and the database's error when a transaction fails.
func (s *Store) FireDueTimers(ctx context.Context, now time.Time, limit int, fire func(ctx context.Context, tx incidents.Tx, t incidents.Timer) error) (int, error) {
	if err := checkLimit(limit); err != nil {
		return 0, fmt.Errorf("fire due timers: %w", err)
	}
	// Most calls find nothing due: look without a write transaction.
	var due bool
	if err := s.c.Read.QueryRowContext(ctx, s.q(`SELECT EXISTS (SELECT 1 FROM timers
		WHERE fired_at IS NULL AND due_at <= $1)`), s.d.Time(now)).Scan(&due); err != nil {
		return 0, fmt.Errorf("fire due timers: %w", s.translate(err))
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

// fireNext fires the soonest due timer that no other transaction is
// firing, if any, and reports whether there was one.
func (s *Store) fireNext(ctx context.Context, now time.Time, fire func(ctx context.Context, tx incidents.Tx, t incidents.Timer) error) (bool, error) {
	tx, err := s.c.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("fire due timers: %w", err)
	}
	defer tx.Rollback() // after Commit, a no-op
	// Marked fired first: a SetTimers of fire leaves it alone.
	t, err := scanTimer(tx.QueryRowContext(ctx, s.q(`UPDATE timers SET fired_at = $1
		WHERE id = (SELECT id FROM timers WHERE fired_at IS NULL AND due_at <= $1
			ORDER BY due_at, id LIMIT 1`+s.d.SkipLocked+`)
		RETURNING `+timerColumns), s.d.Time(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("fire due timers: %w", s.translate(err))
	}
	w := &workTx{s: s, tx: tx}
	if err := fire(ctx, w, t); err != nil {
		return false, fmt.Errorf("fire timer %d (%s of task %s): %w", t.ID, t.Kind, t.TaskID, err)
	}
	if _, err := s.commit(ctx, w); err != nil {
		return false, fmt.Errorf("fire timer %d: %w", t.ID, s.translate(err))
	}
	return true, nil
}

// timerColumns are the columns scanTimer reads, in its order.
const timerColumns = `id, task_id, kind, due_at, attempt`

// scanTimer reads one row of timerColumns.
func scanTimer(row interface{ Scan(...any) error }) (incidents.Timer, error) {
	var t incidents.Timer
	err := row.Scan(&t.ID, &t.TaskID, &t.Kind, timeDest{&t.DueAt}, &t.Attempt)
	return t, err
}

// GetIncident returns the incident with the given id. It returns an error
// with code not_found when there is none, and the database's error
// (translated) when the query fails.
func (s *Store) GetIncident(ctx context.Context, id string) (incidents.Incident, error) {
	return getDoc[incidents.Incident](ctx, s, s.c.Read, `SELECT doc FROM incidents WHERE id = $1`, kindIncident, id)
}

// GetTask returns the task with the given id. It returns an error with code
// not_found when there is none, and the database's error (translated) when
// the query fails.
func (s *Store) GetTask(ctx context.Context, id string) (incidents.Task, error) {
	return getDoc[incidents.Task](ctx, s, s.c.Read, `SELECT doc FROM tasks WHERE id = $1`, kindTask, id)
}

// getDoc reads the JSON document that query selects for the record kind id
// and decodes it.
func getDoc[T any](ctx context.Context, s *Store, q Querier, query, kind, id string) (T, error) {
	var (
		v   T
		doc []byte
	)
	err := q.QueryRowContext(ctx, s.q(query), id).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return v, notFound(kind, id)
	}
	if err != nil {
		return v, fmt.Errorf("get %s %s: %w", kind, id, s.translate(err))
	}
	if err := json.Unmarshal(doc, &v); err != nil {
		return v, fmt.Errorf("get %s %s: stored document: %w", kind, id, err)
	}
	return v, nil
}

// listDocs runs query and decodes the JSON document of each row.
func listDocs[T any](ctx context.Context, s *Store, q Querier, kind, query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, s.q(query), args...)
	return collect(s, rows, err, func(r *sql.Rows) (T, error) {
		var (
			v   T
			doc sql.RawBytes
		)
		if err := r.Scan(&doc); err != nil {
			return v, err
		}
		if err := json.Unmarshal(doc, &v); err != nil {
			return v, fmt.Errorf("stored %s: %w", kind, err)
		}
		return v, nil
	})
}

// ListIncidents returns the incidents matching f, the most recently opened
// first (then by id, descending). A Dept filter keeps the incidents that
// department works on (Incident.Departments). It returns an error with code
// invalid when f.Limit is negative, and the database's error (translated)
// when the query fails.
func (s *Store) ListIncidents(ctx context.Context, f incidents.IncidentFilter) ([]incidents.Incident, error) {
	if err := checkListLimit(f.Limit); err != nil {
		return nil, fmt.Errorf("list incidents: %w", err)
	}
	var w filter
	if len(f.States) > 0 {
		w.where(s.d.In("state", w.arg(s.d.List(strs(f.States)))))
	}
	if f.Dept != "" {
		w.where("id IN (SELECT incident_id FROM incident_depts WHERE dept = " + w.arg(f.Dept) + ")")
	}
	q := `SELECT doc FROM incidents` + w.clause() + ` ORDER BY opened_at DESC, id DESC` + w.limit(f.Limit)
	out, err := listDocs[incidents.Incident](ctx, s, s.c.Read, kindIncident, q, w.args...)
	if err != nil {
		return nil, fmt.Errorf("list incidents: %w", err)
	}
	return out, nil
}

// ListTasks returns the tasks matching f, the soonest deadline first (then
// by id). It returns an error with code invalid when f.Limit is negative,
// and the database's error (translated) when the query fails.
func (s *Store) ListTasks(ctx context.Context, f incidents.TaskFilter) ([]incidents.Task, error) {
	if err := checkListLimit(f.Limit); err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	var w filter
	if f.Dept != "" {
		w.where("dept = " + w.arg(f.Dept))
	}
	if f.IncidentID != "" {
		w.where("incident_id = " + w.arg(f.IncidentID))
	}
	if len(f.States) > 0 {
		w.where(s.d.In("state", w.arg(s.d.List(strs(f.States)))))
	}
	q := `SELECT doc FROM tasks` + w.clause() + ` ORDER BY deadline, id` + w.limit(f.Limit)
	out, err := listDocs[incidents.Task](ctx, s, s.c.Read, kindTask, q, w.args...)
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	return out, nil
}

// PendingTimers returns the timers of the task taskID that have not fired,
// the soonest first (then by id). It returns the database's error
// (translated) when the query fails.
func (s *Store) PendingTimers(ctx context.Context, taskID string) ([]incidents.Timer, error) {
	rows, err := s.c.Read.QueryContext(ctx, s.q(`SELECT `+timerColumns+` FROM timers
		WHERE task_id = $1 AND fired_at IS NULL ORDER BY due_at, id`), taskID)
	out, err := collect(s, rows, err, func(r *sql.Rows) (incidents.Timer, error) { return scanTimer(r) })
	if err != nil {
		return nil, fmt.Errorf("pending timers: %w", err)
	}
	return out, nil
}

// workTx is the incidents.Tx of one write transaction: reads and writes go
// through it, and appended events wait in events for the commit. It is not
// safe for concurrent use.
type workTx struct {
	s      *Store
	tx     Tx
	events []Event
}

var _ incidents.Tx = (*workTx)(nil)

// Incident returns the incident with the given id as the transaction sees
// it, locking it on Postgres until the transaction ends. It returns an error
// with code not_found when there is none.
func (w *workTx) Incident(ctx context.Context, id string) (incidents.Incident, error) {
	return getDoc[incidents.Incident](ctx, w.s, w.tx, `SELECT doc FROM incidents WHERE id = $1`+w.s.d.ForUpdate,
		kindIncident, id)
}

// PutIncident stores inc, read at version prev (0 to create it), with its
// departments. It returns an error with code invalid when inc has no id or
// inc.Version is not prev+1, code conflict (field "id") when creating an
// incident whose id exists, and code version_conflict (field "version")
// when the stored incident is not at version prev or does not exist. A
// refused put leaves the transaction usable.
func (w *workTx) PutIncident(ctx context.Context, inc incidents.Incident, prev int64) error {
	const kind = kindIncident
	if err := checkPut(kind, inc.ID, inc.Version, prev); err != nil {
		return err
	}
	doc, err := json.Marshal(inc)
	if err != nil {
		return fmt.Errorf("put incident %s: %w", inc.ID, err)
	}
	s, d := w.s, w.s.d
	args := []any{inc.ID, inc.Version, string(inc.State), int(inc.Grade), d.Time(inc.OpenedAt), d.Time(inc.UpdatedAt), string(doc)}
	q := `INSERT INTO incidents (id, version, state, grade, opened_at, updated_at, doc)
		VALUES ($1, $2, $3, $4, $5, $6, ` + d.JSON("$7") + `) ON CONFLICT (id) DO NOTHING`
	if prev > 0 {
		q = `UPDATE incidents SET version = $2, state = $3, grade = $4, opened_at = $5, updated_at = $6,
			doc = ` + d.JSON("$7") + ` WHERE id = $1 AND version = $8`
		args = append(args, prev)
	}
	res, err := w.tx.ExecContext(ctx, s.q(q), args...)
	if err := w.putResult(ctx, res, err, kind, `SELECT version FROM incidents WHERE id = $1`, inc.ID, prev); err != nil {
		return err
	}
	depts := unique(inc.Departments)
	if prev == 0 && len(depts) == 0 {
		return nil
	}
	list := d.List(depts)
	if _, err := w.tx.ExecContext(ctx, s.q(`DELETE FROM incident_depts
		WHERE incident_id = $1 AND NOT (`+d.In("dept", "$2")+`)`), inc.ID, list); err != nil {
		return fmt.Errorf("put incident %s: %w", inc.ID, s.translate(err))
	}
	if _, err := w.tx.ExecContext(ctx, s.q(`INSERT INTO incident_depts (dept, incident_id)
		SELECT value, $1 FROM `+d.Each("$2")+` WHERE true ON CONFLICT DO NOTHING`), inc.ID, list); err != nil {
		return fmt.Errorf("put incident %s: %w", inc.ID, s.translate(err))
	}
	return nil
}

// putResult turns the outcome of a versioned insert or update into the put's
// error: a write that changed no row refused the put, and versionQuery tells
// why.
func (w *workTx) putResult(ctx context.Context, res sql.Result, err error, kind, versionQuery, id string, prev int64) error {
	if err != nil {
		return fmt.Errorf("put %s %s: %w", kind, id, w.s.translate(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("put %s %s: %w", kind, id, err)
	}
	if n > 0 {
		return nil
	}
	if prev == 0 {
		return exists(kind, id)
	}
	var stored int64
	if err := w.tx.QueryRowContext(ctx, w.s.q(versionQuery), id).Scan(&stored); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("put %s %s: %w", kind, id, w.s.translate(err))
	}
	return stale(kind, id, prev, stored)
}

// ActiveIncidents returns the open and confirmed incidents, the oldest
// first, locking them on Postgres until the transaction ends. It returns the
// database's error (translated) when the query fails.
func (w *workTx) ActiveIncidents(ctx context.Context) ([]incidents.Incident, error) {
	d := w.s.d
	out, err := listDocs[incidents.Incident](ctx, w.s, w.tx, kindIncident,
		`SELECT doc FROM incidents WHERE `+d.In("state", "$1")+` ORDER BY opened_at, id`+d.ForUpdate,
		d.List([]string{string(incidents.IncidentOpen), string(incidents.IncidentConfirmed)}))
	if err != nil {
		return nil, fmt.Errorf("active incidents: %w", err)
	}
	return out, nil
}

// IncidentsOfCalls maps each of callIDs that is attached to an incident to
// that incident's id. It returns the database's error (translated) when the
// query fails.
func (w *workTx) IncidentsOfCalls(ctx context.Context, callIDs []string) (map[string]string, error) {
	out := make(map[string]string, len(callIDs))
	if len(callIDs) == 0 {
		return out, nil
	}
	rows, err := w.tx.QueryContext(ctx, w.s.q(`SELECT call_id, incident_id FROM incident_calls
		WHERE `+w.s.d.In("call_id", "$1")), w.s.d.List(callIDs))
	_, err = collect(w.s, rows, err, func(r *sql.Rows) (struct{}, error) {
		var call, inc string
		err := r.Scan(&call, &inc)
		out[call] = inc
		return struct{}{}, err
	})
	if err != nil {
		return nil, fmt.Errorf("incidents of calls: %w", err)
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
	ids := unique(callIDs)
	if len(ids) == 0 {
		return nil
	}
	if _, err := w.tx.ExecContext(ctx, w.s.q(`INSERT INTO incident_calls (call_id, incident_id)
		SELECT value, $1 FROM `+w.s.d.Each("$2")+` WHERE true
		ON CONFLICT (call_id) DO UPDATE SET incident_id = excluded.incident_id`), incidentID, w.s.d.List(ids)); err != nil {
		return fmt.Errorf("attach calls to %s: %w", incidentID, w.s.translate(err))
	}
	return nil
}

// Task returns the task with the given id as the transaction sees it,
// locking it on Postgres until the transaction ends. It returns an error
// with code not_found when there is none.
func (w *workTx) Task(ctx context.Context, id string) (incidents.Task, error) {
	return getDoc[incidents.Task](ctx, w.s, w.tx, `SELECT doc FROM tasks WHERE id = $1`+w.s.d.ForUpdate,
		kindTask, id)
}

// PutTask stores t, read at version prev (0 to create it). It returns an
// error with code invalid when t has no id or t.Version is not prev+1, code
// conflict (field "id") when creating a task whose id exists, and code
// version_conflict (field "version") when the stored task is not at version
// prev or does not exist. A refused put leaves the transaction usable.
func (w *workTx) PutTask(ctx context.Context, t incidents.Task, prev int64) error {
	const kind = kindTask
	if err := checkPut(kind, t.ID, t.Version, prev); err != nil {
		return err
	}
	doc, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("put task %s: %w", t.ID, err)
	}
	d := w.s.d
	args := []any{t.ID, t.IncidentID, t.Dept, string(t.State), t.Version,
		d.Time(t.DispatchedAt), d.Time(t.Deadline), d.Time(t.UpdatedAt), string(doc)}
	q := `INSERT INTO tasks (id, incident_id, dept, state, version, dispatched_at, deadline, updated_at, doc)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, ` + d.JSON("$9") + `) ON CONFLICT (id) DO NOTHING`
	if prev > 0 {
		q = `UPDATE tasks SET incident_id = $2, dept = $3, state = $4, version = $5,
			dispatched_at = $6, deadline = $7, updated_at = $8, doc = ` + d.JSON("$9") + `
			WHERE id = $1 AND version = $10`
		args = append(args, prev)
	}
	res, err := w.tx.ExecContext(ctx, w.s.q(q), args...)
	return w.putResult(ctx, res, err, kind, `SELECT version FROM tasks WHERE id = $1`, t.ID, prev)
}

// TasksOfIncident returns the tasks of the incident incidentID, the first
// dispatched first (then by id), locking them on Postgres until the
// transaction ends. It returns the database's error (translated) when the
// query fails.
func (w *workTx) TasksOfIncident(ctx context.Context, incidentID string) ([]incidents.Task, error) {
	out, err := listDocs[incidents.Task](ctx, w.s, w.tx, kindTask,
		`SELECT doc FROM tasks WHERE incident_id = $1 ORDER BY dispatched_at, id`+w.s.d.ForUpdate, incidentID)
	if err != nil {
		return nil, fmt.Errorf("tasks of incident %s: %w", incidentID, err)
	}
	return out, nil
}

// SetTimers deletes the timers of the task taskID that have not fired and
// stores timers in their place, with new ids; their times are kept to the
// microsecond, in UTC. A timer being fired in this transaction is already
// marked fired, so it stays; on Postgres, one that another transaction is
// firing is passed over rather than waited for (so that a task action never
// waits on a firing, which waits on the task), and stays if that firing
// fails. It returns an error with code invalid when taskID is empty, a timer
// names another task or has no kind.
func (w *workTx) SetTimers(ctx context.Context, taskID string, timers []incidents.Timer) error {
	if err := checkTimers(taskID, timers); err != nil {
		return err
	}
	s, d := w.s, w.s.d
	if _, err := w.tx.ExecContext(ctx, s.q(`DELETE FROM timers WHERE id IN (
		SELECT id FROM timers WHERE task_id = $1 AND fired_at IS NULL`+d.SkipLocked+`)`), taskID); err != nil {
		return fmt.Errorf("set timers of task %s: %w", taskID, s.translate(err))
	}
	if len(timers) == 0 {
		return nil
	}
	f := filter{args: []any{taskID}}
	rows := make([]string, len(timers))
	for i, t := range timers {
		rows[i] = "($1, " + f.arg(t.Kind) + ", " + f.arg(d.Time(t.DueAt.Truncate(time.Microsecond))) + ", " + f.arg(t.Attempt) + ")"
	}
	if _, err := w.tx.ExecContext(ctx, s.q(`INSERT INTO timers (task_id, kind, due_at, attempt) VALUES `+
		strings.Join(rows, ", ")), f.args...); err != nil {
		return fmt.Errorf("set timers of task %s: %w", taskID, s.translate(err))
	}
	return nil
}

// Call returns the call with the given id. It returns an error with code
// not_found when there is none.
func (w *workTx) Call(ctx context.Context, id string) (incidents.Call, error) {
	c, err := w.s.call(ctx, w.tx, id)
	if errors.Is(err, sql.ErrNoRows) {
		return incidents.Call{}, notFound("call", id)
	}
	if err != nil {
		return incidents.Call{}, fmt.Errorf("get call %s: %w", id, w.s.translate(err))
	}
	return c, nil
}

// Append adds e to the events stored at commit. It returns an error with
// code invalid when e has no type or its data cannot be encoded as JSON.
func (w *workTx) Append(ctx context.Context, e incidents.EventInput) error {
	enc, err := encode(e)
	if err != nil {
		return err
	}
	w.events = append(w.events, enc)
	return nil
}
