package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"flare/incidents"
)

// serverFrame encodes an unmasked frame as a server sends it.
func serverFrame(fin bool, op byte, p []byte) []byte {
	b := op
	if fin {
		b |= 0x80
	}
	f := []byte{b}
	switch {
	case len(p) < 126:
		f = append(f, byte(len(p)))
	case len(p) < 1<<16:
		f = append(f, 126, byte(len(p)>>8), byte(len(p)))
	default:
		f = append(f, 127)
		f = binary.BigEndian.AppendUint64(f, uint64(len(p)))
	}
	return append(f, p...)
}

// readClientFrame reads one masked frame as a client sends it.
func readClientFrame(r io.Reader) (op byte, p []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	if h[1]&0x80 == 0 {
		return 0, nil, errors.New("client frame not masked")
	}
	n := int(h[1] & 0x7f)
	var mask [4]byte
	if _, err := io.ReadFull(r, mask[:]); err != nil {
		return 0, nil, err
	}
	p = make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return 0, nil, err
	}
	for i := range p {
		p[i] ^= mask[i%4]
	}
	return h[0] & 0x0f, p, nil
}

// TestLoadClientReads sends a load client's connection, through whichever
// reader the system uses (an epoll loop on Linux), frames cut at awkward
// places: small and large messages, a message in fragments, a ping between
// them and a close. Every message must arrive once and in order, the ping
// must be answered, and the close code reported.
func TestLoadClientReads(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	ps, err := startWSPollers(ctx, &wg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		wg.Wait()
	}()

	const n = 300
	var stream []byte
	for seq := 1; seq <= n; seq++ {
		body := fmt.Appendf(nil, `{"seq":%d,"type":"call.received","data":{"description":"%0*d"}}`, seq, seq%7*3000, 0)
		switch seq % 50 {
		case 10: // in three fragments
			a, b := len(body)/3, 2*len(body)/3
			stream = append(stream, serverFrame(false, 0x1, body[:a])...)
			stream = append(stream, serverFrame(false, 0x0, body[a:b])...)
			stream = append(stream, serverFrame(true, 0x0, body[b:])...)
		case 20:
			stream = append(stream, serverFrame(true, 0x9, []byte("are you there"))...)
			stream = append(stream, serverFrame(true, 0x1, body)...)
		default:
			stream = append(stream, serverFrame(true, 0x1, body)...)
		}
	}
	stream = append(stream, serverFrame(true, 0x8, append([]byte{0x0f, 0xa4}, "too slow, resume"...))...)

	pongs := make(chan string, 16)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		go func() {
			for {
				op, p, err := readClientFrame(c)
				if err != nil {
					close(pongs)
					return
				}
				if op == 0xA {
					pongs <- string(p)
				}
			}
		}()
		// Cut the stream at every size from 1 byte up, pausing now and
		// then so that reads see partial frames.
		for i, k := 0, 1; i < len(stream); k = k%997 + 1 {
			j := min(len(stream), i+k)
			if _, err := c.Write(stream[i:j]); err != nil {
				return
			}
			i = j
			if k%97 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		time.Sleep(time.Second) // let the client answer the close
	}()

	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := &rawWS{nc: nc, br: bufio.NewReader(nc), fd: -1}
	lc := &loadClient{role: incidents.RoleLeader, contiguous: true, seesCalls: true}
	lc.measureFrom.Store(time.Now().Add(time.Hour).UnixNano())
	if ps != nil {
		err = ps.read(ctx, lc, c)
	} else {
		err = c.read(lc.observe)
	}
	var ce *closeFrameError
	if !errors.As(err, &ce) || ce.code != 4004 || ce.reason != "too slow, resume" {
		t.Errorf("read = %v, want the server's close 4004 too slow, resume", err)
	}
	s := &lc.stats
	if s.received != n || s.last != n || s.gaps != 0 || s.duplicates != 0 {
		t.Errorf("client saw %d messages, last seq %d, %d gaps, %d duplicates; want %d, %d, 0, 0",
			s.received, s.last, s.gaps, s.duplicates, n, n)
	}
	got := 0
	for p := range pongs {
		if p != "are you there" {
			t.Errorf("pong %q, want the ping's payload", p)
		}
		got++
	}
	if got != n/50 {
		t.Errorf("%d pings answered, want %d", got, n/50)
	}
}
