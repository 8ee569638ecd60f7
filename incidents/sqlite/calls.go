package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"flare/incidents"
	"flare/incidents/internal/callbatch"
	"flare/incidents/sqlstore"
)

// CreateCalls stores a batch of calls with their call.received events in one
// transaction, as incidents.Store documents. Concurrent batches, also from
// other processes, are serialised. It returns an error for the whole batch
// (nothing stored) when a call has no ID (code invalid), another process
// keeps the database locked past the busy timeout (code unavailable), ctx
// ends (ctx.Err()), or the write fails.
func (s *Store) CreateCalls(ctx context.Context, calls []incidents.NewCall) ([]incidents.CreateResult, error) {
	if len(calls) == 0 {
		return []incidents.CreateResult{}, nil
	}
	if err := callbatch.Validate(calls); err != nil {
		return nil, fmt.Errorf("create calls: %w", err)
	}
	deadline := time.Now().Add(s.busy)
	var backoff busyBackoff
	for {
		plan, last, err := s.createCalls(ctx, calls)
		if err == nil {
			if len(plan.Create) > 0 {
				s.wake.Committed(last)
			}
			return plan.Results, nil
		}
		if !isBusy(err) || time.Now().After(deadline) {
			return nil, fmt.Errorf("create calls: %w", translate(err))
		}
		// Another process holds the write lock: try again shortly. The
		// transaction rolled back, so trying again is safe.
		if err := backoff.wait(ctx); err != nil {
			return nil, fmt.Errorf("create calls: %w", err)
		}
	}
}

// busyPause is the base pause between two attempts at a write transaction
// while another process holds the lock.
const busyPause = 500 * time.Microsecond

// busyBackoff paces the attempts at a write transaction while another
// process holds the lock: pauses grow from 200µs to 5ms, with jitter, short
// enough to catch the lock between the other's transactions, long enough
// not to spin. Its zero value is ready to use.
type busyBackoff struct {
	pause time.Duration
}

// wait pauses before the next attempt, or returns ctx.Err() when ctx ends
// first.
func (b *busyBackoff) wait(ctx context.Context) error {
	const minPause, maxPause = 200 * time.Microsecond, 5 * time.Millisecond
	if b.pause == 0 {
		b.pause = minPause
	}
	t := time.NewTimer(b.pause/2 + rand.N(b.pause))
	defer t.Stop()
	b.pause = min(2*b.pause, maxPause)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// createCalls runs the transaction of CreateCalls and returns its plan and
// the last seq it allocated.
func (s *Store) createCalls(ctx context.Context, calls []incidents.NewCall) (plan callbatch.Plan, last int64, err error) {
	if err := s.gate.acquire(ctx, true); err != nil {
		return plan, 0, err
	}
	defer s.gate.release()
	sqlTx, err := s.writer.BeginTx(ctx, nil) // BEGIN IMMEDIATE: takes the write lock
	if err != nil {
		return plan, 0, err
	}
	tx := txq{Tx: sqlTx, c: s.wst}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	stored, err := lookupCalls(ctx, tx, calls)
	if err != nil {
		return plan, 0, err
	}
	plan = callbatch.Decide(calls, stored)
	if len(plan.Create) == 0 {
		return plan, 0, tx.Commit()
	}
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM events`).Scan(&last); err != nil {
		return plan, 0, err
	}
	plan.SetSeqs(last + 1)
	// One multi-row INSERT per table and chunk, so that rows share their
	// statement.
	for from := 0; from < len(plan.Create); from += insertChunk {
		chunk := plan.Create[from:min(from+insertChunk, len(plan.Create))]
		events := make([]any, 0, 6*len(chunk))
		rows := make([]any, 0, 14*len(chunk))
		var data []byte
		for _, i := range chunk {
			c := plan.Results[i].Call
			data = c.AppendJSON(data[:0])
			events = append(events, c.Seq, incidents.EventCallReceived, c.RecordedAt.UnixNano(), c.Actor, string(data),
				sqlstore.EncodeAudience(calls[i].Audience))
			var key any // NULL without a key
			if k := calls[i].IdempotencyKey; k != "" {
				key = k
			}
			rows = append(rows, c.ID, c.Seq, c.ReceivedAt.UnixNano(), c.RecordedAt.UnixNano(), c.Lat, c.Lon,
				c.Address, c.Category, c.Description, c.Urgent, c.Caller, c.Actor, key, calls[i].RequestHash)
			last = c.Seq
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO events (seq, type, at, actor, data, audience) VALUES `+
			placeholders(len(chunk), 6), events...); err != nil {
			return plan, 0, err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO calls (id, seq, received_at, recorded_at,
			lat, lon, address, category, description, urgent, caller, actor, idempotency_key, request_hash)
			VALUES `+placeholders(len(chunk), 14), rows...); err != nil {
			return plan, 0, err
		}
	}
	return plan, last, tx.Commit()
}

// lookupCalls returns the stored calls whose id or idempotency key is one of
// those of calls.
func lookupCalls(ctx context.Context, tx txq, calls []incidents.NewCall) ([]callbatch.Stored, error) {
	ids, keys := callbatch.Lookups(calls)
	if len(ids) == 0 && len(keys) == 0 {
		return nil, nil
	}
	idsJSON, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	if keys == nil {
		keys = []string{}
	}
	keysJSON, err := json.Marshal(keys)
	if err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+sqlstore.CallColumns+` FROM calls
		WHERE id IN (SELECT value FROM json_each(?1))
		UNION
		SELECT `+sqlstore.CallColumns+` FROM calls
		WHERE idempotency_key IN (SELECT value FROM json_each(?2))`, string(idsJSON), string(keysJSON))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var stored []callbatch.Stored
	for rows.Next() {
		st, err := sqlstore.ScanCall(rows)
		if err != nil {
			return nil, err
		}
		stored = append(stored, st)
	}
	return stored, rows.Err()
}

// insertChunk is how many rows one INSERT of CreateCalls writes at most.
const insertChunk = 128

// placeholders returns n groups of k question marks: "(?, ?), (?, ?)".
func placeholders(n, k int) string {
	group := "(" + strings.Repeat("?, ", k-1) + "?)"
	return strings.Repeat(group+", ", n-1) + group
}
