package storetest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"flare/incidents"
)

// Schema is a store with its schema operations.
type Schema interface {
	incidents.Store
	MigrateUp(ctx context.Context) error
	MigrationStatus(ctx context.Context) ([]incidents.Migration, error)
	Ready(ctx context.Context) error
}

// RunMigrations checks MigrateUp, MigrationStatus and Ready. newDatabase
// must create an empty database of t's own, never migrated, and return a
// function that opens a store on it each time it is called, closed when t
// ends. nodes stores migrate it at once (1 where one process keeps a
// database), then the first migrates it again and finds nothing to do.
func RunMigrations(t *testing.T, nodes int, newDatabase func(t *testing.T) (open func() Schema)) {
	ctx := ctxFor(t)
	open := newDatabase(t)
	s := open()

	ms, err := s.MigrationStatus(ctx)
	if err != nil || len(ms) == 0 {
		t.Fatalf("MigrationStatus() before MigrateUp = %v, %v, want the migrations, pending", ms, err)
	}
	for _, m := range ms {
		if m.Applied || !m.AppliedAt.IsZero() || m.Version <= 0 || !strings.HasSuffix(m.Name, ".sql") {
			t.Errorf("MigrationStatus() before MigrateUp lists %+v, want a pending NNNNN_name.sql", m)
		}
	}
	err = s.Ready(ctx)
	if incidents.ErrorCode(err) != incidents.CodeUnavailable || !strings.Contains(err.Error(), ms[0].Name) {
		t.Errorf("Ready() before MigrateUp = %v, want unavailable naming %s", err, ms[0].Name)
	}
	if _, err := s.CreateCalls(ctx, []incidents.NewCall{{Call: incidents.Call{ID: "x"}}}); err == nil {
		t.Errorf("CreateCalls() before MigrateUp = nil error, want one (Open must not migrate)")
	}

	before := time.Now().Add(-time.Minute)
	all := []Schema{s}
	for len(all) < nodes {
		all = append(all, open())
	}
	errs := make([]error, len(all))
	var wg sync.WaitGroup
	for i, n := range all {
		wg.Go(func() { errs[i] = n.MigrateUp(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d: MigrateUp() = %v, want nil", i, err)
		}
	}
	if err := s.MigrateUp(ctx); err != nil {
		t.Errorf("MigrateUp() once more = %v, want nil (nothing to do)", err)
	}
	ms, err = s.MigrationStatus(ctx)
	if err != nil {
		t.Fatalf("MigrationStatus() = %v, want no error", err)
	}
	for _, m := range ms {
		if !m.Applied || m.AppliedAt.Before(before) || m.AppliedAt.Location() != time.UTC {
			t.Errorf("MigrationStatus() after MigrateUp lists %+v, want applied now, in UTC", m)
		}
	}
	for i, n := range all {
		if err := n.Ready(ctx); err != nil {
			t.Errorf("node %d: Ready() after MigrateUp = %v, want nil", i, err)
		}
	}
}
