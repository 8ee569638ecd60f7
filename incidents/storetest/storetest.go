// Package storetest is the conformance suite every incidents.Store adapter
// passes: Run for the behaviour of one store, RunNodes for several store
// instances sharing one database (as several hub nodes or processes do), and
// BenchmarkCreateCalls for the figures in docs/BENCHMARKS.md.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"flare/incidents"
)

// Run runs the conformance suite. open must return an empty, migrated store
// of its own (a fresh file or database) for each call, and close it when t
// ends.
func Run(t *testing.T, open func(t *testing.T) incidents.Store) {
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, open) })
	t.Run("Idempotency", func(t *testing.T) { testIdempotency(t, open) })
	t.Run("BatchFailure", func(t *testing.T) { testBatchFailure(t, open) })
	t.Run("Events", func(t *testing.T) { testEvents(t, open) })
	t.Run("ReadEvents", func(t *testing.T) { testReadEvents(t, open) })
	t.Run("WaitEvents", func(t *testing.T) { testWaitEvents(t, open) })
	t.Run("ListCalls", func(t *testing.T) { testListCalls(t, open) })
	t.Run("ListCallsPaging", func(t *testing.T) { testListCallsPaging(t, open) })
	t.Run("NotFound", func(t *testing.T) { testNotFound(t, open) })
	t.Run("CloseEndsWaits", func(t *testing.T) { testCloseEndsWaits(t, open) })
	t.Run("CallAudience", func(t *testing.T) { testCallAudience(t, open) })
	t.Run("ListCallsTimeRange", func(t *testing.T) { testListCallsTimeRange(t, open) })
}

// shanghai is the zone the hotline works in; inputs use it so that tests see
// the stores return UTC.
var shanghai = time.FixedZone("CST", 8*60*60)

// base is the reference time of the fixtures, at microsecond precision as
// the domain stores it.
var base = time.Date(2026, 7, 1, 8, 30, 15, 123456000, shanghai)

// newCall returns a valid NewCall with the given id, received at, with no
// idempotency key and a request hash derived from id.
func newCall(id string, at time.Time) incidents.NewCall {
	return incidents.NewCall{
		Call: incidents.Call{
			ID:         id,
			ReceivedAt: at,
			RecordedAt: at.Add(1500 * time.Microsecond),
			Lat:        22.2707,
			Lon:        113.5767,
			Category:   "waterlogging",
			Actor:      "agent-7",
		},
		RequestHash: "hash-" + id,
	}
}

// ctxFor returns a context that ends with tb, bounded so that a hung store
// fails the test rather than the whole run.
func ctxFor(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

// mustCreate stores calls in one batch and fails tb on a batch error or an
// item error.
func mustCreate(tb testing.TB, s incidents.Store, calls ...incidents.NewCall) []incidents.CreateResult {
	tb.Helper()
	res, err := s.CreateCalls(ctxFor(tb), calls)
	if err != nil {
		tb.Fatalf("CreateCalls(%d calls) = %v, want no error", len(calls), err)
	}
	if len(res) != len(calls) {
		tb.Fatalf("CreateCalls(%d calls) returned %d results, want %d", len(calls), len(res), len(calls))
	}
	for i, r := range res {
		if r.Err != nil {
			tb.Fatalf("CreateCalls(%d calls)[%d].Err = %v, want nil", len(calls), i, r.Err)
		}
	}
	return res
}

// mustLastSeq returns s.LastSeq and fails tb on error.
func mustLastSeq(tb testing.TB, s incidents.Store) int64 {
	tb.Helper()
	last, err := s.LastSeq(ctxFor(tb))
	if err != nil {
		tb.Fatalf("LastSeq() = %v, want no error", err)
	}
	return last
}

// mustReadAll returns every event of s and fails tb on error.
func mustReadAll(tb testing.TB, s incidents.Store) []incidents.Event {
	tb.Helper()
	var all []incidents.Event
	for after := int64(0); ; {
		evs, err := s.ReadEvents(ctxFor(tb), after, 500)
		if err != nil {
			tb.Fatalf("ReadEvents(%d, 500) = %v, want no error", after, err)
		}
		if len(evs) == 0 {
			return all
		}
		all = append(all, evs...)
		after = evs[len(evs)-1].Seq
	}
}

// diffCall describes how got differs from want, field by field, or returns
// "" when they are equal. Times must be equal instants and in UTC.
func diffCall(got, want incidents.Call) string {
	var d string
	add := func(field string, g, w any) { d += fmt.Sprintf("\n\t%s: got %v, want %v", field, g, w) }
	if got.ID != want.ID {
		add("ID", got.ID, want.ID)
	}
	if got.Seq != want.Seq {
		add("Seq", got.Seq, want.Seq)
	}
	if !got.ReceivedAt.Equal(want.ReceivedAt) || got.ReceivedAt.Location() != time.UTC {
		add("ReceivedAt", got.ReceivedAt, want.ReceivedAt.UTC())
	}
	if !got.RecordedAt.Equal(want.RecordedAt) || got.RecordedAt.Location() != time.UTC {
		add("RecordedAt", got.RecordedAt, want.RecordedAt.UTC())
	}
	if got.Lat != want.Lat {
		add("Lat", got.Lat, want.Lat)
	}
	if got.Lon != want.Lon {
		add("Lon", got.Lon, want.Lon)
	}
	if got.Address != want.Address {
		add("Address", got.Address, want.Address)
	}
	if got.Category != want.Category {
		add("Category", got.Category, want.Category)
	}
	if got.Description != want.Description {
		add("Description", got.Description, want.Description)
	}
	if got.Urgent != want.Urgent {
		add("Urgent", got.Urgent, want.Urgent)
	}
	if got.Caller != want.Caller {
		add("Caller", got.Caller, want.Caller)
	}
	if got.Actor != want.Actor {
		add("Actor", got.Actor, want.Actor)
	}
	return d
}

// errorIs reports whether err carries an *incidents.Error with the given
// code and field.
func errorIs(err error, code, field string) bool {
	var e *incidents.Error
	return errors.As(err, &e) && e.Code == code && e.Field == field
}

// eventCall decodes the call carried by a call.received event, failing tb
// when it does not decode.
func eventCall(tb testing.TB, e incidents.Event) incidents.Call {
	tb.Helper()
	var c incidents.Call
	if err := json.Unmarshal(e.Data, &c); err != nil {
		tb.Fatalf("json.Unmarshal(event %d data %s) = %v, want a call", e.Seq, e.Data, err)
	}
	return c
}

// Opened returns the store open returns, closed when tb ends; it fails tb
// when open or the Close fails.
func Opened[S interface{ Close() error }](tb testing.TB, open func(ctx context.Context) (S, error)) S {
	tb.Helper()
	s, err := open(ctxFor(tb))
	if err != nil {
		tb.Fatalf("Open() = %v, want no error", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close() = %v, want no error", err)
		}
	})
	return s
}

// Migrated applies s's migrations, failing tb on error, and returns s.
func Migrated[S interface {
	MigrateUp(ctx context.Context) error
}](tb testing.TB, s S) S {
	tb.Helper()
	if err := s.MigrateUp(ctxFor(tb)); err != nil {
		tb.Fatalf("MigrateUp() = %v, want no error", err)
	}
	return s
}
