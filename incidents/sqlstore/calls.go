package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"flare/incidents"
	"flare/incidents/internal/callbatch"
)

// CallColumns are the columns ScanCall reads, in its order.
const CallColumns = `id, seq, received_at, recorded_at, lat, lon, address, category,
	description, urgent, caller, actor, coalesce(idempotency_key, ''), request_hash`

// ScanCall reads one row of CallColumns, from database/sql or from a driver
// that scans into an sql.Scanner.
func ScanCall(row interface{ Scan(...any) error }) (callbatch.Stored, error) {
	var s callbatch.Stored
	c := &s.Call
	err := row.Scan(&c.ID, &c.Seq, timeDest{&c.ReceivedAt}, timeDest{&c.RecordedAt}, &c.Lat, &c.Lon, &c.Address,
		&c.Category, &c.Description, &c.Urgent, &c.Caller, &c.Actor, &s.IdempotencyKey, &s.RequestHash)
	return s, err
}

// GetCall returns the call with the given id. It returns an error wrapping
// incidents.ErrNotFound (code not_found) when there is none, and the
// database's error (translated) when the query fails.
func (s *Store) GetCall(ctx context.Context, id string) (incidents.Call, error) {
	c, err := s.call(ctx, s.c.Read, id)
	if errors.Is(err, sql.ErrNoRows) {
		return incidents.Call{}, fmt.Errorf("call %q: %w", id, incidents.ErrNotFound)
	}
	if err != nil {
		return incidents.Call{}, fmt.Errorf("get call %q: %w", id, s.translate(err))
	}
	return c, nil
}

// call reads the call id through q.
func (s *Store) call(ctx context.Context, q Querier, id string) (incidents.Call, error) {
	st, err := ScanCall(q.QueryRowContext(ctx, s.q(`SELECT `+CallColumns+` FROM calls WHERE id = $1`), id))
	return st.Call, err
}

// ListCalls returns up to f.Limit calls matching f, ordered by
// (received_at DESC, id DESC), starting after the cursor f.After. It returns
// an error with code invalid when f.Limit is below 1 (field "limit") or
// f.From or f.To is outside the times a store keeps (field "from" or "to",
// see CheckTime), and the database's error (translated) when the query
// fails.
func (s *Store) ListCalls(ctx context.Context, f incidents.CallFilter) ([]incidents.Call, error) {
	if err := first(checkLimit(f.Limit), CheckTime("from", f.From), CheckTime("to", f.To)); err != nil {
		return nil, fmt.Errorf("list calls: %w", err)
	}
	var w filter
	if !f.From.IsZero() {
		w.where("received_at >= " + w.arg(s.d.Time(f.From)))
	}
	if !f.To.IsZero() {
		w.where("received_at < " + w.arg(s.d.Time(f.To)))
	}
	if len(f.Categories) > 0 {
		w.where(s.d.In("category", w.arg(s.d.List(f.Categories))))
	}
	if b := f.BBox; b != nil {
		w.where("lat BETWEEN " + w.arg(b.MinLat) + " AND " + w.arg(b.MaxLat) +
			" AND lon BETWEEN " + w.arg(b.MinLon) + " AND " + w.arg(b.MaxLon))
	}
	if a := f.After; a != nil {
		w.where("(received_at, id) < (" + w.arg(s.d.Time(a.ReceivedAt)) + ", " + w.arg(a.ID) + ")")
	}
	q := `SELECT ` + CallColumns + ` FROM calls` + w.clause() +
		` ORDER BY received_at DESC, id DESC LIMIT ` + w.arg(f.Limit)
	rows, err := s.c.Read.QueryContext(ctx, s.q(q), w.args...)
	out, err := collect(s, rows, err, func(r *sql.Rows) (incidents.Call, error) {
		st, err := ScanCall(r)
		return st.Call, err
	})
	if err != nil {
		return nil, fmt.Errorf("list calls: %w", err)
	}
	return out, nil
}
