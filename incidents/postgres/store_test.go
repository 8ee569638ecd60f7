package postgres_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pressly/goose/v3"

	"flare/incidents"
	"flare/incidents/postgres"
	"flare/incidents/postgres/pgtest"
	"flare/incidents/storetest"
	"flare/migrations"
)

// open opens a store on the database at url, closed when tb ends.
func open(tb testing.TB, url string, opts postgres.Options) *postgres.Store {
	tb.Helper()
	return storetest.Opened(tb, func(ctx context.Context) (*postgres.Store, error) { return postgres.Open(ctx, url, opts) })
}

// openMigrated returns a migrated store on a fresh database of its own.
func openMigrated(tb testing.TB) *postgres.Store {
	tb.Helper()
	return storetest.Migrated(tb, open(tb, pgtest.NewDatabase(tb), postgres.Options{}))
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) incidents.Store { return openMigrated(t) })
}

func TestUsers(t *testing.T) {
	storetest.RunUsers(t, func(t *testing.T) incidents.UserStore { return openMigrated(t) })
}

func TestNodes(t *testing.T) {
	storetest.RunNodes(t, func(t *testing.T) (a, b incidents.Store) {
		url := pgtest.NewDatabase(t)
		sa := open(t, url, postgres.Options{})
		storetest.Migrated(t, sa)
		return sa, open(t, url, postgres.Options{})
	})
}

func TestMigrations(t *testing.T) {
	// Several nodes starting at once all migrate without error.
	storetest.RunMigrations(t, 3, func(t *testing.T) func() storetest.Schema {
		url := pgtest.NewDatabase(t)
		return func() storetest.Schema { return open(t, url, postgres.Options{}) }
	})
}

func TestAudienceBackfill(t *testing.T) {
	storetest.RunAudienceBackfill(t, func(t *testing.T) storetest.Legacy {
		url := pgtest.NewDatabase(t)
		db, err := sql.Open("pgx", url)
		if err != nil {
			t.Fatalf("sql.Open() = %v", err)
		}
		t.Cleanup(func() { db.Close() })
		return storetest.Legacy{
			DB: db, Dialect: goose.DialectPostgres, Migrations: migrations.Postgres,
			Insert: `WITH counter AS (UPDATE event_counter SET last = last + 1 RETURNING last)
				INSERT INTO events (seq, type, at, data) SELECT last, $1, now(), $2::text::jsonb FROM counter`,
			Open: func() incidents.Store { return openAt(t, url) },
		}
	})
}

// openAt opens a store on the database at url and migrates it.
func openAt(tb testing.TB, url string) *postgres.Store {
	tb.Helper()
	return storetest.Migrated(tb, open(tb, url, postgres.Options{}))
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
	storetest.Migrated(t, a)
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

func BenchmarkCreateCalls(b *testing.B) {
	storetest.BenchmarkCreateCalls(b, func(tb testing.TB) incidents.Store { return openMigrated(tb) })
}
