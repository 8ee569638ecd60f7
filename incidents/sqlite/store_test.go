package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"flare/incidents"
	"flare/incidents/sqlite"
	"flare/incidents/storetest"
	"flare/migrations"
)

// open opens the store at path and closes it when tb ends.
func open(tb testing.TB, path string, opts sqlite.Options) *sqlite.Store {
	tb.Helper()
	return storetest.Opened(tb, func(ctx context.Context) (*sqlite.Store, error) { return sqlite.Open(ctx, path, opts) })
}

// openMigrated returns a migrated store on a file of its own.
func openMigrated(tb testing.TB) *sqlite.Store {
	tb.Helper()
	return storetest.Migrated(tb, open(tb, filepath.Join(tb.TempDir(), "flare.db"), sqlite.Options{}))
}

// sharedFile are the options of stores on one file, which stand for
// processes: they see each other's commits by polling, and wait for each
// other's write lock. SQLite does not queue writers fairly, so under load
// (and the race detector) one may wait long for the lock: the tests are
// about order, not fairness.
var sharedFile = sqlite.Options{PollInterval: 20 * time.Millisecond, BusyTimeout: time.Minute}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) incidents.Store { return openMigrated(t) })
}

func TestUsers(t *testing.T) {
	storetest.RunUsers(t, func(t *testing.T) incidents.UserStore { return openMigrated(t) })
}

func TestNodes(t *testing.T) {
	storetest.RunNodes(t, func(t *testing.T) (a, b incidents.Store) {
		path := filepath.Join(t.TempDir(), "flare.db")
		sa := open(t, path, sharedFile)
		storetest.Migrated(t, sa)
		return sa, open(t, path, sharedFile)
	})
}

func TestWorkflow(t *testing.T) {
	storetest.RunWorkflow(t, func(t *testing.T) func() storetest.WorkflowStore {
		path := filepath.Join(t.TempDir(), "flare.db")
		s := open(t, path, sharedFile)
		storetest.Migrated(t, s)
		if err := s.Close(); err != nil {
			t.Fatalf("Close() = %v, want nil", err)
		}
		return func() storetest.WorkflowStore { return open(t, path, sharedFile) }
	})
}

func TestMigrations(t *testing.T) {
	// One process keeps the file: one store migrates it.
	storetest.RunMigrations(t, 1, func(t *testing.T) func() storetest.Schema {
		path := filepath.Join(t.TempDir(), "flare.db")
		return func() storetest.Schema { return open(t, path, sqlite.Options{}) }
	})
}

func TestAudienceBackfill(t *testing.T) {
	storetest.RunAudienceBackfill(t, func(t *testing.T) storetest.Legacy {
		path := filepath.Join(t.TempDir(), "flare.db")
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatalf("sql.Open(%s) = %v", path, err)
		}
		t.Cleanup(func() { db.Close() })
		return storetest.Legacy{
			DB: db, Dialect: goose.DialectSQLite3, Migrations: migrations.SQLite,
			Insert: `INSERT INTO events (seq, type, at, data) SELECT coalesce(max(seq), 0) + 1, ?, 0, ? FROM events`,
			Open:   func() incidents.Store { return storetest.Migrated(t, open(t, path, sqlite.Options{})) },
		}
	})
}

func TestOpen(t *testing.T) {
	tests := []struct {
		name string
		path string
	}{
		{"empty path fails", ""},
		{"missing folder fails", filepath.Join(t.TempDir(), "missing", "flare.db")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := sqlite.Open(context.Background(), tt.path, sqlite.Options{})
			if err == nil {
				s.Close()
				t.Errorf("Open(%q) = nil error, want one", tt.path)
			}
		})
	}

	t.Run("path with URI characters works", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "a dir?#%", "flare.db")
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		s := open(t, path, sqlite.Options{})
		storetest.Migrated(t, s)
		if _, err := os.Stat(path); err != nil {
			t.Errorf("os.Stat(%q) = %v, want the database file there", path, err)
		}
	})
}

func TestDurableAcrossReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "flare.db")
	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	storetest.Migrated(t, s)
	call := incidents.NewCall{Call: incidents.Call{
		ID: "kept", ReceivedAt: time.Unix(1_800_000_000, 0).UTC(), RecordedAt: time.Unix(1_800_000_001, 0).UTC(),
		Lat: 22.27, Lon: 113.57, Category: "fire",
	}}
	if _, err := s.CreateCalls(ctx, []incidents.NewCall{call}); err != nil {
		t.Fatalf("CreateCalls() = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if _, err := os.Stat(path + "-wal"); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("os.Stat(wal) = %v", err)
	}

	s = open(t, path, sqlite.Options{})
	if err := s.Ready(ctx); err != nil {
		t.Errorf("Ready() after reopening = %v, want nil", err)
	}
	got, err := s.GetCall(ctx, "kept")
	if err != nil || got.Seq != 1 {
		t.Errorf("GetCall(kept) after reopening = %+v, %v, want the call with seq 1", got, err)
	}
	if last, err := s.LastSeq(ctx); last != 1 || err != nil {
		t.Errorf("LastSeq() after reopening = %d, %v, want 1", last, err)
	}
}

func TestWALMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flare.db")
	s := open(t, path, sqlite.Options{})
	storetest.Migrated(t, s)
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Errorf("os.Stat(%s-wal) = %v, want a write-ahead log next to the file", path, err)
	}
}

func TestFilesArePrivate(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "flare.db")
	s := open(t, path, sqlite.Options{})
	storetest.Migrated(t, s)
	if _, err := s.CreateCalls(ctx, []incidents.NewCall{{Call: incidents.Call{ID: "c1", Category: "fire",
		ReceivedAt: time.Now(), RecordedAt: time.Now()}}}); err != nil {
		t.Fatalf("CreateCalls() = %v", err)
	}
	if _, err := s.ListCalls(ctx, incidents.CallFilter{Limit: 1}); err != nil { // a reader maps the index
		t.Fatalf("ListCalls() = %v", err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("os.Stat(%s) = %v, want the file", p, err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %v, want -rw------- (it holds phone numbers and password hashes)", filepath.Base(p), perm)
		}
	}

	t.Run("an existing file open to others is closed to them", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "old.db")
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, 0o644); err != nil { // whatever the umask
			t.Fatal(err)
		}
		storetest.Migrated(t, open(t, path, sqlite.Options{}))
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("os.Stat(%s) = %v, %v after Open, want mode -rw-------", path, fi.Mode(), err)
		}
	})
}

func BenchmarkCreateCalls(b *testing.B) {
	storetest.BenchmarkCreateCalls(b, func(tb testing.TB) incidents.Store { return openMigrated(tb) })
}
