package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// SQLite compiles the text of every statement it runs unless the statement
// was prepared, and the driver prepares nothing on its own: compiling took
// about a fifth of a busy node's CPU. So the store keeps the statements it
// runs prepared, one cache per database handle.
//
// A statement is prepared on the handle itself (the driver keeps one copy
// per connection), never inside a transaction: the writer has a single
// connection, and preparing on the handle while a transaction holds it
// would wait forever. So a text met for the first time runs unprepared and
// is handed to a goroutine that prepares it when the connection is free;
// later runs use the prepared statement.

// maxCachedStmts bounds each cache. The texts are the store's own, but some
// vary with their input (multi-row INSERTs, filters); past the bound, new
// texts run unprepared.
const maxCachedStmts = 512

// stmtCache holds the prepared statements of one database handle.
type stmtCache struct {
	db      *sql.DB
	mu      sync.Mutex
	stmts   map[string]*sql.Stmt
	pending map[string]bool // handed to the preparer, not yet prepared
	want    chan string
	stop    chan struct{}
	done    chan struct{}
}

func newStmtCache(db *sql.DB) *stmtCache {
	c := &stmtCache{
		db:      db,
		stmts:   make(map[string]*sql.Stmt),
		pending: make(map[string]bool),
		want:    make(chan string, 64),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go c.prepareLoop()
	return c
}

// lookup returns the prepared statement of query, or nil when there is
// none yet, in which case it asks for one.
func (c *stmtCache) lookup(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.stmts[query]; st != nil {
		return st
	}
	if c.pending[query] || len(c.stmts)+len(c.pending) >= maxCachedStmts {
		return nil
	}
	select {
	case c.want <- query:
		c.pending[query] = true
	default: // the preparer is behind: ask again next time
	}
	return nil
}

// prepareLoop prepares the statements asked for until close.
func (c *stmtCache) prepareLoop() {
	defer close(c.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-c.stop:
			cancel()
		case <-c.done:
		}
	}()
	for {
		select {
		case <-c.stop:
			return
		case q := <-c.want:
			st, err := c.db.PrepareContext(ctx, q)
			c.mu.Lock()
			delete(c.pending, q)
			if err == nil {
				select {
				case <-c.stop: // closing: do not keep it
					st.Close()
				default:
					c.stmts[q] = st
				}
			}
			c.mu.Unlock()
			// A text that fails to prepare fails when it runs too, with
			// its error; it may be asked for again.
		}
	}
}

// close stops the preparer and closes the prepared statements. Call it
// before closing the handle.
func (c *stmtCache) close() {
	close(c.stop)
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.stmts {
		st.Close()
		delete(c.stmts, q)
	}
}

// txq runs the statements of one transaction, prepared ones where the
// cache has them.
type txq struct {
	*sql.Tx
	c *stmtCache
}

// stmt returns query prepared for the transaction: from the cache, or
// prepared in the transaction for this one use. It is closed with the
// transaction.
func (q txq) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st := q.c.lookup(query); st != nil {
		return q.Tx.StmtContext(ctx, st), nil
	}
	return q.Tx.PrepareContext(ctx, query)
}

// ExecContext runs query in the transaction.
func (q txq) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := q.c.lookup(query); st != nil {
		return q.Tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return q.Tx.ExecContext(ctx, query, args...)
}

// QueryContext runs query in the transaction.
func (q txq) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := q.c.lookup(query); st != nil {
		return q.Tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return q.Tx.QueryContext(ctx, query, args...)
}

// QueryRowContext runs query in the transaction.
func (q txq) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := q.c.lookup(query); st != nil {
		return q.Tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return q.Tx.QueryRowContext(ctx, query, args...)
}

// dbq runs statements on a pool, prepared ones where the cache has them.
type dbq struct {
	*sql.DB
	c *stmtCache
}

// QueryContext runs query on a connection of the pool.
func (q dbq) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := q.c.lookup(query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return q.DB.QueryContext(ctx, query, args...)
}

// QueryRowContext runs query on a connection of the pool.
func (q dbq) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := q.c.lookup(query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return q.DB.QueryRowContext(ctx, query, args...)
}
