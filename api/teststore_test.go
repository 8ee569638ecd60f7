package api

import (
	"context"
	"path/filepath"
	"testing"

	"flare/incidents/sqlite"
)

// OpenTestStore opens a migrated embedded store in a temporary directory,
// closed when the test ends. It is exported for the package's external
// tests too.
func OpenTestStore(tb testing.TB) *sqlite.Store {
	tb.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "flare.db"), sqlite.Options{})
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { store.Close() })
	if err := store.MigrateUp(ctx); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	return store
}
