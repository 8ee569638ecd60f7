package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"flare/incidents"
	"flare/incidents/internal/callbatch"
	"flare/incidents/sqlstore"
)

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
				s.wake.Committed(last)
			}
			return plan.Results, nil
		}
		if !isUniqueViolation(err) || attempt == maxAttempts || ctx.Err() != nil {
			return nil, fmt.Errorf("create calls: %w", translate(err))
		}
	}
}

// createCalls decides the batch against the stored calls and writes the
// calls to create, with their events, in one statement, so in one
// transaction that allocates its seqs last. It returns the plan and the last
// seq allocated. A concurrent writer storing one of the ids or keys between
// the two steps makes the write fail with a unique violation, and nothing is
// stored.
func (s *Store) createCalls(ctx context.Context, calls []incidents.NewCall) (plan callbatch.Plan, last int64, err error) {
	var stored []callbatch.Stored
	if ids, keys := callbatch.Lookups(calls); len(ids) > 0 || len(keys) > 0 {
		rows, err := s.pool.Query(ctx, `SELECT `+sqlstore.CallColumns+` FROM calls
			WHERE id = ANY($1) OR idempotency_key = ANY($2)`, ids, keys)
		if err != nil {
			return plan, 0, err
		}
		stored, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (callbatch.Stored, error) {
			return sqlstore.ScanCall(row)
		})
		if err != nil {
			return plan, 0, err
		}
	}
	plan = callbatch.Decide(calls, stored)
	n := len(plan.Create)
	if n == 0 {
		return plan, 0, nil
	}

	var (
		received, recorded = make([]time.Time, n), make([]time.Time, n)
		data, callIDs      = make([]string, n), make([]string, n)
		lats, lons         = make([]float64, n), make([]float64, n)
		addresses, cats    = make([]string, n), make([]string, n)
		descs, callers     = make([]string, n), make([]string, n)
		actors, hashes     = make([]string, n), make([]string, n)
		urgents            = make([]bool, n)
		idemKeys           = make([]*string, n)
		audiences          = make([]string, n)
	)
	for k, i := range plan.Create {
		c := plan.Results[i].Call // Seq is set by the statement
		data[k], callIDs[k], received[k], recorded[k] = string(c.AppendJSON(nil)), c.ID, c.ReceivedAt, c.RecordedAt
		lats[k], lons[k], addresses[k], cats[k] = c.Lat, c.Lon, c.Address, c.Category
		descs[k], urgents[k], callers[k], actors[k] = c.Description, c.Urgent, c.Caller, c.Actor
		hashes[k], audiences[k] = calls[i].RequestHash, sqlstore.EncodeAudience(calls[i].Audience)
		if key := calls[i].IdempotencyKey; key != "" {
			idemKeys[k] = &key
		}
	}
	// The counter's row lock, taken by the UPDATE, is held until the
	// statement commits: the next writer allocates only once this one is
	// visible.
	err = s.pool.QueryRow(ctx, `WITH counter AS (
			UPDATE event_counter SET last = last + $1 RETURNING last - $1 AS base
		), u AS (
			SELECT counter.base + u.ord AS seq, u.*
			FROM counter, unnest($3::text[], $4::timestamptz[], $5::timestamptz[], $6::float8[],
				$7::float8[], $8::text[], $9::text[], $10::text[], $11::bool[], $12::text[],
				$13::text[], $14::text[], $15::text[], $16::text[], $17::text[])
				WITH ORDINALITY AS u (id, received_at, recorded_at, lat, lon, address, category,
					description, urgent, caller, actor, idempotency_key, request_hash, data, audience, ord)
		), new_events AS (
			INSERT INTO events (seq, type, at, actor, data, audience)
			SELECT seq, $2, recorded_at, actor, jsonb_set(data::jsonb, '{seq}', to_jsonb(seq)), audience::jsonb FROM u
		), new_calls AS (
			INSERT INTO calls (id, seq, received_at, recorded_at, lat, lon, address, category,
				description, urgent, caller, actor, idempotency_key, request_hash)
			SELECT id, seq, received_at, recorded_at, lat, lon, address, category,
				description, urgent, caller, actor, idempotency_key, request_hash FROM u
		)
		SELECT counter.base + $1 FROM counter, pg_notify('`+notifyChannel+`', (counter.base + $1)::text)`,
		n, incidents.EventCallReceived, callIDs, received, recorded, lats, lons, addresses, cats,
		descs, urgents, callers, actors, idemKeys, hashes, data, audiences).Scan(&last)
	if err != nil {
		return plan, 0, err
	}
	plan.SetSeqs(last - int64(n) + 1)
	return plan, last, nil
}
