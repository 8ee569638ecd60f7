package sqlstore

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/pressly/goose/v3"

	"flare/incidents"
)

// MigrateUp applies every pending migration, each in its own transaction,
// with the adapter's provider (which waits for the other nodes' migrations
// where there can be several). It returns the first migration's error,
// after which the schema is at the last migration that succeeded.
func (s *Store) MigrateUp(ctx context.Context) error {
	p, done, err := s.c.Migrator(true)
	if err != nil {
		return fmt.Errorf("migrate up: %w", err)
	}
	defer done()
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate up: %w", s.translate(err))
	}
	return nil
}

// MigrationStatus lists every migration known to this binary, in version
// order, with whether and when it was applied. It only reads and takes no
// lock: on a database never migrated, it lists them all as pending. It
// returns an error when the database cannot be read.
func (s *Store) MigrationStatus(ctx context.Context) ([]incidents.Migration, error) {
	var tracked bool
	if err := s.c.Read.QueryRowContext(ctx, s.q(s.d.TableExists), goose.DefaultTablename).Scan(&tracked); err != nil {
		return nil, fmt.Errorf("migration status: %w", s.translate(err))
	}
	p, done, err := s.c.Migrator(false)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	defer done()
	if !tracked {
		var out []incidents.Migration
		for _, src := range p.ListSources() {
			out = append(out, incidents.Migration{Version: src.Version, Name: path.Base(src.Path)})
		}
		return out, nil
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", s.translate(err))
	}
	out := make([]incidents.Migration, 0, len(st))
	for _, m := range st {
		mig := incidents.Migration{
			Version: m.Source.Version,
			Name:    path.Base(m.Source.Path),
			Applied: m.State == goose.StateApplied,
		}
		if mig.Applied {
			mig.AppliedAt = m.AppliedAt.UTC()
		}
		out = append(out, mig)
	}
	return out, nil
}

// Ready reports whether the store can serve: the database answers and no
// migration is pending. Its error (code unavailable) says which migrations
// are pending, or why the database cannot be read.
func (s *Store) Ready(ctx context.Context) error {
	ms, err := s.MigrationStatus(ctx)
	if err != nil {
		if incidents.ErrorCode(err) != incidents.CodeUnavailable {
			err = fmt.Errorf("%w: %w", incidents.Errorf(incidents.CodeUnavailable, "database unreadable"), err)
		}
		return fmt.Errorf("%s store not ready: %w", s.d.Name, err)
	}
	var pending []string
	for _, m := range ms {
		if !m.Applied {
			pending = append(pending, m.Name)
		}
	}
	if len(pending) > 0 {
		return fmt.Errorf("%s store not ready: %w", s.d.Name, incidents.Errorf(incidents.CodeUnavailable,
			"%d migration(s) pending: %s (run `flare migrate up`)", len(pending), strings.Join(pending, ", ")))
	}
	return nil
}
