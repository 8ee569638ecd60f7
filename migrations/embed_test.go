package migrations_test

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"flare/incidents/postgres/pgtest"
	"flare/migrations"
)

var fileName = regexp.MustCompile(`^(\d{5})_[a-z0-9_]+\.sql$`)

// names returns the migration file names of fsys, sorted.
func names(tb testing.TB, fsys fs.FS) []string {
	tb.Helper()
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		tb.Fatalf("fs.ReadDir(.) = %v", err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func TestFiles(t *testing.T) {
	sqliteNames, pgNames := names(t, migrations.SQLite), names(t, migrations.Postgres)
	if !slices.Equal(sqliteNames, pgNames) {
		t.Fatalf("SQLite migrations %v, Postgres migrations %v, want the same names", sqliteNames, pgNames)
	}
	if len(sqliteNames) == 0 {
		t.Fatal("no migrations embedded")
	}
	for i, name := range sqliteNames {
		m := fileName.FindStringSubmatch(name)
		if m == nil {
			t.Errorf("migration %q, want NNNNN_snake_case.sql", name)
			continue
		}
		if v, _ := strconv.Atoi(m[1]); v != i+1 {
			t.Errorf("migration %q has version %d, want %d (versions follow each other)", name, v, i+1)
		}
		for dir, fsys := range map[string]fs.FS{"sqlite": migrations.SQLite, "postgres": migrations.Postgres} {
			b, err := fs.ReadFile(fsys, name)
			if err != nil {
				t.Fatalf("fs.ReadFile(%s/%s) = %v", dir, name, err)
			}
			for _, section := range []string{"-- +goose Up", "-- +goose Down"} {
				if !strings.Contains(string(b), section) {
					t.Errorf("%s/%s has no %q section", dir, name, section)
				}
			}
		}
	}
}

// roundTrip applies every migration, rolls them all back and applies them
// again, failing tb on any error.
func roundTrip(tb testing.TB, dialect goose.Dialect, db *sql.DB, fsys fs.FS) {
	tb.Helper()
	ctx := context.Background()
	p, err := goose.NewProvider(dialect, db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		tb.Fatalf("goose.NewProvider(%s) = %v", dialect, err)
	}
	if _, err := p.Up(ctx); err != nil {
		tb.Fatalf("Up() = %v, want no error", err)
	}
	if _, err := p.DownTo(ctx, 0); err != nil {
		tb.Fatalf("DownTo(0) = %v, want no error", err)
	}
	if _, err := p.Up(ctx); err != nil {
		tb.Fatalf("Up() after DownTo(0) = %v, want no error", err)
	}
	if pending, err := p.HasPending(ctx); err != nil || pending {
		tb.Fatalf("HasPending() = %v, %v, want false", pending, err)
	}
}

func TestSQLiteUpDownUp(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatalf("sql.Open() = %v", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	roundTrip(t, goose.DialectSQLite3, db, migrations.SQLite)
}

func TestPostgresUpDownUp(t *testing.T) {
	db, err := sql.Open("pgx", pgtest.NewDatabase(t))
	if err != nil {
		t.Fatalf("sql.Open() = %v", err)
	}
	defer db.Close()
	roundTrip(t, goose.DialectPostgres, db, migrations.Postgres)
}
