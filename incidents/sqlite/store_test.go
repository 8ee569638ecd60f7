package sqlite_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"flare/incidents"
	"flare/incidents/internal/eventwait"
	"flare/incidents/sqlite"
	"flare/incidents/storetest"
)

// open opens the store at path and closes it when tb ends.
func open(tb testing.TB, path string, opts sqlite.Options) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(context.Background(), path, opts)
	if err != nil {
		tb.Fatalf("Open(%s) = %v, want no error", path, err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close() = %v, want no error", err)
		}
	})
	return s
}

// migrate applies the migrations to s, failing tb on error.
func migrate(tb testing.TB, s *sqlite.Store) {
	tb.Helper()
	if err := s.MigrateUp(context.Background()); err != nil {
		tb.Fatalf("MigrateUp() = %v, want no error", err)
	}
}

// openMigrated returns a migrated store on a file of its own.
func openMigrated(tb testing.TB) incidents.Store {
	tb.Helper()
	s := open(tb, filepath.Join(tb.TempDir(), "flare.db"), sqlite.Options{})
	migrate(tb, s)
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) incidents.Store { return openMigrated(t) })
}

func TestNodes(t *testing.T) {
	storetest.RunNodes(t, func(t *testing.T) (a, b incidents.Store) {
		path := filepath.Join(t.TempDir(), "flare.db")
		// Another process's commits are seen by polling: poll often. SQLite
		// does not queue writers fairly, so under load (and the race
		// detector) one node may wait long for the lock: the test is about
		// order, not fairness.
		opts := sqlite.Options{PollInterval: 20 * time.Millisecond, BusyTimeout: time.Minute}
		sa := open(t, path, opts)
		migrate(t, sa)
		return sa, open(t, path, opts)
	})
}

func TestMigrations(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "flare.db"), sqlite.Options{})

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
	migrate(t, s)
	migrate(t, s) // a second run finds nothing to do
	ms, err = s.MigrationStatus(ctx)
	if err != nil {
		t.Fatalf("MigrationStatus() = %v, want no error", err)
	}
	for _, m := range ms {
		if !m.Applied || m.AppliedAt.Before(before) || m.AppliedAt.Location() != time.UTC {
			t.Errorf("MigrationStatus() after MigrateUp lists %+v, want applied now, in UTC", m)
		}
	}
	if err := s.Ready(ctx); err != nil {
		t.Errorf("Ready() after MigrateUp = %v, want nil", err)
	}
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
		migrate(t, s)
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
	migrate(t, s)
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
	migrate(t, s)
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Errorf("os.Stat(%s-wal) = %v, want a write-ahead log next to the file", path, err)
	}
}

func TestCloseEndsWaits(t *testing.T) {
	before := runtime.NumGoroutine()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "flare.db"), sqlite.Options{})
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
	waitGoroutines(t, before)
}

// waitGoroutines fails tb unless the number of goroutines falls back to n
// within a few seconds.
func waitGoroutines(tb testing.TB, n int) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			tb.Fatalf("runtime.NumGoroutine() = %d after Close, want %d:\n%s",
				runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func BenchmarkCreateCalls(b *testing.B) {
	storetest.BenchmarkCreateCalls(b, openMigrated)
}
