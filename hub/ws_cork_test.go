package hub

import (
	"errors"
	"net"
	"os"
	"testing"
	"testing/synctest"
	"time"
)

// TestCorkConnDeadlines checks the write deadlines of a corked connection:
// a flush to a peer that stopped reading fails once its deadline passes; a
// busy connection keeps one deadline while at least half of the asked time
// is left and sets a new one after; and a write of the WebSocket library,
// which has no deadline, is not cut short by one left from an earlier flush.
// It runs on the bubble's clock (testing/synctest), so the waits take no
// real time and the deadlines are exact.
func TestCorkConnDeadlines(t *testing.T) {
	synctest.Test(t, testCorkConnDeadlines)
}

func testCorkConnDeadlines(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	c := &corkConn{Conn: client}
	reading := make(chan bool)
	go func() {
		buf := make([]byte, 1024)
		for <-reading {
			if _, err := server.Read(buf); err != nil {
				return
			}
		}
	}()
	send := func(timeout time.Duration) error {
		c.cork()
		c.add([]byte("frame"))
		return c.flush(timeout)
	}

	reading <- true
	before := time.Now()
	if err := send(400 * time.Millisecond); err != nil {
		t.Fatalf("flush = %v, want nil", err)
	}
	first := c.deadline
	if first.Before(before.Add(400*time.Millisecond)) || first.After(time.Now().Add(400*time.Millisecond)) {
		t.Errorf("deadline after the first flush = %v, want 400 ms after the flush", first)
	}
	reading <- true
	if err := send(400 * time.Millisecond); err != nil {
		t.Fatalf("second flush = %v, want nil", err)
	}
	if !c.deadline.Equal(first) {
		t.Errorf("deadline after a flush with most of its time left = %v, want the first one kept (%v)", c.deadline, first)
	}
	time.Sleep(250 * time.Millisecond) // less than half of the 400 ms is left
	reading <- true
	before = time.Now()
	if err := send(400 * time.Millisecond); err != nil {
		t.Fatalf("third flush = %v, want nil", err)
	}
	if c.deadline.Before(before.Add(400 * time.Millisecond)) {
		t.Errorf("deadline after a flush with less than half its time left = %v, want a new one 400 ms after the flush (first was %v)", c.deadline, first)
	}

	// Past the last deadline, the library's own write goes through.
	time.Sleep(500 * time.Millisecond)
	reading <- true
	if _, err := c.Write([]byte("pong")); err != nil {
		t.Fatalf("library write after the flush deadline passed = %v, want nil", err)
	}
	if !c.deadline.IsZero() {
		t.Errorf("deadline after a library write = %v, want none", c.deadline)
	}

	// A peer that stops reading: the flush fails at its deadline.
	start := time.Now()
	err := send(150 * time.Millisecond)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("flush to a peer that does not read = %v, want a deadline error", err)
	}
	if d := time.Since(start); d != 150*time.Millisecond {
		t.Errorf("flush to a peer that does not read took %v, want 150 ms", d)
	}
	close(reading)
}
