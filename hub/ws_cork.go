package hub

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// corkConn lets a writer gather many WebSocket frames and send them with one
// system call: while corked, writes are kept in memory; flush sends them
// with a deadline. Uncorked writes (control frames from other goroutines)
// go straight out, after anything gathered, so frames never interleave.
type corkConn struct {
	net.Conn
	mu     sync.Mutex
	corked bool
	buf    []byte
}

var corkBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// Write implements net.Conn.
func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked {
		if c.buf == nil {
			c.buf = (*corkBufs.Get().(*[]byte))[:0]
		}
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	if len(c.buf) > 0 {
		if _, err := c.flushLocked(time.Time{}); err != nil {
			return 0, err
		}
	}
	return c.Conn.Write(p)
}

// cork starts gathering writes.
func (c *corkConn) cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// flush sends what was gathered, at most until deadline, and stops
// gathering. It returns the connection's write error.
func (c *corkConn) flush(deadline time.Time) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	return c.flushLocked(deadline)
}

func (c *corkConn) flushLocked(deadline time.Time) (int, error) {
	if len(c.buf) == 0 {
		return 0, nil
	}
	if !deadline.IsZero() {
		_ = c.Conn.SetWriteDeadline(deadline)
	}
	n, err := c.Conn.Write(c.buf)
	if !deadline.IsZero() {
		_ = c.Conn.SetWriteDeadline(time.Time{})
	}
	b := c.buf
	c.buf = nil
	if cap(b) <= 64<<10 {
		b = b[:0]
		corkBufs.Put(&b)
	}
	return n, err
}

// corkingWriter hands the WebSocket library a corkConn, with small buffers,
// when it hijacks the connection: an idle connection then holds about 1 KiB
// of buffers instead of 8.
type corkingWriter struct {
	http.ResponseWriter
	conn *corkConn
}

const (
	wsReadBuffer  = 512
	wsWriteBuffer = 256
)

// Hijack implements http.Hijacker.
func (w *corkingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if brw.Writer.Buffered() > 0 {
		if err := brw.Writer.Flush(); err != nil {
			nc.Close()
			return nil, nil, err
		}
	}
	w.conn = &corkConn{Conn: nc}
	var r io.Reader = w.conn
	size := wsReadBuffer
	var early []byte
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		early = bytes.Clone(b)
		r = io.MultiReader(bytes.NewReader(early), w.conn)
		size = max(size, n)
	}
	br := bufio.NewReaderSize(r, size)
	if len(early) > 0 {
		_, _ = br.Peek(len(early)) // hold the early bytes in br itself
	}
	return w.conn, bufio.NewReadWriter(br, bufio.NewWriterSize(w.conn, wsWriteBuffer)), nil
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *corkingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
