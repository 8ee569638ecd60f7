package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"flare/incidents"
	"flare/incidents/sqlstore"
)

// Every Update and every timer firing is one transaction at READ COMMITTED,
// on database/sql over the pool. Reads of incidents and tasks in a
// transaction lock the rows they return (SELECT ... FOR UPDATE), so that
// concurrent transactions on the same records, on any node, take turns;
// versioned writes check the version read. Transactions that lock the same
// records in opposite orders may deadlock: Postgres then aborts one, which
// fails with code unavailable ("try again").

// beginWrite begins a transaction of the workflow or the users. It returns
// an error with code unavailable when the database cannot be reached.
func (s *Store) beginWrite(ctx context.Context) (sqlstore.Tx, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, translate(err)
	}
	return tx, nil
}

// appendEvents stores the events of a transaction in one statement that
// takes their seqs from the event counter (whose row lock, held until
// commit, orders seqs with commits across nodes), with the time at and
// their origin, and announces the last seq to every node's listener.
func (s *Store) appendEvents(ctx context.Context, tx sqlstore.Tx, events []sqlstore.Event, at time.Time) ([]incidents.Event, error) {
	n := len(events)
	types, actors := make([]string, n), make([]string, n)
	data, origins, audiences := make([]string, n), make([]string, n), make([]string, n)
	for i, e := range events {
		types[i], actors[i], data[i], origins[i], audiences[i] = e.Type, e.Actor, string(e.Data), e.Origin, e.AudienceJSON
	}
	// The counter's row lock, taken by the UPDATE, is held until commit:
	// the next writer allocates only once this transaction is visible. The
	// notification, sent at commit, is made by the UPDATE too: a join would
	// multiply the planner's guesses of the rows of the CTEs until JIT
	// compilation costs more than the statement.
	rows, err := tx.QueryContext(ctx, `WITH counter AS (
			UPDATE event_counter SET last = last + $1
			RETURNING last - $1 AS base, pg_notify('`+notifyChannel+`', last::text)
		), new_events AS (
			INSERT INTO events (seq, type, at, actor, data, origin, audience)
			SELECT counter.base + u.ord, u.type, $2, u.actor, u.data::jsonb, u.origin, u.audience::jsonb
			FROM counter, unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
				WITH ORDINALITY AS u (type, actor, data, origin, audience, ord)
			RETURNING seq, type, actor, data
		)
		SELECT seq, type, actor, data::text FROM new_events ORDER BY seq`,
		n, at, types, actors, data, origins, audiences)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	// The rows come in seq order, which is the order of events.
	evs := make([]incidents.Event, 0, n)
	for rows.Next() && len(evs) < n {
		e := incidents.Event{At: at, Audience: events[len(evs)].Audience}
		var data string
		if err := rows.Scan(&e.Seq, &e.Type, &e.Actor, &data); err != nil {
			return nil, err
		}
		e.Data = json.RawMessage(data)
		evs = append(evs, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(evs) != n {
		return nil, fmt.Errorf("stored %d events of %d", len(evs), n)
	}
	return evs, nil
}
