package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"

	"flare/hub"
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

func (c *fakeClock) Now() time.Time { return time.Unix(0, c.ns.Load()).UTC() }

// wsServer is the API with the WebSocket hub over a store.
type wsServer struct {
	*httptest.Server
	srv    *Server
	b      *hub.Broadcaster
	signer *auth.Signer
	clock  *fakeClock
}

type wsOptions struct {
	store    incidents.Store
	intake   *incidents.Intake
	workflow *incidents.Workflow
}

func newWSServer(tb testing.TB, o wsOptions) *wsServer {
	tb.Helper()
	clock := newFakeClock()
	signer, err := auth.NewSigner(bytes.Repeat([]byte("k"), 32), clock.Now)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := hub.StartBroadcaster(context.Background(), hub.BroadcasterConfig{Log: o.store, Logger: zerolog.Nop(), Now: clock.Now})
	if err != nil {
		tb.Fatalf("StartBroadcaster() = %v", err)
	}
	srv, err := New(Config{
		Store: o.store, Intake: o.intake, Signer: signer, Logger: zerolog.Nop(), Now: clock.Now,
		Broadcaster: b, Workflow: o.workflow,
	})
	if err != nil {
		tb.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.CloseWebSockets(ctx); err != nil {
			tb.Errorf("CloseWebSockets() = %v, want nil", err)
		}
		ts.Close()
		b.Close()
	})
	return &wsServer{Server: ts, srv: srv, b: b, signer: signer, clock: clock}
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
	Data json.RawMessage `json:"data"`
}

type wsClient struct{ c *websocket.Conn }

func (s *wsServer) mustDial(tb testing.TB, token, query string) *wsClient {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.URL, "http")+"/ws"+query,
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		tb.Fatalf("dial /ws%s = %v (status %d), want a connection", query, err, status)
	}
	c.SetReadLimit(1 << 24)
	tb.Cleanup(func() { c.CloseNow() })
	return &wsClient{c: c}
}

func (c *wsClient) send(tb testing.TB, v any) {
	tb.Helper()
	b, _ := json.Marshal(v)
	if err := c.c.Write(context.Background(), websocket.MessageText, b); err != nil {
		tb.Fatalf("send %s: %v", b, err)
	}
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
