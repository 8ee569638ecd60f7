package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"

	"flare/hub/auth"
	"flare/incidents"
)

// fakeClock is a clock the test moves.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 9, 14, 13, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// wsServer is a hub serving /ws over a test event log.
type wsServer struct {
	*httptest.Server
	ws     *WebSockets
	b      *Broadcaster
	signer *auth.Signer
	clock  *fakeClock
	ticks  chan struct{} // a value after each housekeeping round
}

type wsOptions struct {
	log      incidents.EventLog
	ringSize int
	ws       WSConfig
}

// bearer authenticates an upgrade by its bearer token, as the API does.
func bearer(signer *auth.Signer) func(r *http.Request) (auth.Principal, error) {
	return func(r *http.Request) (auth.Principal, error) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			return auth.Principal{}, incidents.Errorf(incidents.CodeUnauthorized, "missing bearer token")
		}
		return signer.Verify(tok)
	}
}

// testStatus is the status the API gives each code the hub reports.
var testStatus = map[string]int{
	incidents.CodeBadRequest:   http.StatusBadRequest,
	incidents.CodeUnauthorized: http.StatusUnauthorized,
	incidents.CodeForbidden:    http.StatusForbidden,
	incidents.CodeRateLimited:  http.StatusTooManyRequests,
	incidents.CodeUnavailable:  http.StatusServiceUnavailable,
}

// writeTestError answers as the API does: {"error":{...}} with the code's
// status.
func writeTestError(w http.ResponseWriter, r *http.Request, err error) {
	var e *incidents.Error
	if !errors.As(err, &e) {
		e = incidents.Errorf(incidents.CodeInternal, "internal error")
	}
	status := testStatus[e.Code]
	if status == 0 {
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": e})
}

func newWSServer(tb testing.TB, o wsOptions) *wsServer {
	tb.Helper()
	clock := newFakeClock()
	signer, err := auth.NewSigner(bytes.Repeat([]byte("k"), 32), clock.Now)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := StartBroadcaster(context.Background(), BroadcasterConfig{
		Log: o.log, Logger: zerolog.Nop(), Now: clock.Now, RingSize: o.ringSize,
	})
	if err != nil {
		tb.Fatalf("StartBroadcaster() = %v", err)
	}
	cfg := o.ws
	cfg.Authenticate, cfg.VerifyToken, cfg.WriteError, cfg.Now = bearer(signer), signer.Verify, writeTestError, clock.Now
	ws, err := NewWebSockets(b, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ticks := make(chan struct{}, 1)
	ws.ticked = func() {
		select {
		case ticks <- struct{}{}:
		default:
		}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /ws", ws)
	ts := httptest.NewServer(mux)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ws.Close(ctx); err != nil {
			tb.Errorf("Close() = %v, want nil", err)
		}
		ts.Close()
		b.Close()
	})
	return &wsServer{Server: ts, ws: ws, b: b, signer: signer, clock: clock, ticks: ticks}
}

func (s *wsServer) token(tb testing.TB, role incidents.Role, dept string, ttl time.Duration) string {
	tb.Helper()
	tok, err := s.signer.Issue(auth.Principal{Subject: "u-" + string(role) + dept, Role: role, Dept: dept}, ttl)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// envelope is a server message as a client reads it.
type envelope struct {
	Seq  int64           `json:"seq"`
	Type string          `json:"type"`
	At   string          `json:"at"`
	Data json.RawMessage `json:"data"`
}

type wsClient struct {
	c *websocket.Conn
}

func (s *wsServer) dial(tb testing.TB, token, query string, header http.Header) (*wsClient, *http.Response, error) {
	tb.Helper()
	return s.dialWith(tb, token, query, header, nil)
}

// dialWith dials with an HTTP client of the caller's (nil: the default).
func (s *wsServer) dialWith(tb testing.TB, token, query string, header http.Header, hc *http.Client) (*wsClient, *http.Response, error) {
	tb.Helper()
	h := http.Header{}
	for k, v := range header {
		h[k] = v
	}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.URL, "http")+"/ws"+query, &websocket.DialOptions{HTTPHeader: h, HTTPClient: hc})
	if err != nil {
		return nil, res, err
	}
	c.SetReadLimit(1 << 24)
	tb.Cleanup(func() { c.CloseNow() })
	return &wsClient{c: c}, res, nil
}

func (s *wsServer) mustDial(tb testing.TB, token, query string) *wsClient {
	tb.Helper()
	c, res, err := s.dial(tb, token, query, nil)
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		tb.Fatalf("dial /ws%s = %v (status %d), want a connection", query, err, status)
	}
	return c
}

// next reads one message.
func (c *wsClient) next(tb testing.TB) (envelope, error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, data, err := c.c.Read(ctx)
	if err != nil {
		return envelope{}, err
	}
	var e envelope
	if err := json.Unmarshal(data, &e); err != nil {
		tb.Fatalf("server message %s: %v", data, err)
	}
	return e, nil
}

// events reads until it has the durable event seq upto (or fails) and
// returns the durable seqs read, skipping ephemeral messages.
func (c *wsClient) events(tb testing.TB, upto int64) []int64 {
	tb.Helper()
	var seqs []int64
	for len(seqs) == 0 || seqs[len(seqs)-1] < upto {
		e, err := c.next(tb)
		if err != nil {
			tb.Fatalf("reading events up to %d after %v: %v", upto, seqs, err)
		}
		if e.Seq > 0 {
			seqs = append(seqs, e.Seq)
		}
	}
	return seqs
}

func (c *wsClient) send(tb testing.TB, v any) {
	tb.Helper()
	b, _ := json.Marshal(v)
	if err := c.c.Write(context.Background(), websocket.MessageText, b); err != nil {
		tb.Fatalf("send %s: %v", b, err)
	}
}

// closeStatus reads until the connection ends and returns its close code.
func (c *wsClient) closeStatus(tb testing.TB) (websocket.StatusCode, string) {
	tb.Helper()
	for {
		_, err := c.next(tb)
		if err != nil {
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code, ce.Reason
			}
			return -1, err.Error()
		}
	}
}

// waitTicks waits for n housekeeping rounds to end.
func (s *wsServer) waitTicks(tb testing.TB, n int) {
	tb.Helper()
	for range n {
		select {
		case <-s.ticks:
		case <-time.After(10 * time.Second):
			tb.Fatal("no housekeeping round ended within 10s")
		}
	}
}

func seqRange(from, to int64) []int64 {
	var s []int64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

func TestResumeUnderConcurrentAppends(t *testing.T) {
	noLeaks(t)
	log := newMemLog()
	s := newWSServer(t, wsOptions{log: log, ringSize: 32})
	tok := s.token(t, incidents.RoleLeader, "", time.Hour)
	const before, during = 300, 700
	for range before {
		log.append("call.received", `{}`)
	}
	waitHead(t, s.b, before)
	stop := make(chan struct{})
	appended := make(chan int64, 1)
	go func() {
		var last int64
		for range during {
			last = log.append("call.received", `{"x":"during the replay"}`)
			if last%50 == 0 {
				runtime.Gosched() // let the replays interleave with the appends
			}
		}
		appended <- last
		<-stop
	}()
	defer close(stop)
	final := int64(before + during)
	tests := []struct {
		name  string
		after int64
	}{
		{"resume from the start replays the store then the ring", 0},
		{"resume from the middle of the store", 150},
		{"resume near the head comes from the ring", before - 5},
	}
	var wg sync.WaitGroup
	for _, tt := range tests {
		wg.Add(1)
		t.Run(tt.name, func(t *testing.T) {
			defer wg.Done()
			c := s.mustDial(t, tok, fmt.Sprintf("?after=%d", tt.after))
			got := c.events(t, final)
			if want := seqRange(tt.after+1, final); !slices.Equal(got, want) {
				t.Errorf("after=%d received %d events (first %v), want %d in order without gap or duplicate", tt.after, len(got), got[:min(5, len(got))], len(want))
			}
		})
	}
	wg.Wait()
	<-appended
	t.Run("resume message mid-stream restarts from the seq asked", func(t *testing.T) {
		c := s.mustDial(t, tok, "")
		c.send(t, map[string]any{"type": "resume", "after": final - 100})
		got := c.events(t, final)
		if want := seqRange(final-99, final); !slices.Equal(got, want) {
			t.Errorf("resume after %d received %v, want %v", final-100, got, want)
		}
	})
}

func TestResumeRandomReconnects(t *testing.T) {
	noLeaks(t)
	log := newMemLog()
	s := newWSServer(t, wsOptions{log: log, ringSize: 16})
	tok := s.token(t, incidents.RoleAdmin, "", time.Hour)
	const total = 600
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range total {
			log.append("call.received", `{}`)
		}
	}()
	// A client that drops its connection at random points and resumes
	// after the last seq it saw ends up with every event once, in order.
	rng := rand.New(rand.NewPCG(1, 2))
	var got []int64
	for len(got) == 0 || got[len(got)-1] < total {
		last := int64(0)
		if len(got) > 0 {
			last = got[len(got)-1]
		}
		c := s.mustDial(t, tok, fmt.Sprintf("?after=%d", last))
		for n := rng.IntN(120); n >= 0; n-- {
			e, err := c.next(t)
			if err != nil {
				t.Fatal(err)
			}
			if e.Seq > 0 {
				got = append(got, e.Seq)
				if e.Seq == total {
					break
				}
			}
		}
		c.c.CloseNow()
	}
	<-done
	if want := seqRange(1, total); !slices.Equal(got, want) {
		t.Errorf("reconnecting client received %d events, want %d in order once each", len(got), len(want))
	}
}

// TestAudienceOverWebSocket checks that each connection receives the
// events whose audience includes its role (and department), live and on a
// resume, and nothing else.
func TestAudienceOverWebSocket(t *testing.T) {
	noLeaks(t)
	log := newMemLog()
	s := newWSServer(t, wsOptions{log: log})
	clients := map[string]*wsClient{
		"leader":  s.mustDial(t, s.token(t, incidents.RoleLeader, "", time.Hour), ""),
		"admin":   s.mustDial(t, s.token(t, incidents.RoleAdmin, "", time.Hour), ""),
		"agent":   s.mustDial(t, s.token(t, incidents.RoleAgent, "", time.Hour), ""),
		"hotline": s.mustDial(t, s.token(t, incidents.RoleHotline, "", time.Hour), ""),
		"water":   s.mustDial(t, s.token(t, incidents.RoleDept, "water", time.Hour), ""),
		"gas":     s.mustDial(t, s.token(t, incidents.RoleDept, "gas", time.Hour), ""),
	}
	for name, c := range clients { // subscribed once welcomed
		if e, err := c.next(t); err != nil || e.Type != "hub.welcome" {
			t.Fatalf("%s's first message = %+v, %v, want hub.welcome", name, e, err)
		}
	}
	for _, e := range []struct {
		typ string
		aud incidents.Audience
	}{
		{"call.received", incidents.CallReceivedAudience()},                      // 1
		{"task.dispatched", incidents.Audience{Depts: []string{"water"}}},        // 2
		{"alert.raised", incidents.Audience{}},                                   // 3: leaders only
		{"incident.opened", incidents.Audience{Depts: []string{"gas", "water"}}}, // 4
		{"call.received", incidents.Audience{CallFloor: true}},                   // 5
		{"order.verified", incidents.Audience{Hotline: true}},                    // 6
	} {
		// The data says nothing about who may see it: only the audience does.
		log.appendFor(e.typ, `{"urgent":true,"dept":"gas","departments":["water","gas"]}`, e.aud)
	}
	waitHead(t, s.b, 6) // queued for every connection before what follows
	want := map[string][]int64{
		"leader":  {1, 2, 3, 4, 5, 6},
		"admin":   {1, 2, 3, 4, 5, 6},
		"agent":   {1, 5},
		"hotline": {1, 6},
		"water":   {2, 4},
		"gas":     {4},
	}
	for name, c := range clients {
		t.Run(name, func(t *testing.T) {
			live := c.until(t, "hub.error", func() { c.send(t, map[string]any{"type": "bogus"}) })
			c.send(t, map[string]any{"type": "resume", "after": 0})
			replayed := c.until(t, "hub.error", func() { c.send(t, map[string]any{"type": "bogus"}) })
			if !slices.Equal(live, want[name]) || !slices.Equal(replayed, want[name]) {
				t.Errorf("%s received live %v and on a resume %v, want %v", name, live, replayed, want[name])
			}
		})
	}
	t.Run("a system token may not subscribe", func(t *testing.T) {
		_, res, err := s.dial(t, s.token(t, incidents.RoleSystem, "", time.Hour), "", nil)
		if err == nil || res == nil || res.StatusCode != http.StatusForbidden {
			t.Errorf("dial as system = %v, want 403", err)
		}
	})
}

// until reads durable events until a message of type typ arrives after
// mark has been called, and returns their seqs. mark is called once the
// last event of the log is due (after head), so that what it causes comes
// after them.
func (c *wsClient) until(tb testing.TB, typ string, mark func()) []int64 {
	tb.Helper()
	mark()
	var seqs []int64
	for {
		e, err := c.next(tb)
		if err != nil {
			tb.Fatalf("reading until %s: %v", typ, err)
		}
		if e.Type == typ {
			return seqs
		}
		if e.Seq > 0 {
			seqs = append(seqs, e.Seq)
		}
	}
}

func TestWebSocketRejections(t *testing.T) {
	noLeaks(t)
	s := newWSServer(t, wsOptions{log: newMemLog(), ws: WSConfig{
		AllowedOrigins: []string{"dash.zhuhai.example", "https://*.ops.example"},
	}})
	tok := s.token(t, incidents.RoleLeader, "", time.Hour)
	tests := []struct {
		name     string
		token    string
		query    string
		origin   string
		status   int
		code     string
		upgrades bool
	}{
		{"no token is 401", "", "", "", http.StatusUnauthorized, incidents.CodeUnauthorized, false},
		{"forged token is 401", tok + "x", "", "", http.StatusUnauthorized, incidents.CodeUnauthorized, false},
		{"foreign origin is 403", tok, "", "https://evil.example", http.StatusForbidden, incidents.CodeForbidden, false},
		{"bad after is 400", tok, "?after=-3", "", http.StatusBadRequest, incidents.CodeBadRequest, false},
		{"allowed origin host connects", tok, "", "http://dash.zhuhai.example", http.StatusSwitchingProtocols, "", true},
		{"allowed origin pattern connects", tok, "", "https://a.ops.example", http.StatusSwitchingProtocols, "", true},
		{"same host connects", tok, "", "", http.StatusSwitchingProtocols, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			c, res, err := s.dial(t, tt.token, tt.query, h)
			if tt.upgrades {
				if err != nil {
					t.Fatalf("dial(origin %q) = %v, want a connection", tt.origin, err)
				}
				c.c.CloseNow()
				return
			}
			if err == nil || res == nil {
				t.Fatalf("dial(origin %q) = %v, want status %d", tt.origin, err, tt.status)
			}
			b, _ := io.ReadAll(res.Body)
			var body struct{ Error incidents.Error }
			_ = json.Unmarshal(b, &body)
			if res.StatusCode != tt.status || body.Error.Code != tt.code {
				t.Errorf("dial = %d %s, want %d with code %s", res.StatusCode, b, tt.status, tt.code)
			}
		})
	}
}

func TestConnectionLimits(t *testing.T) {
	noLeaks(t)
	tests := []struct {
		name   string
		ws     WSConfig
		status int
		code   string
	}{
		{"past the connection limit is 503", WSConfig{MaxConns: 2}, http.StatusServiceUnavailable, incidents.CodeUnavailable},
		{"past the connection rate is 429", WSConfig{ConnRate: 0.001, ConnBurst: 2}, http.StatusTooManyRequests, incidents.CodeRateLimited},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newWSServer(t, wsOptions{log: newMemLog(), ws: tt.ws})
			tok := s.token(t, incidents.RoleLeader, "", time.Hour)
			s.mustDial(t, tok, "")
			s.mustDial(t, tok, "")
			_, res, err := s.dial(t, tok, "", nil)
			if err == nil || res == nil {
				t.Fatalf("third dial = %v, want status %d", err, tt.status)
			}
			b, _ := io.ReadAll(res.Body)
			if res.StatusCode != tt.status || !strings.Contains(string(b), `"code":"`+tt.code+`"`) {
				t.Errorf("third dial = %d %s, want %d with code %s", res.StatusCode, b, tt.status, tt.code)
			}
		})
	}
}

func TestOneUserCannotTakeEverySlot(t *testing.T) {
	noLeaks(t)
	s := newWSServer(t, wsOptions{log: newMemLog(), ws: WSConfig{MaxConns: 6, LeaderReserve: 2, MaxConnsPerUser: 3}})
	refused := func(tok string) (int, string) {
		t.Helper()
		_, res, err := s.dial(t, tok, "", nil)
		if err == nil || res == nil {
			t.Fatalf("dial = %v, want it refused", err)
		}
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	water := s.token(t, incidents.RoleDept, "water", time.Hour)
	for range 3 {
		s.mustDial(t, water, "")
	}
	if status, body := refused(water); status != http.StatusTooManyRequests || !strings.Contains(body, `"code":"rate_limited"`) {
		t.Errorf("fourth connection of one subject = %d %s, want 429 rate_limited", status, body)
	}
	power := s.token(t, incidents.RoleDept, "power", time.Hour)
	s.mustDial(t, power, "")
	if status, body := refused(power); status != http.StatusServiceUnavailable || !strings.Contains(body, `"code":"unavailable"`) {
		t.Errorf("a department's connection into the leaders' reserve = %d %s, want 503 unavailable", status, body)
	}
	leader := s.token(t, incidents.RoleLeader, "", time.Hour)
	s.mustDial(t, leader, "")
	s.mustDial(t, leader, "")
}

func TestOversizeClientFrameClosesConnection(t *testing.T) {
	noLeaks(t)
	s := newWSServer(t, wsOptions{log: newMemLog(), ws: WSConfig{ReadLimit: 1024}})
	c := s.mustDial(t, s.token(t, incidents.RoleLeader, "", time.Hour), "")
	big := `{"type":"refresh","token":"` + strings.Repeat("x", 4096) + `"}`
	_ = c.c.Write(context.Background(), websocket.MessageText, []byte(big))
	if code, _ := c.closeStatus(t); code != websocket.StatusMessageTooBig {
		t.Errorf("close code after a 4 KiB frame over a 1 KiB limit = %d, want %d", code, websocket.StatusMessageTooBig)
	}
}

func TestTokenExpiryMidConnection(t *testing.T) {
	noLeaks(t)
	log := newMemLog()
	s := newWSServer(t, wsOptions{log: log, ws: WSConfig{PingInterval: 10 * time.Millisecond, ExpiryWarning: time.Minute}})
	t.Run("expired token closes with 4001", func(t *testing.T) {
		c := s.mustDial(t, s.token(t, incidents.RoleLeader, "", time.Hour), "")
		s.clock.Advance(59*time.Minute + 30*time.Second)
		for { // the warning comes first
			e, err := c.next(t)
			if err != nil {
				t.Fatalf("reading before expiry: %v", err)
			}
			if e.Type == "hub.token_expiring" {
				break
			}
		}
		s.clock.Advance(time.Minute)
		if code, reason := c.closeStatus(t); code != CloseTokenExpired {
			t.Errorf("close after expiry = %d %q, want %d", code, reason, CloseTokenExpired)
		}
	})
	t.Run("refreshed token keeps the connection", func(t *testing.T) {
		c := s.mustDial(t, s.token(t, incidents.RoleLeader, "", time.Hour), "")
		c.send(t, map[string]any{"type": "refresh", "token": s.token(t, incidents.RoleLeader, "", 3*time.Hour)})
		for {
			e, err := c.next(t)
			if err != nil {
				t.Fatalf("reading after refresh: %v", err)
			}
			if e.Type == "hub.refreshed" {
				break
			}
		}
		s.clock.Advance(2 * time.Hour)
		s.waitTicks(t, 3) // the third round began after the clock moved
		seq := log.append("call.received", `{}`)
		if got := c.events(t, seq); got[len(got)-1] != seq {
			t.Errorf("after refresh received %v, want seq %d", got, seq)
		}
	})
	t.Run("refresh for another user is refused", func(t *testing.T) {
		c := s.mustDial(t, s.token(t, incidents.RoleDept, "water", time.Hour), "")
		c.send(t, map[string]any{"type": "refresh", "token": s.token(t, incidents.RoleLeader, "", time.Hour)})
		for {
			e, err := c.next(t)
			if err != nil {
				t.Fatalf("reading after refresh: %v", err)
			}
			if e.Type == "hub.error" {
				if !strings.Contains(string(e.Data), incidents.CodeForbidden) {
					t.Errorf("refresh as another role answered %s, want code forbidden", e.Data)
				}
				break
			}
		}
	})
}

// TestSlowClientClosedFastClientKeepsReceiving checks that a client that
// falls behind by more than its queue is closed with CloseTooSlow while a
// client that keeps up receives every event, in order. The clients read in
// step with the appends, not by the clock: the fast one reads each chunk
// before the next is appended, the slow one a few messages per chunk.
func TestSlowClientClosedFastClientKeepsReceiving(t *testing.T) {
	noLeaks(t)
	log := newMemLog()
	// A long write timeout: the slow client's writer stays blocked until the
	// client reads, however loaded the machine is.
	s := newWSServer(t, wsOptions{log: log, ws: WSConfig{QueueMessages: 64, QueueBytes: 4 << 20, SendBuffer: 64 << 10, WriteTimeout: time.Minute}})
	tok := s.token(t, incidents.RoleLeader, "", time.Hour)
	// The slow client reads through a small receive buffer, so that little
	// hides in the kernel.
	smallBuffer := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			err = c.(*net.TCPConn).SetReadBuffer(64 << 10)
		}
		return c, err
	}}}
	slow, _, err := s.dialWith(t, tok, "", nil, smallBuffer)
	if err != nil {
		t.Fatal(err)
	}
	fast := s.mustDial(t, tok, "")
	// Each connection is subscribed once it has been welcomed: only then may
	// the events come.
	for name, c := range map[string]*wsClient{"slow": slow, "fast": fast} {
		if e, err := c.next(t); err != nil || e.Type != "hub.welcome" {
			t.Fatalf("%s client's first message = %+v, %v, want hub.welcome", name, e, err)
		}
	}
	const n, chunk, slowReads = 2000, 20, 4
	appended := make(chan struct{}, n/chunk)
	slowClosed := make(chan websocket.StatusCode, 1)
	go func() {
		defer close(slowClosed)
		for range appended { // a few messages per chunk: it falls behind
			for range slowReads {
				if _, _, err := slow.c.Read(context.Background()); err != nil {
					slowClosed <- websocket.CloseStatus(err)
					return
				}
			}
		}
		for { // then it reads what is left, up to the close
			if _, _, err := slow.c.Read(context.Background()); err != nil {
				slowClosed <- websocket.CloseStatus(err)
				return
			}
		}
	}()
	progress := make(chan int64, n)
	fastDone := make(chan []int64, 1)
	go func() {
		defer close(progress)
		var seqs []int64
		for len(seqs) == 0 || seqs[len(seqs)-1] < n {
			_, data, err := fast.c.Read(context.Background())
			if err != nil {
				break
			}
			var e envelope
			if json.Unmarshal(data, &e) == nil && e.Seq > 0 {
				seqs = append(seqs, e.Seq)
				progress <- e.Seq
			}
		}
		fastDone <- seqs
	}()
	// 2000 events of 8 KiB come in chunks that the fast client keeps up
	// with and the slow one does not.
	data := `{"pad":"` + strings.Repeat("x", 8<<10) + `"}`
	for i := 0; i < n; i += chunk {
		var last int64
		for range chunk {
			last = log.append("call.received", data)
		}
		appended <- struct{}{}
		for seq := int64(0); seq < last; {
			var ok bool
			if seq, ok = <-progress; !ok {
				t.Fatalf("fast client stopped after seq %d, want %d", seq, n)
			}
		}
	}
	close(appended)
	if got := <-fastDone; !slices.Equal(got, seqRange(1, n)) {
		t.Errorf("fast client received %d events, want %d in order", len(got), n)
	}
	if code := <-slowClosed; code != CloseTooSlow {
		t.Errorf("slow client closed with %d, want %d", code, CloseTooSlow)
	}
}

func TestPresence(t *testing.T) {
	noLeaks(t)
	s := newWSServer(t, wsOptions{log: newMemLog()})
	leader := s.mustDial(t, s.token(t, incidents.RoleLeader, "", time.Hour), "")
	s.mustDial(t, s.token(t, incidents.RoleDept, "water", time.Hour), "")
	s.mustDial(t, s.token(t, incidents.RoleDept, "water", time.Hour), "")
	var p Presence
	for {
		e, err := leader.next(t)
		if err != nil {
			t.Fatal(err)
		}
		if e.Type != EventPresenceChanged {
			continue
		}
		if e.Seq != 0 {
			t.Errorf("presence.changed seq = %d, want 0 (not in the log)", e.Seq)
		}
		if err := json.Unmarshal(e.Data, &p); err != nil {
			t.Fatal(err)
		}
		if p.Connections == 3 {
			break
		}
	}
	want := []PresenceDept{{Dept: "water", Users: 1, Connections: 2}}
	if !slices.Equal(p.Departments, want) {
		t.Errorf("presence departments = %+v, want %+v", p.Departments, want)
	}
}

func TestCloseWebSocketsSendsGoingAway(t *testing.T) {
	noLeaks(t)
	s := newWSServer(t, wsOptions{log: newMemLog()})
	c := s.mustDial(t, s.token(t, incidents.RoleAgent, "", time.Hour), "")
	go s.ws.Close(context.Background())
	if code, _ := c.closeStatus(t); code != websocket.StatusGoingAway {
		t.Errorf("close code on shutdown = %d, want %d", code, websocket.StatusGoingAway)
	}
}

func TestDeadPeerIsDropped(t *testing.T) {
	noLeaks(t)
	s := newWSServer(t, wsOptions{log: newMemLog(), ws: WSConfig{PingInterval: 20 * time.Millisecond, PingTimeout: 50 * time.Millisecond}})
	// A client that never reads never answers pings.
	c := s.mustDial(t, s.token(t, incidents.RoleLeader, "", time.Hour), "")
	defer c.c.CloseNow()
	for round := 0; ; round++ {
		s.ws.mu.Lock()
		n := len(s.ws.conns)
		s.ws.mu.Unlock()
		if n == 0 {
			return
		}
		if round > 2000 { // 2000 rounds of 1 ms: far past the 50 ms ping timeout
			t.Fatalf("server holds %d connections %d housekeeping rounds after the peer stopped answering pings, want 0", n, round)
		}
		s.waitTicks(t, 1)
	}
}

func TestResumeLargerThanTheQueueIsNotClosedTooSlow(t *testing.T) {
	noLeaks(t)
	log := newMemLog()
	s := newWSServer(t, wsOptions{log: log, ringSize: 4096, ws: WSConfig{QueueMessages: 64}})
	for range 1000 {
		log.append("call.received", `{}`)
	}
	waitHead(t, s.b, 1000)
	c := s.mustDial(t, s.token(t, incidents.RoleLeader, "", time.Hour), "?after=0")
	for range 50 { // live events arrive while the backlog is sent
		log.append("call.received", `{}`)
	}
	if got := c.events(t, 1050); !slices.Equal(got, seqRange(1, 1050)) {
		t.Errorf("resume of 1000 events through a queue of 64 received %d events, want 1050 in order", len(got))
	}
}

func TestResumesAreLimitedPerConnection(t *testing.T) {
	noLeaks(t)
	log := newMemLog()
	s := newWSServer(t, wsOptions{log: log})
	for range 5 {
		log.append("call.received", `{}`)
	}
	waitHead(t, s.b, 5)
	c := s.mustDial(t, s.token(t, incidents.RoleLeader, "", time.Hour), "")
	// nextError reads to the next hub.error and returns its code.
	nextError := func() string {
		t.Helper()
		for {
			e, err := c.next(t)
			if err != nil {
				t.Fatalf("reading to the next hub.error: %v", err)
			}
			if e.Type == "hub.error" {
				var body struct{ Code string }
				_ = json.Unmarshal(e.Data, &body)
				return body.Code
			}
		}
	}
	after0 := map[string]any{"type": "resume", "after": 0}
	marker := map[string]any{"type": "no-such-type"} // answered with bad_request
	for range 3 {
		c.send(t, after0)
	}
	c.send(t, marker)
	if code := nextError(); code != incidents.CodeBadRequest {
		t.Errorf("first hub.error after 3 resumes = %s, want none before the marker's bad_request", code)
	}
	c.send(t, after0)
	if code := nextError(); code != incidents.CodeRateLimited {
		t.Errorf("hub.error after a fourth resume within a second = %s, want rate_limited", code)
	}
	s.clock.Advance(time.Second)
	c.send(t, after0)
	if got := c.events(t, 5); !slices.Equal(got, seqRange(1, 5)) {
		t.Errorf("a resume a second later replayed %v, want 1..5", got)
	}
	c.send(t, marker)
	if code := nextError(); code != incidents.CodeBadRequest {
		t.Errorf("hub.error after a resume a second later = %s, want none before the marker's bad_request", code)
	}
}
