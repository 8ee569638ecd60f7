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

	"flare/incidents"
	"flare/incidents/internal/callbatch"
)

// callColumns are the columns scanCall reads, in its order.
const callColumns = `id, seq, received_at, recorded_at, lat, lon, address, category,
	description, urgent, caller, actor, coalesce(idempotency_key, ''), request_hash`

// scanCall reads one row of callColumns.
func scanCall(row pgx.Row) (callbatch.Stored, error) {
	var s callbatch.Stored
	c := &s.Call
	err := row.Scan(&c.ID, &c.Seq, &c.ReceivedAt, &c.RecordedAt, &c.Lat, &c.Lon, &c.Address, &c.Category,
		&c.Description, &c.Urgent, &c.Caller, &c.Actor, &s.IdempotencyKey, &s.RequestHash)
	c.ReceivedAt = c.ReceivedAt.UTC()
	c.RecordedAt = c.RecordedAt.UTC()
	return s, err
}

// maxAttempts bounds the retries of a CreateCalls transaction that lost a
// race for an id or idempotency key to a concurrent one.
const maxAttempts = 5

// CreateCalls stores a batch of calls with their call.received events in one
// transaction, as incidents.Store documents. When a concurrent transaction
// (of any node) stores the same id or idempotency key first, the batch is
// decided again against it. It returns an error for the whole batch (nothing
// stored) when a call has no ID (code invalid), the database cannot be
// reached (code unavailable), ctx ends, or the write fails.
func (s *Store) CreateCalls(ctx context.Context, calls []incidents.NewCall) ([]incidents.CreateResult, error) {
	if len(calls) == 0 {
		return []incidents.CreateResult{}, nil
	}
	if err := callbatch.Validate(calls); err != nil {
		return nil, fmt.Errorf("create calls: %w", err)
	}
	for attempt := 1; ; attempt++ {
		plan, last, err := s.createCalls(ctx, calls)
		if err == nil {
			if len(plan.Create) > 0 {
				s.noteCommitted(last)
			}
			return plan.Results, nil
		}
		if !isUniqueViolation(err) || attempt == maxAttempts || ctx.Err() != nil {
			return nil, fmt.Errorf("create calls: %w", translate(err))
		}
	}
}

// createCalls runs the transaction of CreateCalls and returns its plan and
// the last seq it allocated.
func (s *Store) createCalls(ctx context.Context, calls []incidents.NewCall) (plan callbatch.Plan, last int64, err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return plan, 0, err
	}
	defer tx.Rollback(ctx) // after Commit, a no-op

	ids, keys := callbatch.Lookups(calls)
	rows, err := tx.Query(ctx, `SELECT `+callColumns+` FROM calls
		WHERE id = ANY($1) OR idempotency_key = ANY($2)`, ids, keys)
	if err != nil {
		return plan, 0, err
	}
	stored, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (callbatch.Stored, error) {
		return scanCall(row)
	})
	if err != nil {
		return plan, 0, err
	}
	plan = callbatch.Decide(calls, stored)
	n := len(plan.Create)
	if n == 0 {
		return plan, 0, tx.Commit(ctx)
	}

	// Allocate the seqs last: the counter's row lock, held until commit,
	// makes the next writer wait until this transaction is visible.
	if err := tx.QueryRow(ctx, `UPDATE event_counter SET last = last + $1 RETURNING last`, n).Scan(&last); err != nil {
		return plan, 0, err
	}
	plan.SetSeqs(last - int64(n) + 1)

	var (
		seqs               = make([]int64, n)
		ats, received      = make([]time.Time, n), make([]time.Time, n)
		actors, data       = make([]string, n), make([]string, n)
		callIDs, addresses = make([]string, n), make([]string, n)
		categories, descs  = make([]string, n), make([]string, n)
		callers, hashes    = make([]string, n), make([]string, n)
		lats, lons         = make([]float64, n), make([]float64, n)
		urgents            = make([]bool, n)
		idemKeys           = make([]*string, n)
	)
	for k, i := range plan.Create {
		c := plan.Results[i].Call
		b, err := json.Marshal(c)
		if err != nil {
			return plan, 0, err
		}
		seqs[k], ats[k], actors[k], data[k] = c.Seq, c.RecordedAt, c.Actor, string(b)
		callIDs[k], received[k], lats[k], lons[k] = c.ID, c.ReceivedAt, c.Lat, c.Lon
		addresses[k], categories[k], descs[k], urgents[k] = c.Address, c.Category, c.Description, c.Urgent
		callers[k], hashes[k] = c.Caller, calls[i].RequestHash
		if key := calls[i].IdempotencyKey; key != "" {
			idemKeys[k] = &key
		}
	}
	batch := &pgx.Batch{}
	batch.Queue(`INSERT INTO events (seq, type, at, actor, data)
		SELECT u.seq, $2, u.at, u.actor, u.data::jsonb
		FROM unnest($1::bigint[], $3::timestamptz[], $4::text[], $5::text[]) AS u (seq, at, actor, data)`,
		seqs, incidents.EventCallReceived, ats, actors, data)
	batch.Queue(`INSERT INTO calls (id, seq, received_at, recorded_at, lat, lon, address, category,
			description, urgent, caller, actor, idempotency_key, request_hash)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::timestamptz[],
			$5::float8[], $6::float8[], $7::text[], $8::text[], $9::text[], $10::bool[],
			$11::text[], $12::text[], $13::text[], $14::text[])`,
		callIDs, seqs, received, ats, lats, lons, addresses, categories, descs, urgents,
		callers, actors, idemKeys, hashes)
	batch.Queue(`SELECT pg_notify($1, $2)`, notifyChannel, strconv.FormatInt(last, 10))
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return plan, 0, err
	}
	return plan, last, tx.Commit(ctx)
}

// GetCall returns the call with the given id. It returns an error wrapping
// incidents.ErrNotFound (code not_found) when there is none, and one with
// code unavailable when the database cannot be reached.
func (s *Store) GetCall(ctx context.Context, id string) (incidents.Call, error) {
	st, err := scanCall(s.pool.QueryRow(ctx, `SELECT `+callColumns+` FROM calls WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return incidents.Call{}, fmt.Errorf("call %q: %w", id, incidents.ErrNotFound)
	}
	if err != nil {
		return incidents.Call{}, fmt.Errorf("get call %q: %w", id, translate(err))
	}
	return st.Call, nil
}

// ListCalls returns up to f.Limit calls matching f, ordered by
// (received_at DESC, id DESC), starting after the cursor f.After. It returns
// an error with code invalid when f.Limit is below 1, one with code
// unavailable when the database cannot be reached, and the database's error
// when the query fails.
func (s *Store) ListCalls(ctx context.Context, f incidents.CallFilter) ([]incidents.Call, error) {
	if f.Limit < 1 {
		return nil, fmt.Errorf("list calls: %w",
			incidents.FieldError(incidents.CodeInvalid, "limit", "limit must be at least 1, got %d", f.Limit))
	}
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if !f.From.IsZero() {
		where = append(where, "received_at >= "+arg(f.From))
	}
	if !f.To.IsZero() {
		where = append(where, "received_at < "+arg(f.To))
	}
	if len(f.Categories) > 0 {
		where = append(where, "category = ANY("+arg(f.Categories)+")")
	}
	if b := f.BBox; b != nil {
		where = append(where, "lat BETWEEN "+arg(b.MinLat)+" AND "+arg(b.MaxLat)+
			" AND lon BETWEEN "+arg(b.MinLon)+" AND "+arg(b.MaxLon))
	}
	if a := f.After; a != nil {
		where = append(where, "(received_at, id) < ("+arg(a.ReceivedAt)+", "+arg(a.ID)+")")
	}
	q := `SELECT ` + callColumns + ` FROM calls`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY received_at DESC, id DESC LIMIT " + arg(f.Limit)
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list calls: %w", translate(err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (incidents.Call, error) {
		st, err := scanCall(row)
		return st.Call, err
	})
	if err != nil {
		return nil, fmt.Errorf("list calls: %w", translate(err))
	}
	if out == nil {
		out = []incidents.Call{}
	}
	return out, nil
}
