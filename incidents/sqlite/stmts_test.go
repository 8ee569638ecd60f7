package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// cached waits until c holds query prepared.
func cached(t *testing.T, c *stmtCache, query string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for c.lookup(query) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("%q was not prepared within 5s", query)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestStatementsArePreparedOnceAndUsedInTransactions(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // as the writer: preparing inside a transaction would wait forever
	if _, err := db.Exec(`CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)`); err != nil {
		t.Fatal(err)
	}
	c := newStmtCache(db)
	defer c.close()
	const insert, count = `INSERT INTO t (k, v) VALUES (?, ?)`, `SELECT count(*) FROM t`
	for i := 0; i < 3; i++ { // unprepared at first, prepared once free, the same rows either way
		sqlTx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		tx := txq{Tx: sqlTx, c: c}
		if _, err := tx.ExecContext(ctx, insert, i, fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := tx.QueryRowContext(ctx, count).Scan(&n); err != nil || n != i+1 {
			t.Fatalf("count in transaction %d = %d, %v; want %d", i, n, err, i+1)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		cached(t, c, insert)
		cached(t, c, count)
	}
	// A rolled-back transaction leaves nothing, prepared statement or not.
	sqlTx, _ := db.BeginTx(ctx, nil)
	tx := txq{Tx: sqlTx, c: c}
	if _, err := tx.ExecContext(ctx, insert, 99, "gone"); err != nil {
		t.Fatal(err)
	}
	tx.Rollback()
	var n int
	if err := (dbq{DB: db, c: c}).QueryRowContext(ctx, count).Scan(&n); err != nil || n != 3 {
		t.Fatalf("count after a rollback = %d, %v; want 3", n, err)
	}
}

func TestStatementCacheIsBounded(t *testing.T) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c := newStmtCache(db)
	q := dbq{DB: db, c: c}
	for i := 0; i < maxCachedStmts+100; i++ {
		var v int
		if err := q.QueryRowContext(context.Background(), fmt.Sprintf("SELECT %d", i)).Scan(&v); err != nil || v != i {
			t.Fatalf("SELECT %d = %d, %v", i, v, err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		prepared, pending := len(c.stmts), len(c.pending)
		c.mu.Unlock()
		if pending == 0 {
			if prepared == 0 || prepared > maxCachedStmts {
				t.Errorf("cache holds %d prepared statements, want 1 to %d", prepared, maxCachedStmts)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d statements still waiting to be prepared after 10s", pending)
		}
		time.Sleep(time.Millisecond)
	}
	c.close()
	if len(c.stmts) != 0 {
		t.Errorf("close left %d statements open", len(c.stmts))
	}
}
