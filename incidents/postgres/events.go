package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"flare/incidents"
	"flare/incidents/internal/eventwait"
)

// ReadEvents returns up to limit events with seq > after, in seq order. It
// returns an error with code invalid when limit is below 1, one with code
// unavailable when the database cannot be reached, and the database's error
// when the query fails.
func (s *Store) ReadEvents(ctx context.Context, after int64, limit int) ([]incidents.Event, error) {
	if limit < 1 {
		return nil, fmt.Errorf("read events: %w",
			incidents.FieldError(incidents.CodeInvalid, "limit", "limit must be at least 1, got %d", limit))
	}
	rows, err := s.pool.Query(ctx,
		`SELECT seq, type, at, actor, data FROM events WHERE seq > $1 ORDER BY seq LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", translate(err))
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (incidents.Event, error) {
		var (
			e    incidents.Event
			data []byte
		)
		err := row.Scan(&e.Seq, &e.Type, &e.At, &e.Actor, &data)
		e.At = e.At.UTC()
		e.Data = json.RawMessage(data)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("read events: %w", translate(err))
	}
	if out == nil {
		out = []incidents.Event{}
	}
	return out, nil
}

// LastSeq returns the highest committed seq, 0 when the log is empty. It
// returns an error with code unavailable when the database cannot be
// reached.
func (s *Store) LastSeq(ctx context.Context) (int64, error) {
	var last int64
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM events`).Scan(&last); err != nil {
		return 0, fmt.Errorf("last seq: %w", translate(err))
	}
	return last, nil
}

// WaitEvents blocks until an event with seq > after is committed, returning
// nil at once if one already is. It is woken by the notifications of every
// node's commits, and re-reads the log at least every poll interval in case
// one was lost. It returns ctx.Err() when ctx ends first, an error with code
// unavailable when the store is closed or the database cannot be reached,
// and the database's error when the log cannot be read.
func (s *Store) WaitEvents(ctx context.Context, after int64) error {
	return eventwait.Until(ctx, &s.signal, s.poll, s.closed, func(ctx context.Context) (bool, error) {
		if s.notified.Load() > after {
			return true, nil
		}
		last, err := s.LastSeq(ctx)
		return last > after, err
	})
}
