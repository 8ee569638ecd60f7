package sqlite

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"time"

	"flare/incidents"
	"flare/incidents/sqlstore"
)

// The write transactions of the workflow and the users go through the
// single writer connection, one at a time, behind the calls (writeGate):
// every Update and every timer firing is one serialised transaction.

// beginWrite waits for the writer's turn, then begins a write transaction
// on it (BEGIN IMMEDIATE, which takes the write lock), trying again while
// another process holds the lock, up to the busy timeout. The turn ends
// with the transaction's Rollback (which follows its Commit). It returns an
// error with code unavailable when the lock stays taken, ctx.Err() when ctx
// ends, and the database's error otherwise.
func (s *Store) beginWrite(ctx context.Context) (sqlstore.Tx, error) {
	if err := s.gate.acquire(ctx, false); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(s.busy)
	for {
		tx, err := s.writer.BeginTx(ctx, nil)
		if err == nil {
			return &writeTx{txq: txq{Tx: tx, c: s.wst}, gate: &s.gate}, nil
		}
		if ctx.Err() == nil && isBusy(err) && time.Now().Before(deadline) {
			err = pause(ctx)
		}
		if err != nil {
			s.gate.release()
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, translate(err)
		}
	}
}

// writeTx is a write transaction that holds the writer's turn until it is
// rolled back (a no-op after Commit).
type writeTx struct {
	txq
	gate  *writeGate
	ended bool
}

// Rollback rolls the transaction back, unless it committed, and ends the
// turn at the writer.
func (w *writeTx) Rollback() error {
	err := w.txq.Rollback()
	if !w.ended {
		w.ended = true
		w.gate.release()
	}
	return err
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

// appendEvents stores the events of a workflow transaction with the next
// seqs (the previous maximum plus one, under the write lock) and the time
// at, through one statement prepared for the transaction.
func (s *Store) appendEvents(ctx context.Context, stx sqlstore.Tx, events []sqlstore.Event, at time.Time) ([]incidents.Event, error) {
	tx := stx.(*writeTx)
	var last int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM events`).Scan(&last); err != nil {
		return nil, err
	}
	insert, err := tx.stmt(ctx, `INSERT INTO events (seq, type, at, actor, data, origin, audience) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return nil, err
	}
	defer insert.Close()
	evs := make([]incidents.Event, len(events))
	for i, e := range events {
		seq := last + 1 + int64(i)
		if _, err := insert.ExecContext(ctx, seq, e.Type, at.UnixNano(), e.Actor, string(e.Data), e.Origin, e.AudienceJSON); err != nil {
			return nil, err
		}
		evs[i] = incidents.Event{Seq: seq, Type: e.Type, At: at, Actor: e.Actor, Data: json.RawMessage(e.Data), Audience: e.Audience}
	}
	return evs, nil
}
