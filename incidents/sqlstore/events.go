package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"flare/incidents"
	"flare/incidents/internal/eventwait"
)

// eventColumns are the columns scanEvent reads, in its order.
const eventColumns = `seq, type, at, actor, data, audience`

// scanEvent reads one row of eventColumns, then into more the columns that
// follow.
func scanEvent(row interface{ Scan(...any) error }, e *incidents.Event, more ...any) error {
	var data []byte
	err := row.Scan(append([]any{&e.Seq, &e.Type, timeDest{&e.At}, &e.Actor, &data, audienceDest{&e.Audience}}, more...)...)
	e.Data = json.RawMessage(data)
	return err
}

// ReadEvents returns up to limit events with seq > after, in seq order. It
// returns an error with code invalid when limit is below 1, and the
// database's error (translated) when the query fails.
func (s *Store) ReadEvents(ctx context.Context, after int64, limit int) ([]incidents.Event, error) {
	if err := checkLimit(limit); err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	rows, err := s.c.Read.QueryContext(ctx,
		s.q(`SELECT `+eventColumns+` FROM events WHERE seq > $1 ORDER BY seq LIMIT $2`), after, limit)
	out, err := collect(s, rows, err, func(r *sql.Rows) (incidents.Event, error) {
		var e incidents.Event
		return e, scanEvent(r, &e)
	})
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return out, nil
}

// LastSeq returns the highest committed seq, 0 when the log is empty. It
// returns the database's error (translated) when the query fails.
func (s *Store) LastSeq(ctx context.Context) (int64, error) {
	var last int64
	if err := s.c.Read.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM events`).Scan(&last); err != nil {
		return 0, fmt.Errorf("last seq: %w", s.translate(err))
	}
	return last, nil
}

// WaitEvents blocks until an event with seq > after is committed, returning
// nil at once if one already is. The adapter's commits, and those it is
// told of, wake it at once; others are seen within the poll interval. It
// returns ctx.Err() when ctx ends first, an error with code unavailable when
// the store is closed, and the database's error when it cannot be read.
func (s *Store) WaitEvents(ctx context.Context, after int64) error {
	w := s.c.Wake
	return eventwait.Until(ctx, &w.signal, s.c.Poll, s.c.Closed, func(ctx context.Context) (bool, error) {
		if w.committed.Load() > after {
			return true, nil
		}
		last, err := s.LastSeq(ctx)
		return last > after, err
	})
}

// Audit returns the events matching f with their origin, newest first: by
// actor (exactly), type prefix, time (From inclusive, To exclusive) and seq
// (below BeforeSeq). It returns an error with code invalid when f.Limit is
// negative (field "limit") or f.From or f.To is outside the times a store
// keeps (field "from" or "to"), and the database's error (translated) when
// the query fails.
func (s *Store) Audit(ctx context.Context, f incidents.AuditFilter) ([]incidents.AuditEntry, error) {
	if err := first(checkListLimit(f.Limit), CheckTime("from", f.From), CheckTime("to", f.To)); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	var w filter
	if f.Actor != "" {
		w.where("actor = " + w.arg(f.Actor))
	}
	if f.TypePrefix != "" {
		w.where(s.d.StartsWith("type", w.arg(f.TypePrefix)))
	}
	if !f.From.IsZero() {
		w.where("at >= " + w.arg(s.d.Time(f.From)))
	}
	if !f.To.IsZero() {
		w.where("at < " + w.arg(s.d.Time(f.To)))
	}
	if f.BeforeSeq > 0 {
		w.where("seq < " + w.arg(f.BeforeSeq))
	}
	q := `SELECT ` + eventColumns + `, origin FROM events` + w.clause() + ` ORDER BY seq DESC` + w.limit(f.Limit)
	rows, err := s.c.Read.QueryContext(ctx, s.q(q), w.args...)
	out, err := collect(s, rows, err, func(r *sql.Rows) (incidents.AuditEntry, error) {
		var e incidents.AuditEntry
		return e, scanEvent(r, &e.Event, &e.Origin)
	})
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return out, nil
}
