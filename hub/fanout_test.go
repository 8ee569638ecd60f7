package hub

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"flare/hub/auth"
	"flare/incidents"
)

// memLog is an in-memory event log for tests.
type memLog struct {
	mu      sync.Mutex
	evs     []incidents.Event
	changed chan struct{}
	failing atomic.Bool
}

func newMemLog() *memLog { return &memLog{changed: make(chan struct{})} }

// append adds an event for the leadership group (and the call floor for a
// call.received) and returns its seq.
func (l *memLog) append(typ, data string) int64 {
	var aud incidents.Audience
	if typ == incidents.EventCallReceived {
		aud = incidents.CallReceivedAudience()
	}
	return l.appendFor(typ, data, aud)
}

// appendFor adds an event with audience aud and returns its seq.
func (l *memLog) appendFor(typ, data string, aud incidents.Audience) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	seq := int64(len(l.evs)) + 1
	l.evs = append(l.evs, incidents.Event{Seq: seq, Type: typ, At: time.Unix(1789000000, seq*1000).UTC(), Data: json.RawMessage(data), Audience: aud})
	close(l.changed)
	l.changed = make(chan struct{})
	return seq
}

func (l *memLog) ReadEvents(ctx context.Context, after int64, limit int) ([]incidents.Event, error) {
	if l.failing.Load() {
		return nil, fmt.Errorf("read events: store down")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if after >= int64(len(l.evs)) {
		return nil, nil
	}
	out := l.evs[after:min(int(after)+limit, len(l.evs))]
	return slices.Clone(out), nil
}

func (l *memLog) LastSeq(ctx context.Context) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(len(l.evs)), nil
}

func (l *memLog) WaitEvents(ctx context.Context, after int64) error {
	for {
		l.mu.Lock()
		has, ch := int64(len(l.evs)) > after, l.changed
		l.mu.Unlock()
		if has {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// noLeaks fails tb when goroutines started during the test are still
// running after its cleanups. Register it first, so that it runs last.
func noLeaks(tb testing.TB) {
	tb.Helper()
	before := runtime.NumGoroutine()
	tb.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				n := runtime.Stack(buf, true)
				tb.Errorf("goroutines = %d after the test, want <= %d:\n%s", runtime.NumGoroutine(), before, buf[:n])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func startTestBroadcaster(tb testing.TB, log incidents.EventLog, ringSize int) *Broadcaster {
	tb.Helper()
	b, err := StartBroadcaster(context.Background(), BroadcasterConfig{Log: log, Logger: zerolog.Nop(), RingSize: ringSize})
	if err != nil {
		tb.Fatalf("StartBroadcaster() = %v", err)
	}
	tb.Cleanup(func() { b.Close() })
	return b
}

// collector is a subscriber that records what it is sent.
type collector struct {
	sub  subscriber
	mu   sync.Mutex
	seqs []int64
	got  chan struct{}
}

func newCollector(s scope, maxMsgs int) *collector {
	c := &collector{got: make(chan struct{}, 1)}
	c.sub = subscriber{scope: s, maxMsgs: maxMsgs, maxBytes: 1 << 30}
	c.sub.notify = func() {
		select {
		case c.got <- struct{}{}:
		default:
		}
	}
	return c
}

// drain moves queued messages into seqs.
func (c *collector) drain() {
	q := c.sub.take()
	c.mu.Lock()
	for _, m := range q {
		c.seqs = append(c.seqs, m.seq)
	}
	c.mu.Unlock()
	c.sub.giveBack(q)
}

// waitSeq drains until the collector has seen seq or a second passes.
func (c *collector) waitSeq(tb testing.TB, seq int64) []int64 {
	tb.Helper()
	deadline := time.After(5 * time.Second)
	for {
		c.drain()
		c.mu.Lock()
		done := len(c.seqs) > 0 && c.seqs[len(c.seqs)-1] >= seq
		out := slices.Clone(c.seqs)
		c.mu.Unlock()
		if done {
			return out
		}
		select {
		case <-c.got:
		case <-time.After(5 * time.Millisecond):
		case <-deadline:
			tb.Fatalf("collector saw %v, want up to seq %d", out, seq)
		}
	}
}

func TestFanoutScopes(t *testing.T) {
	noLeaks(t)
	log := newMemLog()
	b := startTestBroadcaster(t, log, 64)
	scopes := map[string]scope{
		"leader":  scopeOf(auth.Principal{Role: incidents.RoleLeader}),
		"admin":   scopeOf(auth.Principal{Role: incidents.RoleAdmin}),
		"agent":   scopeOf(auth.Principal{Role: incidents.RoleAgent}),
		"hotline": scopeOf(auth.Principal{Role: incidents.RoleHotline}),
		"system":  scopeOf(auth.Principal{Role: incidents.RoleSystem}),
		"water":   scopeOf(auth.Principal{Role: incidents.RoleDept, Dept: "water"}),
		"power":   scopeOf(auth.Principal{Role: incidents.RoleDept, Dept: "power"}),
		"fire":    scopeOf(auth.Principal{Role: incidents.RoleDept, Dept: "fire"}),
	}
	cols := map[string]*collector{}
	for name, s := range scopes {
		cols[name] = newCollector(s, 1000)
		if _, ok := b.attach(&cols[name].sub, 0); !ok {
			t.Fatalf("attach(%s, 0) = not ok, want ok on an empty log", name)
		}
	}
	// The data of each event names other departments and flags: the hub
	// must go by the audience alone.
	misleading := `{"urgent":true,"dept":"fire","previous_dept":"fire","departments":["fire"]}`
	events := []struct {
		typ string
		aud incidents.Audience
	}{
		{"call.received", incidents.CallReceivedAudience()},                        // 1
		{"task.dispatched", incidents.Audience{Depts: []string{"water"}}},          // 2
		{"incident.opened", incidents.Audience{Depts: []string{"fire", "water"}}},  // 3
		{"alert.raised", incidents.Audience{}},                                     // 4
		{"alert.raised", incidents.Audience{CallFloor: true}},                      // 5
		{"task.reassigned", incidents.Audience{Depts: []string{"power", "water"}}}, // 6
		{"task.signed", incidents.Audience{Depts: []string{"power"}}},              // 7
		{"order.verified", incidents.Audience{Hotline: true}},                      // 8
	}
	for _, e := range events {
		log.appendFor(e.typ, misleading, e.aud)
	}
	want := map[string][]int64{
		"leader":  {1, 2, 3, 4, 5, 6, 7, 8},
		"admin":   {1, 2, 3, 4, 5, 6, 7, 8},
		"agent":   {1, 5},
		"hotline": {1, 8},
		"system":  nil,
		"water":   {2, 3, 6},
		"power":   {6, 7},
		"fire":    {3},
	}
	waitHead(t, b, 8) // every event has been queued for everyone
	for name, c := range cols {
		c.drain()
		c.mu.Lock()
		got := c.seqs
		c.mu.Unlock()
		if !slices.Equal(got, want[name]) {
			t.Errorf("%s received seqs %v, want %v", name, got, want[name])
		}
	}
}

func TestAttachReplaysRingWithoutGapOrDuplicate(t *testing.T) {
	noLeaks(t)
	log := newMemLog()
	b := startTestBroadcaster(t, log, 16)
	for range 10 {
		log.append("call.received", `{}`)
	}
	waitHead(t, b, 10)
	tests := []struct {
		name  string
		after int64
		ok    bool
	}{
		{"resume inside the ring is served from it", 4, true},
		{"resume at the head waits for live events", 10, true},
		{"resume ahead of the node skips what the client has", 12, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCollector(scope{view: incidents.ViewAll}, 1000)
			if _, ok := b.attach(&c.sub, tt.after); ok != tt.ok {
				t.Fatalf("attach(after %d) ok = %v, want %v", tt.after, ok, tt.ok)
			}
			defer b.detach(&c.sub)
			var seqs []int64
			for range 4 {
				seqs = append(seqs, log.append("call.received", `{}`))
			}
			got := c.waitSeq(t, seqs[3])
			var want []int64
			for s := tt.after + 1; s <= seqs[3]; s++ {
				want = append(want, s)
			}
			if !slices.Equal(got, want) {
				t.Errorf("after %d received %v, want %v", tt.after, got, want)
			}
		})
	}
	t.Run("resume behind the ring asks for the store", func(t *testing.T) {
		c := newCollector(scope{view: incidents.ViewAll}, 1000)
		if head, ok := b.attach(&c.sub, 0); ok || head != b.Head() {
			t.Errorf("attach(after 0) = %d, %v, want %d, false", head, ok, b.Head())
		}
	})
}

func TestSlowSubscriberIsDroppedOthersKeepReceiving(t *testing.T) {
	noLeaks(t)
	log := newMemLog()
	b := startTestBroadcaster(t, log, 64)
	slow := newCollector(scope{view: incidents.ViewAll}, 5)
	overflowed := make(chan struct{})
	slow.sub.onOverflow = func() { close(overflowed) }
	fast := newCollector(scope{view: incidents.ViewAll}, 5)
	b.attach(&slow.sub, 0)
	b.attach(&fast.sub, 0)
	var last int64
	for range 50 {
		last = log.append("call.received", `{}`)
		fast.waitSeq(t, last) // the fast one keeps up
	}
	select {
	case <-overflowed:
	case <-time.After(5 * time.Second):
		t.Fatal("slow subscriber was not dropped after 50 events with a queue of 5")
	}
	if got := fast.waitSeq(t, last); len(got) != 50 {
		t.Errorf("fast subscriber received %d events, want 50", len(got))
	}
}

// TestBrokerEventsMergeBySeq runs in a bubble (testing/synctest): the
// broadcaster's goroutines are the bubble's, so the test can wait until they
// have dealt with what the broker brought.
func TestBrokerEventsMergeBySeq(t *testing.T) {
	synctest.Test(t, testBrokerEventsMergeBySeq)
}

func testBrokerEventsMergeBySeq(t *testing.T) {
	log := newMemLog()
	b := startTestBroadcaster(t, log, 64)
	c := newCollector(scope{view: incidents.ViewAll}, 1000)
	b.attach(&c.sub, 0)
	floor := newCollector(scope{view: incidents.ViewFloor}, 1000)
	b.attach(&floor.sub, 0)
	// The store holds 1..6; the broker brings 1, 2, 2 (again), then 5, 6
	// (3 and 4 lost): the node must still deliver 1..6 once each, in order.
	// The odd ones are for the call floor, which must get them whichever
	// way they came.
	ev := func(seq int64) incidents.Event {
		var aud incidents.Audience
		if seq%2 == 1 {
			aud = incidents.CallReceivedAudience()
		}
		return incidents.Event{Seq: seq, Type: "call.received", At: time.Unix(1789000000, 0), Data: json.RawMessage(`{}`), Audience: aud}
	}
	log.failing.Store(true) // the waiter cannot read: only the broker path works
	for seq := range int64(6) {
		log.mu.Lock()
		log.evs = append(log.evs, ev(seq+1))
		log.mu.Unlock()
	}
	b.remote <- []incidents.Event{ev(1), ev(2), ev(2)}
	c.waitSeq(t, 2)
	b.remote <- []incidents.Event{ev(5), ev(6)}
	synctest.Wait() // 5 and 6 are held: the pump waits to retry the store
	if got := c.waitSeq(t, 2); !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("before the gap is filled received %v, want [1 2]", got)
	}
	log.failing.Store(false) // the store comes back and fills the gap
	select {
	case b.kick <- struct{}{}:
	default:
	}
	got := c.waitSeq(t, 6)
	if want := []int64{1, 2, 3, 4, 5, 6}; !slices.Equal(got, want) {
		t.Errorf("received %v, want %v", got, want)
	}
	if got, want := floor.waitSeq(t, 5), []int64{1, 3, 5}; !slices.Equal(got, want) {
		t.Errorf("call floor received %v, want %v", got, want)
	}
}

func waitHead(tb testing.TB, b *Broadcaster, seq int64) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for b.Head() < seq {
		if time.Now().After(deadline) {
			tb.Fatalf("Head() = %d, want %d", b.Head(), seq)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestEncodeMessage(t *testing.T) {
	at := time.Date(2026, 9, 14, 21, 5, 0, 123456000, time.FixedZone("CST", 8*3600))
	tests := []struct {
		name string
		seq  int64
		typ  string
		data string
		want string
	}{
		{"event keeps its data", 42, "call.received", `{"id":"c1"}`, `{"seq":42,"type":"call.received","at":"2026-09-14T13:05:00.123456Z","data":{"id":"c1"}}`},
		{"empty data becomes an object", 0, "hub.welcome", ``, `{"seq":0,"type":"hub.welcome","at":"2026-09-14T13:05:00.123456Z","data":{}}`},
		{"odd type is escaped", 1, "a\"b", `{}`, `{"seq":1,"type":"a\"b","at":"2026-09-14T13:05:00.123456Z","data":{}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(encodeMessage(tt.seq, tt.typ, at, json.RawMessage(tt.data)))
			if got != tt.want {
				t.Errorf("encodeMessage(%d, %q) = %s, want %s", tt.seq, tt.typ, got, tt.want)
			}
			if !json.Valid([]byte(got)) {
				t.Errorf("encodeMessage(%d, %q) = %s, not valid JSON", tt.seq, tt.typ, got)
			}
		})
	}
}

// BenchmarkPublish measures the publish path: one event decided and encoded
// once, then queued for 1,000 subscribers.
func BenchmarkPublish(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			br := &Broadcaster{ring: newRing(1024), depts: map[string]*group{}, metrics: wsMetricsFor(prometheus.NewRegistry())}
			subs := make([]*subscriber, n)
			for i := range subs {
				subs[i] = &subscriber{scope: scope{view: incidents.ViewAll}, maxMsgs: 1 << 30, maxBytes: 1 << 62}
				br.all.add(subs[i])
			}
			data := json.RawMessage(`{"id":"c_0001","seq":1,"received_at":"2026-09-14T13:05:00Z","lat":22.271,"lon":113.5767,"category":"waterlogging","urgent":false,"location":{"type":"Point","coordinates":[113.5767,22.271]}}`)
			ev := []incidents.Event{{Type: "call.received", At: time.Now(), Data: data}}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				ev[0].Seq = int64(i + 1)
				br.deliver(ev)
				if i%64 == 63 {
					for _, s := range subs {
						s.giveBack(s.take())
					}
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}

func TestEncodeFrame(t *testing.T) {
	at := time.Date(2026, 9, 14, 13, 5, 0, 0, time.UTC)
	tests := []struct {
		name    string
		dataLen int
		hdrLen  int
	}{
		{"small message has a 2-byte header", 10, 2},
		{"medium message has a 16-bit length", 2000, 4},
		{"large message has a 64-bit length", 70000, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := json.RawMessage(`{"p":"` + strings.Repeat("x", tt.dataLen) + `"}`)
			frame, msg := encodeFrame(7, "call.received", at, data)
			if want := encodeMessage(7, "call.received", at, data); !bytes.Equal(msg, want) {
				t.Fatalf("encodeFrame message = %.60s..., want %.60s...", msg, want)
			}
			hdr := frame[:len(frame)-len(msg)]
			if len(hdr) != tt.hdrLen || hdr[0] != 0x81 {
				t.Fatalf("encodeFrame header = % x, want %d bytes starting 81 (fin, text)", hdr, tt.hdrLen)
			}
			var n uint64
			switch hdr[1] {
			case 126:
				n = uint64(binary.BigEndian.Uint16(hdr[2:]))
			case 127:
				n = binary.BigEndian.Uint64(hdr[2:])
			default:
				n = uint64(hdr[1])
			}
			if n != uint64(len(msg)) {
				t.Errorf("encodeFrame length field = %d, want %d", n, len(msg))
			}
		})
	}
}

func TestAttachLeavesLargeBacklogToTheCaller(t *testing.T) {
	noLeaks(t)
	log := newMemLog()
	b := startTestBroadcaster(t, log, 1024)
	for range 100 {
		log.append("call.received", `{}`)
	}
	waitHead(t, b, 100)
	tests := []struct {
		name    string
		maxMsgs int
		ok      bool
	}{
		{"backlog within half the queue is queued", 1000, true},
		{"backlog over half the queue is replayed by the caller", 100, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCollector(scope{view: incidents.ViewAll}, tt.maxMsgs)
			_, ok := b.attach(&c.sub, 10)
			defer b.detach(&c.sub)
			if ok != tt.ok {
				t.Errorf("attach(after 10) with a queue of %d: ok = %v, want %v", tt.maxMsgs, ok, tt.ok)
			}
		})
	}
}

func TestAttachOnAFreshNodeReplaysFromTheStore(t *testing.T) {
	noLeaks(t)
	log := newMemLog()
	for range 5 { // committed before the node started
		log.append("call.received", `{}`)
	}
	b := startTestBroadcaster(t, log, 64)
	tests := []struct {
		name  string
		after int64
		ok    bool
	}{
		{"resume before the node's start is left to the store", 2, false},
		{"resume from the start is left to the store", 0, false},
		{"resume at the node's start is live", 5, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCollector(scope{view: incidents.ViewAll}, 1000)
			head, ok := b.attach(&c.sub, tt.after)
			defer b.detach(&c.sub)
			if ok != tt.ok || head != 5 {
				t.Errorf("attach(after %d) on a node started at seq 5 = %d, %v, want 5, %v", tt.after, head, ok, tt.ok)
			}
		})
	}
}
