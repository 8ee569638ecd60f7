package sqlite

import (
	"context"
	"encoding/json"
	"fmt"

	"flare/incidents"
	"flare/incidents/internal/eventwait"
)

// ReadEvents returns up to limit events with seq > after, in seq order. It
// returns an error with code invalid when limit is below 1, and the
// database's error when the query fails.
func (s *Store) ReadEvents(ctx context.Context, after int64, limit int) ([]incidents.Event, error) {
	if limit < 1 {
		return nil, fmt.Errorf("read events: %w",
			incidents.FieldError(incidents.CodeInvalid, "limit", "limit must be at least 1, got %d", limit))
	}
	rows, err := s.rdb.QueryContext(ctx,
		`SELECT seq, type, at, actor, data FROM events WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", translate(err))
	}
	defer rows.Close()
	out := []incidents.Event{}
	for rows.Next() {
		var (
			e    incidents.Event
			at   int64
			data string
		)
		if err := rows.Scan(&e.Seq, &e.Type, &at, &e.Actor, &data); err != nil {
			return nil, fmt.Errorf("read events: %w", err)
		}
		e.At = fromNanos(at)
		e.Data = json.RawMessage(data)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read events: %w", translate(err))
	}
	return out, nil
}

// LastSeq returns the highest committed seq, 0 when the log is empty. It
// returns the database's error when the query fails.
func (s *Store) LastSeq(ctx context.Context) (int64, error) {
	var last int64
	if err := s.rdb.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM events`).Scan(&last); err != nil {
		return 0, fmt.Errorf("last seq: %w", translate(err))
	}
	return last, nil
}

// WaitEvents blocks until an event with seq > after is committed, returning
// nil at once if one already is. Commits by this Store wake it at once;
// commits by another process sharing the file are seen within the poll
// interval. It returns ctx.Err() when ctx ends first, an error with code
// unavailable when the store is closed, and the database's error when it
// cannot be read.
func (s *Store) WaitEvents(ctx context.Context, after int64) error {
	return eventwait.Until(ctx, &s.signal, s.poll, s.closed, func(ctx context.Context) (bool, error) {
		if s.committed.Load() > after {
			return true, nil
		}
		last, err := s.LastSeq(ctx)
		return last > after, err
	})
}

// noteCommitted records that events up to seq are committed and wakes the
// waiters.
func (s *Store) noteCommitted(seq int64) {
	for {
		cur := s.committed.Load()
		if seq <= cur || s.committed.CompareAndSwap(cur, seq) {
			break
		}
	}
	s.signal.Notify()
}
