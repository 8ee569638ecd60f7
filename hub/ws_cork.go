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

// corkConn lets one writer send many WebSocket frames with one system call
// (writev): while corked, frames are gathered, the hub's own pre-encoded
// frames by reference (no copy) and the WebSocket library's control frames
// (pong, close) as copies; flush sends them in order, with a deadline.
// Uncorked writes go straight out, after anything gathered. The library
// writes each control frame with a single Write (its buffer is larger than
// any control frame), so frames never interleave.
type corkConn struct {
	net.Conn
	mu     sync.Mutex
	corked bool
	bufs   net.Buffers
	spare  net.Buffers
	// deadline is the write deadline set on Conn (zero: none). A flush
	// keeps it while at least half of the time it asks for is left, so
	// that a busy connection updates its timer once in a while rather than
	// twice per write.
	deadline time.Time
}

// Write implements net.Conn for the WebSocket library.
func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked {
		c.bufs = append(c.bufs, bytes.Clone(p))
		return len(p), nil
	}
	if len(c.bufs) > 0 {
		if err := c.flushLocked(0); err != nil {
			return 0, err
		}
	}
	c.clearDeadline()
	return c.Conn.Write(p)
}

// clearDeadline takes the write deadline off Conn.
func (c *corkConn) clearDeadline() {
	if !c.deadline.IsZero() {
		_ = c.Conn.SetWriteDeadline(time.Time{})
		c.deadline = time.Time{}
	}
}

// cork starts gathering writes.
func (c *corkConn) cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// add gathers a complete frame, which must not change until flushed. The
// caller has corked the connection.
func (c *corkConn) add(frame []byte) {
	c.mu.Lock()
	c.bufs = append(c.bufs, frame)
	c.mu.Unlock()
}

// flush sends what was gathered, and stops gathering. The write must end
// within timeout, and is given at least half of it (0: no deadline). It
// returns the connection's write error.
func (c *corkConn) flush(timeout time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	return c.flushLocked(timeout)
}

func (c *corkConn) flushLocked(timeout time.Duration) error {
	if len(c.bufs) == 0 {
		return nil
	}
	if timeout <= 0 {
		c.clearDeadline()
	} else if now := time.Now(); c.deadline.IsZero() || c.deadline.Sub(now) < timeout/2 {
		c.deadline = now.Add(timeout)
		_ = c.Conn.SetWriteDeadline(c.deadline)
	}
	keep := c.bufs
	_, err := c.bufs.WriteTo(c.Conn) // consumes c.bufs
	clear(keep)
	if cap(keep) <= 1024 {
		c.bufs = keep[:0]
	} else {
		c.bufs = nil
	}
	return err
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
