package main

import (
	"context"
	"fmt"
	"os"

	"flare/incidents"
	"flare/incidents/postgres"
	"flare/incidents/sqlite"
)

// systemStore is a store with its schema operations, as both adapters
// provide.
type systemStore interface {
	incidents.Store
	incidents.WorkflowStore
	incidents.UserStore
	MigrateUp(ctx context.Context) error
	MigrationStatus(ctx context.Context) ([]incidents.Migration, error)
	Ready(ctx context.Context) error
}

var (
	_ systemStore = (*sqlite.Store)(nil)
	_ systemStore = (*postgres.Store)(nil)
)

// openStore opens Postgres when a database URL is given, else the embedded
// SQLite file under the data dir. It does not migrate.
func (s *storeFlags) open(ctx context.Context) (systemStore, string, error) {
	if s.databaseURL != "" {
		st, err := postgres.Open(ctx, s.databaseURL, postgres.Options{})
		if err != nil {
			return nil, "", fmt.Errorf("open postgres store: %w", err)
		}
		return st, "postgres", nil
	}
	if err := os.MkdirAll(s.dataDir, 0o700); err != nil {
		return nil, "", fmt.Errorf("create data dir: %w", err)
	}
	st, err := sqlite.Open(ctx, s.sqlitePath(), sqlite.Options{})
	if err != nil {
		return nil, "", fmt.Errorf("open sqlite store %s: %w", s.sqlitePath(), err)
	}
	return st, "sqlite", nil
}
