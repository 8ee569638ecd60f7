//go:build linux

package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// wsPollers are the load tool's epoll loops, one per processor. Each reads
// the sockets of many WebSocket clients with one read per readiness. A
// goroutine per client would pay, for every batch the server writes, a
// wakeup and a second read that finds nothing: on a machine shared with the
// server being measured, that is CPU taken from the server.
type wsPollers struct {
	loops []*wsPoller
	next  atomic.Uint32
}

// wsPoller is one epoll loop and the connections it owns.
type wsPoller struct {
	epfd   int
	mu     sync.Mutex
	conns  map[int32]*polledConn // by socket
	closed bool
}

// polledConn is a client's connection owned by a loop.
type polledConn struct {
	lc   *loadClient
	w    *rawWS
	done chan error // why the connection ended; sent once
}

// startWSPollers starts one loop per processor; they stop when ctx ends,
// closing the sockets they own, and wg waits for them.
func startWSPollers(ctx context.Context, wg *sync.WaitGroup) (*wsPollers, error) {
	ps := &wsPollers{}
	for range runtime.GOMAXPROCS(0) {
		epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			for _, p := range ps.loops {
				p.shutdown(err)
			}
			return nil, fmt.Errorf("load tool: epoll: %w", err)
		}
		p := &wsPoller{epfd: epfd, conns: map[int32]*polledConn{}}
		ps.loops = append(ps.loops, p)
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.run(ctx)
		}()
	}
	return ps, nil
}

// read hands c over to a loop and returns why it ended (or ctx's error).
// Messages go to lc.observe, on the loop's goroutine.
func (ps *wsPollers) read(ctx context.Context, lc *loadClient, c *rawWS) error {
	// Frames that came with the handshake's answer.
	if n := c.br.Buffered(); n > 0 {
		b, _ := c.br.Peek(n)
		err := c.feed(b, lc.observe)
		_, _ = c.br.Discard(n)
		if err != nil {
			return err
		}
	}
	fd, err := takeSocket(c.nc)
	if err != nil {
		return err
	}
	c.fd = fd
	pc := &polledConn{lc: lc, w: c, done: make(chan error, 1)}
	if err := ps.loops[ps.next.Add(1)%uint32(len(ps.loops))].add(pc); err != nil {
		syscall.Close(fd)
		return err
	}
	select {
	case err := <-pc.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// takeSocket returns a non-blocking duplicate of nc's socket and closes nc,
// which takes the socket out of the Go runtime's poller.
func takeSocket(nc net.Conn) (int, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return -1, errors.New("load tool: connection is not a socket")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(s uintptr) {
		syscall.ForkLock.RLock()
		defer syscall.ForkLock.RUnlock()
		if fd, derr = syscall.Dup(int(s)); derr == nil {
			syscall.CloseOnExec(fd)
		}
	}); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, fmt.Errorf("load tool: dup: %w", derr)
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	nc.Close()
	return fd, nil
}

// add registers pc's socket with the loop.
func (p *wsPoller) add(pc *polledConn) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("load tool: stopping")
	}
	fd := int32(pc.w.fd)
	p.conns[fd] = pc
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: fd}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev); err != nil {
		delete(p.conns, fd)
		return fmt.Errorf("load tool: epoll add: %w", err)
	}
	return nil
}

func (p *wsPoller) run(ctx context.Context) {
	events := make([]syscall.EpollEvent, 256)
	buf := make([]byte, 64<<10)
	for ctx.Err() == nil {
		n, err := syscall.EpollWait(p.epfd, events, 50)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			p.shutdown(fmt.Errorf("load tool: epoll wait: %w", err))
			return
		}
		for _, ev := range events[:n] {
			p.mu.Lock()
			pc := p.conns[ev.Fd]
			p.mu.Unlock()
			if pc != nil {
				p.serve(pc, buf)
			}
		}
	}
	p.shutdown(ctx.Err())
}

// serve reads what pc's socket holds. The epoll set is level-triggered, so
// a read that fills less than buf has emptied the socket, and one more read
// (which would find nothing) is not needed.
func (p *wsPoller) serve(pc *polledConn, buf []byte) {
	for {
		n, err := syscall.Read(pc.w.fd, buf)
		switch {
		case n > 0:
			if err := pc.w.feed(buf[:n], pc.lc.observe); err != nil {
				p.drop(pc, err)
				return
			}
			if n < len(buf) {
				return
			}
		case errors.Is(err, syscall.EINTR):
		case errors.Is(err, syscall.EAGAIN):
			return
		case err != nil:
			p.drop(pc, err)
			return
		default:
			p.drop(pc, io.EOF)
			return
		}
	}
}

// drop closes pc's socket and tells its client why.
func (p *wsPoller) drop(pc *polledConn, why error) {
	p.mu.Lock()
	delete(p.conns, int32(pc.w.fd))
	p.mu.Unlock()
	_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, pc.w.fd, nil)
	syscall.Close(pc.w.fd)
	pc.done <- why
}

// shutdown closes every socket the loop owns, and the loop.
func (p *wsPoller) shutdown(why error) {
	p.mu.Lock()
	p.closed = true
	conns := p.conns
	p.conns = map[int32]*polledConn{}
	p.mu.Unlock()
	for _, pc := range conns {
		syscall.Close(pc.w.fd)
		pc.done <- why
	}
	syscall.Close(p.epfd)
}

// writeSocket writes all of b to a non-blocking socket, waiting while its
// buffer is full (at most 10 s).
func writeSocket(fd int, b []byte) error {
	deadline := time.Now().Add(10 * time.Second)
	for len(b) > 0 {
		n, err := syscall.Write(fd, b)
		if n > 0 {
			b = b[n:]
		}
		switch {
		case errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINTR):
			if time.Now().After(deadline) {
				return errors.New("load tool: write timed out")
			}
			time.Sleep(time.Millisecond)
		case err != nil:
			return err
		}
	}
	return nil
}
