package loadtest

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

// testStream returns what a server sends in the read tests: n messages
// (seq 1 to n) of sizes up to 18 KB, every 50th from the 10th in three
// fragments, a ping before every 50th from the 20th, and a close with code
// 4004. It also returns where each ping frame ends in the stream.
func testStream(n int) (stream []byte, pingEnds []int) {
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
			pingEnds = append(pingEnds, len(stream))
			stream = append(stream, serverFrame(true, 0x1, body)...)
		default:
			stream = append(stream, serverFrame(true, 0x1, body)...)
		}
	}
	stream = append(stream, serverFrame(true, 0x8, append([]byte{0x0f, 0xa4}, "too slow, resume"...))...)
	return stream, pingEnds
}

// checkClient checks what a leadership client saw of testStream(n).
func checkClient(t *testing.T, lc *loadClient, n int) {
	t.Helper()
	s := &lc.stats
	if s.received != int64(n) || s.last != int64(n) || s.gaps != 0 || s.duplicates != 0 {
		t.Errorf("client saw %d messages, last seq %d, %d gaps, %d duplicates; want %d, %d, 0, 0",
			s.received, s.last, s.gaps, s.duplicates, n, n)
	}
}

func newLeaderClient() *loadClient {
	lc := &loadClient{role: incidents.RoleLeader, contiguous: true, seesCalls: true}
	lc.measureFrom.Store(time.Now().Add(time.Hour).UnixNano())
	return lc
}

// TestFeedReassemblesCutFrames feeds the frame parser the stream in pieces
// of every size from 1 byte up: every message must come out once and in
// order however the frames are cut, and the close must end it.
func TestFeedReassemblesCutFrames(t *testing.T) {
	const n = 300
	stream, _ := testStream(n)
	server, client := net.Pipe()
	defer server.Close()
	pongs := make(chan int, 1)
	go func() {
		got := 0
		for {
			op, _, err := readClientFrame(server)
			if err != nil || op == 0x8 {
				pongs <- got
				return
			}
			if op == 0xA {
				got++
			}
		}
	}()
	c := &rawWS{nc: client, fd: -1}
	lc := newLeaderClient()
	var err error
	for i, k := 0, 1; i < len(stream) && err == nil; k = k%997 + 1 {
		j := min(len(stream), i+k)
		err = c.feed(stream[i:j], lc.observe)
		i = j
	}
	var ce *closeFrameError
	if !errors.As(err, &ce) || ce.code != 4004 || ce.reason != "too slow, resume" {
		t.Errorf("feed = %v, want the server's close 4004 too slow, resume", err)
	}
	client.Close()
	if got := <-pongs; got != n/50 {
		t.Errorf("%d pings answered, want %d", got, n/50)
	}
	checkClient(t, lc, n)
}

// TestLoadClientReads sends a load client's connection, through whichever
// reader the system uses (an epoll loop on Linux), frames cut at awkward
// places: small and large messages, a message in fragments, a ping between
// them and a close. After each ping the server stops half-way through the
// next frame until the pong comes, so that the reader must carry a partial
// frame from one read to the next. Every message must arrive once and in
// order, the ping must be answered, and the close code reported.
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
	stream, pingEnds := testStream(n)
	answered := make(chan int, 1) // pongs received, once the client's close reply is in
	go func() {
		c, err := ln.Accept()
		if err != nil {
			answered <- -1
			return
		}
		defer c.Close()
		pongs := make(chan struct{}, len(pingEnds))
		closed := make(chan struct{})
		go func() {
			defer close(closed)
			for {
				op, p, err := readClientFrame(c)
				if err != nil || op == 0x8 {
					return
				}
				if op == 0xA && string(p) == "are you there" {
					pongs <- struct{}{}
				}
			}
		}()
		// Cut the stream at every size from 1 byte up; after each ping,
		// stop 7 bytes into the next frame until the client has answered.
		got, next := 0, 0
		for i, k := 0, 1; i < len(stream); k = k%997 + 1 {
			j := min(len(stream), i+k)
			wait := false
			if next < len(pingEnds) && j >= pingEnds[next]+7 {
				j, wait = pingEnds[next]+7, true
				next++
			}
			if _, err := c.Write(stream[i:j]); err != nil {
				break
			}
			i = j
			if wait {
				select {
				case <-pongs:
					got++
				case <-closed:
				}
			}
		}
		<-closed // the client's close reply, or its end
		answered <- got + len(pongs)
	}()

	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := &rawWS{nc: nc, br: bufio.NewReader(nc), fd: -1}
	lc := newLeaderClient()
	if ps != nil {
		err = ps.read(ctx, lc, c)
	} else {
		err = c.read(lc.observe)
		c.close()
	}
	var ce *closeFrameError
	if !errors.As(err, &ce) || ce.code != 4004 || ce.reason != "too slow, resume" {
		t.Errorf("read = %v, want the server's close 4004 too slow, resume", err)
	}
	checkClient(t, lc, n)
	if got := <-answered; got != n/50 {
		t.Errorf("%d pings answered, want %d", got, n/50)
	}
}
