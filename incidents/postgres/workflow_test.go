package postgres_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"flare/incidents"
	"flare/incidents/postgres"
	"flare/incidents/postgres/pgtest"
	"flare/incidents/storetest"
)

func TestWorkflow(t *testing.T) {
	storetest.RunWorkflow(t, func(t *testing.T) func() storetest.WorkflowStore {
		url := migratedDatabase(t)
		return func() storetest.WorkflowStore { return open(t, url, postgres.Options{}) }
	})
}

// migratedDatabase returns the URL of a fresh database that a store, closed
// since, migrated.
func migratedDatabase(tb testing.TB) string {
	tb.Helper()
	url := pgtest.NewDatabase(tb)
	s := open(tb, url, postgres.Options{})
	storetest.Migrated(tb, s)
	if err := s.Close(); err != nil {
		tb.Fatalf("Close() = %v, want nil", err)
	}
	return url
}

// leaseHolders returns the backend pids holding advisory locks in the
// database conn is connected to.
func leaseHolders(tb testing.TB, conn *pgx.Conn) []int32 {
	tb.Helper()
	rows, err := conn.Query(context.Background(), `SELECT pid FROM pg_locks
		WHERE locktype = 'advisory' AND granted
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)
	if err != nil {
		tb.Fatalf("query advisory locks: %v", err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		tb.Fatalf("query advisory locks: %v", err)
	}
	return pids
}

func TestLeaseAcrossNodes(t *testing.T) {
	tests := []struct {
		name     string
		end      func(t *testing.T, holder incidents.Lease, admin *pgx.Conn)
		wantLost bool
	}{
		{"release hands the lease to the other node", func(t *testing.T, holder incidents.Lease, _ *pgx.Conn) {
			holder.Release()
		}, false},
		{"a killed connection hands the lease over and tells the holder", func(t *testing.T, _ incidents.Lease, admin *pgx.Conn) {
			pids := leaseHolders(t, admin)
			if len(pids) != 1 {
				t.Fatalf("advisory lock holders = %v, want the one of the lease", pids)
			}
			if _, err := admin.Exec(context.Background(), `SELECT pg_terminate_backend($1)`, pids[0]); err != nil {
				t.Fatalf("pg_terminate_backend(%d) = %v", pids[0], err)
			}
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			url := pgtest.NewDatabase(t)
			a := open(t, url, postgres.Options{})
			storetest.Migrated(t, a)
			b := open(t, url, postgres.Options{})
			admin, err := pgx.Connect(ctx, url)
			if err != nil {
				t.Fatalf("pgx.Connect() = %v", err)
			}
			defer admin.Close(context.Background())

			holder, err := a.Lead(ctx, "detector")
			if err != nil {
				t.Fatalf("node a: Lead(detector) = %v, want the lease", err)
			}
			got := make(chan error, 1)
			var taken incidents.Lease
			go func() {
				var err error
				taken, err = b.Lead(ctx, "detector")
				got <- err
			}()
			select {
			case err := <-got:
				t.Fatalf("node b: Lead(detector) = %v while node a holds it, want it to block", err)
			case <-time.After(1500 * time.Millisecond):
			}

			tt.end(t, holder, admin)
			select {
			case err := <-got:
				if err != nil {
					t.Fatalf("node b: Lead(detector) = %v after node a's lease ended, want the lease", err)
				}
				defer taken.Release()
			case <-time.After(15 * time.Second):
				t.Fatal("node b: Lead(detector) still blocked 15s after node a's lease ended")
			}
			// A lost connection is noticed within a ping interval (2s); a
			// released lease is never lost.
			wait := 3 * time.Second
			if tt.wantLost {
				wait = 10 * time.Second
			}
			lost := false
			select {
			case <-holder.Lost():
				lost = true
			case <-time.After(wait):
			}
			if lost != tt.wantLost {
				t.Errorf("node a: Lost() closed = %v, want %v", lost, tt.wantLost)
			}
			holder.Release() // after the lease ended, does nothing
			if pids := leaseHolders(t, admin); len(pids) != 1 {
				t.Errorf("advisory lock holders = %v, want node b's only", pids)
			}
		})
	}
}

func TestCloseEndsLeases(t *testing.T) {
	url := pgtest.NewDatabase(t)
	before := runtime.NumGoroutine()
	s, err := postgres.Open(context.Background(), url, postgres.Options{})
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	l, err := s.Lead(context.Background(), "detector")
	if err != nil {
		t.Fatalf("Lead(detector) = %v, want the lease", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Lead(context.Background(), "detector")
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close() = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close() with a lease held did not return in 10s")
	}
	select {
	case <-l.Lost():
	default:
		t.Error("Lost() is open after Close, want it closed")
	}
	select {
	case err := <-done:
		if incidents.ErrorCode(err) != incidents.CodeUnavailable {
			t.Errorf("waiting Lead(detector) after Close = %v, want unavailable", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("waiting Lead(detector) did not return after Close")
	}
	admin, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatalf("pgx.Connect() = %v", err)
	}
	defer admin.Close(context.Background())
	deadline := time.Now().Add(5 * time.Second)
	for len(leaseHolders(t, admin)) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if pids := leaseHolders(t, admin); len(pids) > 0 {
		t.Errorf("advisory lock holders after Close = %v, want none", pids)
	}
	storetest.WaitGoroutines(t, before)
}
