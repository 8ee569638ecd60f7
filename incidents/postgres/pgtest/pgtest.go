// Package pgtest gives tests a PostgreSQL database of their own.
//
// The server comes from FLARE_TEST_POSTGRES_URL (for example
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable), whose user
// may create databases. Without it the tests that need Postgres are skipped,
// except under CI=true, where a missing or unreachable Postgres fails them.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the variable holding the test server's URL.
const EnvURL = "FLARE_TEST_POSTGRES_URL"

// ServerURL returns the URL in FLARE_TEST_POSTGRES_URL. When it is unset it
// skips tb, or fails it when CI is "true".
func ServerURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is not set: Postgres is required under CI", EnvURL)
		}
		tb.Skipf("%s is not set; skipping Postgres test", EnvURL)
	}
	return u
}

// NewDatabase creates an empty database with a unique name on the server of
// ServerURL, drops it when tb ends, and returns its URL. It fails tb when the
// server cannot be reached or the database cannot be created.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	server := ServerURL(tb)
	var b [8]byte
	rand.Read(b[:])
	name := "flare_test_" + hex.EncodeToString(b[:])

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		tb.Fatalf("pgx.Connect(%s) = %v, want a connection to the test server", EnvURL, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("CREATE DATABASE %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, server)
		if err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
		}
	})
	return withDatabase(tb, server, name)
}

// withDatabase returns server, a URL or a keyword/value connection string,
// with its database set to name.
func withDatabase(tb testing.TB, server, name string) string {
	tb.Helper()
	if !strings.HasPrefix(server, "postgres://") && !strings.HasPrefix(server, "postgresql://") {
		return server + " dbname=" + name
	}
	u, err := url.Parse(server)
	if err != nil {
		tb.Fatalf("url.Parse(%s) = %v", EnvURL, err)
	}
	u.Path = "/" + name
	q := u.Query()
	q.Del("dbname")
	u.RawQuery = q.Encode()
	return u.String()
}
