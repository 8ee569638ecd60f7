package api

import (
	"context"
	"time"

	"flare/incidents"
)

// InstrumentStore wraps a store so that each operation's latency is recorded
// in m (flare_store_operation_duration_seconds{op}).
func InstrumentStore(s incidents.Store, m *Metrics) incidents.Store {
	return &instrumentedStore{Store: s, m: m}
}

type instrumentedStore struct {
	incidents.Store
	m *Metrics
}

func (s *instrumentedStore) CreateCalls(ctx context.Context, calls []incidents.NewCall) ([]incidents.CreateResult, error) {
	defer s.m.ObserveStore("create_calls", time.Now())
	return s.Store.CreateCalls(ctx, calls)
}

func (s *instrumentedStore) GetCall(ctx context.Context, id string) (incidents.Call, error) {
	defer s.m.ObserveStore("get_call", time.Now())
	return s.Store.GetCall(ctx, id)
}

func (s *instrumentedStore) ListCalls(ctx context.Context, f incidents.CallFilter) ([]incidents.Call, error) {
	defer s.m.ObserveStore("list_calls", time.Now())
	return s.Store.ListCalls(ctx, f)
}

func (s *instrumentedStore) ReadEvents(ctx context.Context, after int64, limit int) ([]incidents.Event, error) {
	defer s.m.ObserveStore("read_events", time.Now())
	return s.Store.ReadEvents(ctx, after, limit)
}

// WorkflowStore is a store with the workflow's transactions, as the command
// workflow needs it.
type WorkflowStore interface {
	incidents.Store
	incidents.WorkflowStore
}

// InstrumentWorkflowStore is InstrumentStore for the workflow's store: it
// also records each Update (op "update"), whose latency includes waiting
// for the store's writer, which the intake's commits share on SQLite.
func InstrumentWorkflowStore(s WorkflowStore, m *Metrics) WorkflowStore {
	return &instrumentedWorkflowStore{instrumentedStore: &instrumentedStore{Store: s, m: m}, WorkflowStore: s}
}

// instrumentedWorkflowStore takes the Store's methods, timed, from
// instrumentedStore and the workflow's from WorkflowStore (the two sets are
// apart), Update timed.
type instrumentedWorkflowStore struct {
	*instrumentedStore
	incidents.WorkflowStore
}

func (s *instrumentedWorkflowStore) Update(ctx context.Context, fn func(ctx context.Context, tx incidents.Tx) error) ([]incidents.Event, error) {
	defer s.m.ObserveStore("update", time.Now())
	return s.WorkflowStore.Update(ctx, fn)
}
