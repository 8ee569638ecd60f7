package postgres_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"flare/incidents"
	"flare/incidents/internal/eventwait"
	"flare/incidents/postgres"
	"flare/incidents/postgres/pgtest"
	"flare/incidents/storetest"
)

// open opens a store on the database at url and closes it when tb ends.
func open(tb testing.TB, url string, opts postgres.Options) *postgres.Store {
	tb.Helper()
	s, err := postgres.Open(context.Background(), url, opts)
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

// migrate applies the migrations to s, failing tb on error.
func migrate(tb testing.TB, s *postgres.Store) {
	tb.Helper()
	if err := s.MigrateUp(context.Background()); err != nil {
		tb.Fatalf("MigrateUp() = %v, want no error", err)
	}
}

// openMigrated returns a migrated store on a fresh database of its own.
func openMigrated(tb testing.TB) incidents.Store {
	tb.Helper()
	s := open(tb, pgtest.NewDatabase(tb), postgres.Options{})
	migrate(tb, s)
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) incidents.Store { return openMigrated(t) })
}

func TestNodes(t *testing.T) {
	storetest.RunNodes(t, func(t *testing.T) (a, b incidents.Store) {
		url := pgtest.NewDatabase(t)
		sa := open(t, url, postgres.Options{})
		migrate(t, sa)
		return sa, open(t, url, postgres.Options{})
	})
}

func TestMigrations(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	s := open(t, url, postgres.Options{})

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

	// Several nodes starting at once all migrate without error.
	before := time.Now().Add(-time.Minute)
	nodes := []*postgres.Store{s, open(t, url, postgres.Options{}), open(t, url, postgres.Options{})}
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = n.MigrateUp(ctx)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d: concurrent MigrateUp() = %v, want nil", i, err)
		}
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
	for i, n := range nodes {
		if err := n.Ready(ctx); err != nil {
			t.Errorf("node %d: Ready() after MigrateUp = %v, want nil", i, err)
		}
	}
}

func TestOpenUnreachable(t *testing.T) {
	tests := []struct {
		name string
		url  string
		code string
	}{
		{"malformed url is invalid", "postgres://%zz", incidents.CodeInvalid},
		{"closed port is unavailable", "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2", incidents.CodeUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := postgres.Open(context.Background(), tt.url, postgres.Options{})
			if err == nil {
				s.Close()
			}
			if got := incidents.ErrorCode(err); got != tt.code {
				t.Errorf("Open(%q) = %v (code %q), want code %q", tt.url, err, got, tt.code)
			}
		})
	}
}

// listenerPIDs returns the backend pids of the event listeners on the
// database at url.
func listenerPIDs(tb testing.TB, conn *pgx.Conn) []int32 {
	tb.Helper()
	rows, err := conn.Query(context.Background(), `SELECT pid FROM pg_stat_activity
		WHERE datname = current_database() AND query = 'LISTEN flare_events'`)
	if err != nil {
		tb.Fatalf("query listeners: %v", err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		tb.Fatalf("query listeners: %v", err)
	}
	return pids
}

func TestListenerReconnects(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	// A poll slower than the test: only a notification can wake the waiter.
	a := open(t, url, postgres.Options{PollInterval: time.Hour})
	migrate(t, a)
	b := open(t, url, postgres.Options{PollInterval: time.Hour})
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("pgx.Connect() = %v", err)
	}
	defer admin.Close(ctx)

	// waitListeners waits until n listeners run other than those in old.
	waitListeners := func(n int, old []int32) []int32 {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			var fresh []int32
			for _, pid := range listenerPIDs(t, admin) {
				isOld := false
				for _, o := range old {
					isOld = isOld || o == pid
				}
				if !isOld {
					fresh = append(fresh, pid)
				}
			}
			if len(fresh) >= n {
				return fresh
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d new event listeners after 10s, want %d", len(fresh), n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	old := waitListeners(2, nil)
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid`, old); err != nil {
		t.Fatalf("terminate listeners: %v", err)
	}
	waitListeners(2, old)

	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.WaitEvents(waitCtx, 0) }()
	time.Sleep(100 * time.Millisecond)
	call := incidents.NewCall{Call: incidents.Call{ID: "after-reconnect", ReceivedAt: time.Now().UTC(),
		RecordedAt: time.Now().UTC(), Lat: 22.27, Lon: 113.57, Category: "fire"}}
	if _, err := b.CreateCalls(ctx, []incidents.NewCall{call}); err != nil {
		t.Fatalf("CreateCalls() on node b = %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("WaitEvents(0) on node a = %v after its listener reconnected, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("WaitEvents(0) on node a still blocked 10s after node b committed: the listener did not reconnect")
	}
}

func TestCloseEndsWaitsAndListener(t *testing.T) {
	url := pgtest.NewDatabase(t)
	before := runtime.NumGoroutine()
	s, err := postgres.Open(context.Background(), url, postgres.Options{})
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	migrate(t, s)
	done := make(chan error, 1)
	go func() { done <- s.WaitEvents(context.Background(), 0) }()
	time.Sleep(50 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v, want nil", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, eventwait.ErrClosed) || incidents.ErrorCode(err) != incidents.CodeUnavailable {
			t.Errorf("WaitEvents() after Close = %v, want the unavailable store-closed error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitEvents() did not return after Close")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("runtime.NumGoroutine() = %d after Close, want %d:\n%s",
				runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func BenchmarkCreateCalls(b *testing.B) {
	storetest.BenchmarkCreateCalls(b, openMigrated)
}
