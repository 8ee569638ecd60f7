package api_test

import (
	"context"
	"testing"

	"flare/api"
	"flare/incidents"
)

// The workflow's transactions are timed as op "update" (how long the
// tracker and the commands take, waiting for the store's writer included),
// failed ones too; its other operations as InstrumentStore times them.
func TestWorkflowStoreRecordsUpdatesAndCalls(t *testing.T) {
	ctx := context.Background()
	m := api.NewMetrics()
	ws := api.InstrumentWorkflowStore(api.OpenTestStore(t), m)
	evs, err := ws.Update(ctx, func(ctx context.Context, tx incidents.Tx) error {
		return tx.Append(ctx, incidents.EventInput{Type: "test.event", Actor: "system", Data: map[string]int{"n": 1}})
	})
	if err != nil || len(evs) != 1 {
		t.Fatalf("Update = %v, %v; want one event", evs, err)
	}
	if _, err := ws.Update(ctx, func(ctx context.Context, tx incidents.Tx) error { return context.Canceled }); err == nil {
		t.Fatal("a failing Update returned no error")
	}
	if _, err := ws.ReadEvents(ctx, 0, 10); err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "flare_store_operation_duration_seconds" {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "op" {
					counts[l.GetValue()] = s.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	if counts["update"] != 2 || counts["read_events"] != 1 {
		t.Errorf("store operations recorded %v, want 2 updates and 1 read_events", counts)
	}
}
