package sqlite

import (
	"context"
	"testing"
	"time"
)

func TestWriteGateLetsCallsGoFirst(t *testing.T) {
	var g writeGate
	ctx := context.Background()
	if err := g.acquire(ctx, false); err != nil {
		t.Fatal(err)
	}
	order := make(chan string, 3)
	wait := func(name string, high bool) {
		if err := g.acquire(ctx, high); err != nil {
			t.Error(err)
			return
		}
		order <- name
		g.release()
	}
	go wait("workflow-1", false)
	time.Sleep(20 * time.Millisecond)
	go wait("workflow-2", false)
	time.Sleep(20 * time.Millisecond)
	go wait("call", true)
	time.Sleep(20 * time.Millisecond)
	// A waiter that gives up leaves the queue without taking a turn.
	gone, cancel := context.WithCancel(ctx)
	cancel()
	if err := g.acquire(gone, true); err == nil {
		t.Fatal("acquire with a cancelled context took the turn")
	}
	g.release()
	got := []string{<-order, <-order, <-order}
	want := []string{"call", "workflow-1", "workflow-2"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("turns = %v, want %v", got, want)
		}
	}
	if err := g.acquire(ctx, false); err != nil || !g.busy {
		t.Fatalf("acquire on a free gate = %v, busy %v", err, g.busy)
	}
	g.release()
}
