package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"flare/hub/auth"
	"flare/incidents"
)

// Close codes the hub sends, besides the protocol's own (1001 going away
// when the node stops, 1009 for a client message over the read limit).
const (
	// CloseTokenExpired closes a connection whose token expired without a
	// refresh: reconnect with a new token and resume.
	CloseTokenExpired websocket.StatusCode = 4001
	// CloseTooSlow closes a connection that fell behind by more than its
	// queue holds: reconnect and resume after the last seq received.
	CloseTooSlow websocket.StatusCode = 4008
)

// WSConfig configures the WebSocket transport: how it authenticates an
// upgrade and answers a refused one (given by the HTTP API that mounts it),
// and its limits. Zero limits take the defaults.
type WSConfig struct {
	// Authenticate returns the principal of an upgrade request (its bearer
	// token or session cookie), or an error that refuses the upgrade
	// (required).
	Authenticate func(r *http.Request) (auth.Principal, error)
	// VerifyToken checks the token of a client's refresh message (required).
	VerifyToken func(token string) (auth.Principal, error)
	// WriteError answers a refused upgrade with err, an *incidents.Error
	// (required).
	WriteError func(w http.ResponseWriter, r *http.Request, err error)
	// Now is the clock of token expiry and the connection rate (default
	// time.Now).
	Now func() time.Time
	// Registerer receives the transport's metrics (default: a private
	// registry). The broadcaster registers the same fan-out metrics there.
	Registerer prometheus.Registerer

	// AllowedOrigins are the browser origins allowed besides the hub's own
	// host: host patterns ("dash.example.gov.cn", "*.example.gov.cn") or
	// scheme://host patterns, matched with path.Match.
	AllowedOrigins []string
	// MaxConns is the most connections this node holds (default 20000);
	// beyond it the upgrade is refused with 503. The last LeaderReserve of
	// them are kept for the leader and admin roles.
	MaxConns int
	// LeaderReserve is how many of MaxConns only leaders and admins may
	// take (default MaxConns/20; negative: none), so that no flood of other
	// connections keeps the command centre out.
	LeaderReserve int
	// MaxConnsPerUser is the most connections one subject holds on this
	// node (default 20; negative: no limit); beyond it the upgrade is
	// refused with 429 and code rate_limited.
	MaxConnsPerUser int
	// ConnRate and ConnBurst limit new connections per second (default
	// 1000/s, bursts of 2000); beyond it the upgrade is refused with 429.
	ConnRate  float64
	ConnBurst int
	// ResumeRate and ResumeBurst limit the resume messages of one
	// connection (default 1 a second, bursts of 3), as each may replay the
	// log from the store; a resume beyond them is answered with hub.error
	// code rate_limited and not done.
	ResumeRate  float64
	ResumeBurst int
	// QueueMessages and QueueBytes bound what waits to be written to one
	// connection (default 4096 messages, 4 MiB); a connection that falls
	// further behind is closed with CloseTooSlow.
	QueueMessages int
	QueueBytes    int
	// PingInterval is how often each connection is pinged and its token
	// checked (default 20s); PingTimeout is how long a pong may take
	// (default 10s) before the peer is taken for dead.
	PingInterval time.Duration
	PingTimeout  time.Duration
	// WriteTimeout bounds every write (default 10s).
	WriteTimeout time.Duration
	// ReadLimit is the largest client message (default 8 KiB); a larger
	// one closes the connection with 1009.
	ReadLimit int64
	// ExpiryWarning is how long before its token expires a connection is
	// sent hub.token_expiring (default 2m).
	ExpiryWarning time.Duration
	// Linger is how long an idle connection keeps its writer goroutine
	// (default 5s).
	Linger time.Duration
	// SendBuffer, when positive, sets each connection's kernel send buffer
	// (SO_SNDBUF) in bytes, so that a client falling behind shows in its
	// queue (and is closed) instead of in kernel memory; 0 keeps the
	// kernel's automatic sizing.
	SendBuffer int
}

func (c *WSConfig) setDefaults() {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Registerer == nil {
		c.Registerer = prometheus.NewRegistry()
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 20000
	}
	if c.LeaderReserve == 0 {
		c.LeaderReserve = c.MaxConns / 20
	}
	if c.LeaderReserve < 0 || c.LeaderReserve >= c.MaxConns {
		c.LeaderReserve = 0
	}
	if c.MaxConnsPerUser == 0 {
		c.MaxConnsPerUser = 20
	}
	if c.ConnRate <= 0 {
		c.ConnRate = 1000
	}
	if c.ConnBurst <= 0 {
		c.ConnBurst = 2000
	}
	if c.ResumeRate <= 0 {
		c.ResumeRate = 1
	}
	if c.ResumeBurst <= 0 {
		c.ResumeBurst = 3
	}
	if c.QueueMessages <= 0 {
		c.QueueMessages = 4096
	}
	if c.QueueBytes <= 0 {
		c.QueueBytes = 4 << 20
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 20 * time.Second
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = 10 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.ReadLimit <= 0 {
		c.ReadLimit = 8 << 10
	}
	if c.ExpiryWarning <= 0 {
		c.ExpiryWarning = 2 * time.Minute
	}
	if c.Linger <= 0 {
		c.Linger = 5 * time.Second
	}
}

// WebSockets serves the event log to dashboards over WebSocket: it
// upgrades requests, holds the connections and their limits, and streams
// each connection what its principal may see, from the Broadcaster.
type WebSockets struct {
	cfg     WSConfig
	b       *Broadcaster
	limiter *tokenBucket
	metrics *wsMetrics
	ctx     context.Context // ends when the server closes its connections
	cancel  context.CancelFunc

	// ticked, when set (by tests), is called after each housekeeping round.
	ticked func()

	mu       sync.Mutex
	conns    map[*wsConn]struct{}
	perUser  map[string]int // connections held or being accepted, by subject
	reserved int
	draining bool
	hkOnce   sync.Once
	wg       sync.WaitGroup
}

// NewWebSockets returns the WebSocket transport of b. It returns an error
// when cfg lacks one of its required functions.
func NewWebSockets(b *Broadcaster, cfg WSConfig) (*WebSockets, error) {
	if b == nil || cfg.Authenticate == nil || cfg.VerifyToken == nil || cfg.WriteError == nil {
		return nil, errors.New("new websockets: a broadcaster, Authenticate, VerifyToken and WriteError are required")
	}
	cfg.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &WebSockets{
		cfg: cfg, b: b, limiter: newTokenBucket(cfg.ConnRate, cfg.ConnBurst), metrics: wsMetricsFor(cfg.Registerer),
		ctx: ctx, cancel: cancel, conns: map[*wsConn]struct{}{}, perUser: map[string]int{},
	}, nil
}

// unavailable is an error reported as 503 that keeps its cause for logs.
type unavailable struct {
	msg   string
	cause error
}

func (e *unavailable) Error() string { return e.msg + ": " + e.cause.Error() }
func (e *unavailable) Unwrap() []error {
	return []error{&incidents.Error{Code: incidents.CodeUnavailable, Message: e.msg}, e.cause}
}

// ServeHTTP upgrades a request to a WebSocket connection (GET /ws).
// Before the upgrade it refuses, through WriteError: too many new
// connections (CodeRateLimited), a foreign Origin (CodeForbidden), no valid
// principal (Authenticate's error), a role that may not subscribe
// (CodeForbidden), a bad ?after (CodeBadRequest), a subject holding
// MaxConnsPerUser connections (CodeRateLimited), a node at its connection
// limit (for roles other than leader and admin, at MaxConns less
// LeaderReserve) or stopping (CodeUnavailable).
func (s *WebSockets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, st := s.b, s
	reject := func(reason string, err error) {
		st.metrics.rejected.WithLabelValues(reason).Inc()
		s.cfg.WriteError(w, r, err)
	}
	if !st.limiter.allow(s.cfg.Now()) {
		w.Header().Set("Retry-After", "1")
		reject("rate", incidents.Errorf(incidents.CodeRateLimited, "too many new WebSocket connections; retry in a second"))
		return
	}
	if !OriginAllowed(r, st.cfg.AllowedOrigins) {
		reject("origin", incidents.FieldError(incidents.CodeForbidden, "Origin", "origin %q is not allowed", r.Header.Get("Origin")))
		return
	}
	p, err := s.cfg.Authenticate(r)
	if err != nil {
		reject("auth", err)
		return
	}
	if !p.Role.May(incidents.OpSubscribe) {
		reject("role", incidents.Errorf(incidents.CodeForbidden, "role %s may not subscribe to the event stream", p.Role))
		return
	}
	after, resume := int64(0), false
	if v := r.URL.Query().Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			reject("bad_request", incidents.FieldError(incidents.CodeBadRequest, "after", "after must be a seq (a whole number >= 0)"))
			return
		}
		after, resume = n, true
	}
	st.mu.Lock()
	switch {
	case st.draining:
		st.mu.Unlock()
		reject("draining", incidents.Errorf(incidents.CodeUnavailable, "this node is stopping; connect to another node or retry"))
		return
	case len(st.conns)+st.reserved >= st.cfg.MaxConns-st.reserveFor(p.Role):
		st.mu.Unlock()
		w.Header().Set("Retry-After", "5")
		reject("full", incidents.Errorf(incidents.CodeUnavailable, "this node holds its maximum of %d connections; retry or connect to another node", st.cfg.MaxConns))
		return
	case st.cfg.MaxConnsPerUser > 0 && st.perUser[p.Subject] >= st.cfg.MaxConnsPerUser:
		st.mu.Unlock()
		w.Header().Set("Retry-After", "5")
		reject("user_limit", incidents.FieldError(incidents.CodeRateLimited, "subject", "%s holds its maximum of %d connections on this node; close one first", p.Subject, st.cfg.MaxConnsPerUser))
		return
	}
	st.reserved++
	st.perUser[p.Subject]++
	st.mu.Unlock()
	leave := func() { // the caller holds st.mu
		if st.perUser[p.Subject]--; st.perUser[p.Subject] <= 0 {
			delete(st.perUser, p.Subject)
		}
	}

	cw := &corkingWriter{ResponseWriter: w}
	ws, err := websocket.Accept(cw, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true, // the origin was checked above
		CompressionMode:    websocket.CompressionDisabled,
	})
	st.mu.Lock()
	st.reserved--
	if err != nil || st.draining {
		leave()
		st.mu.Unlock()
		if err == nil {
			ws.Close(websocket.StatusGoingAway, "server stopping")
		}
		return
	}
	if st.cfg.SendBuffer > 0 {
		if tc, ok := cw.conn.Conn.(interface{ SetWriteBuffer(int) error }); ok {
			_ = tc.SetWriteBuffer(st.cfg.SendBuffer)
		}
	}
	c := newWSConn(s, ws, cw.conn, p)
	c.bySession = r.Header.Get("Authorization") == ""
	st.conns[c] = struct{}{}
	st.wg.Add(1)
	st.mu.Unlock()
	st.hkOnce.Do(func() {
		st.wg.Add(1)
		go func() { defer st.wg.Done(); s.housekeep(st.ctx) }()
	})
	st.metrics.connections.Inc()
	b.presence.join(p)
	// The connection lives in a goroutine of its own, so that the HTTP
	// server's goroutine, request and buffers are released now.
	go func() {
		defer func() {
			b.presence.leave(p)
			st.metrics.connections.Dec()
			st.mu.Lock()
			delete(st.conns, c)
			leave()
			st.mu.Unlock()
			st.wg.Done()
		}()
		c.serve(after, resume)
	}()
}

// EndSessions closes, with CloseTokenExpired, the connections of subject
// that were opened with a session rather than a bearer token, when the
// user signs out (every session of theirs ends). It returns how many it
// closed.
func (s *WebSockets) EndSessions(subject string) int {
	var ended []*wsConn
	s.mu.Lock()
	for c := range s.conns {
		if c.bySession && c.principal().Subject == subject {
			ended = append(ended, c)
		}
	}
	s.mu.Unlock()
	for _, c := range ended {
		go c.close(CloseTokenExpired, "signed out: sign in again", "signed_out")
	}
	return len(ended)
}

// reserveFor is how many of MaxConns role may not take.
func (s *WebSockets) reserveFor(role incidents.Role) int {
	if role == incidents.RoleLeader || role == incidents.RoleAdmin {
		return 0
	}
	return s.cfg.LeaderReserve
}

// housekeep pings every connection once per PingInterval and enforces token
// expiry, until ctx ends. It wakes 20 times per interval and pings the
// connections whose turn it is, so that pings are spread over the interval
// rather than sent to every connection at once.
func (s *WebSockets) housekeep(ctx context.Context) {
	t := time.NewTicker(max(s.cfg.PingInterval/20, 5*time.Millisecond))
	defer t.Stop()
	var conns []*wsConn
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now, mono := s.cfg.Now(), time.Now()
		s.mu.Lock()
		conns = conns[:0]
		for c := range s.conns {
			conns = append(conns, c)
		}
		s.mu.Unlock()
		for _, c := range conns {
			c.tick(now, mono)
		}
		clear(conns)
		if s.ticked != nil {
			s.ticked()
		}
	}
}

// Close refuses new WebSocket connections, closes the open ones with 1001
// (going away) so that clients resume elsewhere, and waits for them to
// finish until ctx ends, when it drops the rest. It returns ctx's error if
// it had to drop connections.
func (s *WebSockets) Close(ctx context.Context) error {
	st := s
	st.mu.Lock()
	st.draining = true
	conns := make([]*wsConn, 0, len(st.conns))
	for c := range st.conns {
		conns = append(conns, c)
	}
	st.mu.Unlock()
	st.cancel()
	for _, c := range conns {
		go c.close(websocket.StatusGoingAway, "server stopping; reconnect and resume", "going_away")
	}
	done := make(chan struct{})
	go func() { st.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		for _, c := range conns {
			c.ws.CloseNow()
		}
		<-done
		return ctx.Err()
	}
}

// wsConn is one WebSocket connection. Its handler goroutine reads client
// messages; a writer goroutine, started when messages are queued and kept
// while they keep coming, writes them.
type wsConn struct {
	srv  *WebSockets
	b    *Broadcaster
	cfg  *WSConfig
	ws   *websocket.Conn
	cork *corkConn
	sub  subscriber

	resumes   *tokenBucket // the client's resume messages
	bySession bool         // authenticated without a bearer token (a session cookie)

	mu      sync.Mutex // guards p and warned
	p       auth.Principal
	warned  bool
	writing bool // guarded by sub.mu: a writer goroutine runs
	wake    chan struct{}

	writeMu   sync.Mutex // one writer at a time; held while a batch is taken and written
	closeOnce sync.Once
	done      chan struct{}
	pinging   sync.Mutex
	nextPing  time.Time // touched by the housekeeping goroutine only
}

func newWSConn(s *WebSockets, ws *websocket.Conn, cork *corkConn, p auth.Principal) *wsConn {
	c := &wsConn{srv: s, b: s.b, cfg: &s.cfg, ws: ws, cork: cork, p: p, wake: make(chan struct{}, 1), done: make(chan struct{}),
		nextPing: time.Now().Add(s.cfg.PingInterval), resumes: newTokenBucket(s.cfg.ResumeRate, s.cfg.ResumeBurst)}
	ws.SetReadLimit(c.cfg.ReadLimit)
	c.sub = subscriber{
		scope:    scopeOf(p),
		maxMsgs:  c.cfg.QueueMessages,
		maxBytes: c.cfg.QueueBytes,
		notify:   c.notify,
		onOverflow: func() {
			c.close(CloseTooSlow, "too slow: reconnect and resume after your last seq", "too_slow")
		},
	}
	return c
}

// notify starts or wakes the writer. It runs with sub.mu held.
func (c *wsConn) notify() {
	if !c.writing {
		c.writing = true
		c.srv.wg.Add(1)
		go c.writeLoop()
		return
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// writeLoop writes queued messages in batches, each batch with one system
// call, and lingers a while when the queue is empty.
func (c *wsConn) writeLoop() {
	defer c.srv.wg.Done()
	var idle *time.Timer
	defer func() {
		if idle != nil {
			idle.Stop()
		}
	}()
	for {
		c.writeMu.Lock()
		batch := c.sub.take()
		if len(batch) > 0 {
			err := c.writeBatch(batch)
			c.sub.giveBack(batch)
			c.writeMu.Unlock()
			if err != nil {
				c.sub.mu.Lock()
				c.writing = false
				c.sub.mu.Unlock()
				c.close(websocket.StatusInternalError, "write failed", "write_error")
				return
			}
			continue
		}
		c.writeMu.Unlock()
		if idle == nil {
			idle = time.NewTimer(c.cfg.Linger)
		} else {
			idle.Reset(c.cfg.Linger)
		}
		select {
		case <-c.wake:
			continue
		case <-idle.C:
		case <-c.done:
		}
		c.sub.mu.Lock()
		if len(c.sub.queue) == 0 || c.sub.dead {
			c.writing = false
			c.sub.mu.Unlock()
			return
		}
		c.sub.mu.Unlock()
	}
}

// writeBatch writes msgs with one flush. The caller holds writeMu.
func (c *wsConn) writeBatch(msgs []*message) error {
	select {
	case <-c.done: // closing: nothing may follow the close frame
		return nil
	default:
	}
	if c.expired(c.srv.cfg.Now()) {
		go c.close(CloseTokenExpired, "token expired: refresh or reconnect with a new token", "expired")
		return nil
	}
	c.cork.cork()
	for _, m := range msgs {
		c.cork.add(m.frame)
	}
	c.srv.metrics.writes.Inc()
	return c.cork.flush(c.cfg.WriteTimeout)
}

// writeDirect gathers one message outside the queue. The caller holds
// writeMu, has corked the connection and flushes.
func (c *wsConn) writeDirect(m *message) error {
	c.cork.add(m.frame)
	return nil
}

func (c *wsConn) principal() auth.Principal {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.p
}

func (c *wsConn) expired(now time.Time) bool {
	return !now.Before(c.principal().ExpiresAt)
}

// close ends the connection with code and reason (once), after detaching it
// from the fan-out. reason is the metric label.
func (c *wsConn) close(code websocket.StatusCode, text, reason string) {
	c.closeOnce.Do(func() {
		c.b.detach(&c.sub)
		close(c.done)
		c.srv.metrics.closed.WithLabelValues(reason).Inc()
		c.ws.Close(code, text)
	})
}

// tick enforces the token's expiry at now (the injected clock) and pings
// the peer when its turn has come at mono (the real clock).
func (c *wsConn) tick(now, mono time.Time) {
	select {
	case <-c.done:
		return
	default:
	}
	c.mu.Lock()
	exp := c.p.ExpiresAt
	warn := !c.warned && exp.Sub(now) <= c.cfg.ExpiryWarning
	if warn {
		c.warned = true
	}
	c.mu.Unlock()
	if !now.Before(exp) {
		go c.close(CloseTokenExpired, "token expired: refresh or reconnect with a new token", "expired")
		return
	}
	if warn {
		c.sub.enqueue(newControlMessage("hub.token_expiring", now, map[string]any{"expires_at": exp.UTC()}))
	}
	if mono.Before(c.nextPing) || !c.pinging.TryLock() {
		return // not its turn, or the last ping is still waiting
	}
	c.nextPing = mono.Add(c.cfg.PingInterval)
	go func() {
		defer c.pinging.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.PingTimeout)
		defer cancel()
		if err := c.ws.Ping(ctx); err != nil {
			c.closeOnce.Do(func() { // dead peer: no handshake
				c.b.detach(&c.sub)
				close(c.done)
				c.srv.metrics.closed.WithLabelValues("dead_peer").Inc()
				c.ws.CloseNow()
			})
		}
	}()
}

// clientMessage is what a client may send: {"type":"resume","after":N} or
// {"type":"refresh","token":"..."}.
type clientMessage struct {
	Type  string `json:"type"`
	After *int64 `json:"after,omitempty"`
	Token string `json:"token,omitempty"`
}

// serve streams the log to the client and reads its messages until the
// connection ends.
func (c *wsConn) serve(after int64, resume bool) {
	defer c.close(websocket.StatusNormalClosure, "", "ended")
	if err := c.stream(after, resume, true); err != nil {
		c.close(websocket.StatusInternalError, "cannot read the event log; reconnect and resume", "store_error")
		return
	}
	for {
		_, data, err := c.ws.Read(context.Background())
		if err != nil {
			return
		}
		var m clientMessage
		if err := json.Unmarshal(data, &m); err != nil {
			c.sendError(incidents.CodeBadRequest, "a client message must be a JSON object with a type")
			continue
		}
		switch m.Type {
		case "resume":
			if m.After == nil || *m.After < 0 {
				c.sendError(incidents.CodeBadRequest, "resume needs after: a seq (a whole number >= 0)")
				continue
			}
			if !c.resumes.allow(c.srv.cfg.Now()) {
				c.sendError(incidents.CodeRateLimited, "too many resumes on this connection; the stream goes on from where it was")
				continue
			}
			c.b.detach(&c.sub)
			if err := c.stream(*m.After, true, false); err != nil {
				c.close(websocket.StatusInternalError, "cannot read the event log; reconnect and resume", "store_error")
				return
			}
		case "refresh":
			c.refresh(m.Token)
		default:
			c.sendError(incidents.CodeBadRequest, "unknown message type "+strconv.Quote(m.Type)+"; want resume or refresh")
		}
	}
}

// refresh replaces the connection's token with a newer one for the same
// user, role and department.
func (c *wsConn) refresh(token string) {
	p, err := c.srv.cfg.VerifyToken(token)
	if err != nil {
		c.sendError(incidents.CodeUnauthorized, "refresh refused: "+errorMessage(err))
		return
	}
	c.mu.Lock()
	old := c.p
	same := p.Subject == old.Subject && p.Role == old.Role && p.Dept == old.Dept
	if same {
		c.p.ExpiresAt = p.ExpiresAt
		c.warned = false
	}
	c.mu.Unlock()
	if !same {
		c.sendError(incidents.CodeForbidden, "a refresh token must name the same subject, role and department")
		return
	}
	c.sub.enqueue(newControlMessage("hub.refreshed", c.srv.cfg.Now(), map[string]any{"expires_at": p.ExpiresAt.UTC()}))
}

func errorMessage(err error) string {
	var e *incidents.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "invalid token"
}

func (c *wsConn) sendError(code, msg string) {
	c.sub.enqueue(newControlMessage("hub.error", c.srv.cfg.Now(), map[string]string{"code": code, "message": msg}))
}

// stream sends every event after after that the client may see, then
// subscribes it to live ones, with nothing missed or repeated. A resume
// reaches every event committed when it is asked for, even those this node
// has not fanned out yet, and sends them before anything else: events the
// ring no longer holds (or that the node has not delivered yet) are read
// from the store first. Without resume it starts live at the node's head.
// welcome sends hub.welcome first. It returns the store's error.
func (c *wsConn) stream(after int64, resume, welcome bool) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	now := c.srv.cfg.Now()
	head := c.b.Head()
	if !resume {
		after = head
	}
	c.cork.cork()
	defer c.cork.flush(c.cfg.WriteTimeout)
	if welcome {
		p := c.principal()
		_ = c.writeDirect(newControlMessage("hub.welcome", now, map[string]any{
			"node": c.b.NodeID(), "subject": p.Subject, "role": p.Role, "dept": p.Dept,
			"expires_at": p.ExpiresAt.UTC(), "head": head, "after": after,
		}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-c.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	target := head // the replay reaches at least this seq before subscribing
	if resume {
		last, err := c.b.cfg.Log.LastSeq(ctx)
		if err != nil {
			return err
		}
		target = max(head, last)
		switch {
		case after > target:
			_ = c.writeDirect(newControlMessage("hub.reset", now, map[string]any{
				"after": after, "from": target, "reason": "ahead_of_log",
				"message": "the log has no such seq: reload the state and continue from seq from",
			}))
			after = target
		case target-after > c.b.cfg.MaxReplay:
			_ = c.writeDirect(newControlMessage("hub.reset", now, map[string]any{
				"after": after, "from": target, "reason": "too_far_behind",
				"message": "more events were missed than a resume replays: reload the state and continue from seq from",
			}))
			after = target
		}
	}
	cursor := after
	for {
		if cursor >= target || c.b.Head() >= target {
			head, ok := c.b.attach(&c.sub, cursor)
			if ok {
				return nil
			}
			target = max(target, head)
		}
		for cursor < target {
			evs, err := c.b.cfg.Log.ReadEvents(ctx, cursor, int(min(int64(replayPage), target-cursor)))
			if err != nil {
				return err
			}
			if len(evs) == 0 {
				break
			}
			for _, ev := range evs {
				if m := newEventMessage(ev); c.sub.scope.sees(m) {
					_ = c.writeDirect(m)
				}
				cursor = ev.Seq
			}
			if err := c.cork.flush(c.cfg.WriteTimeout); err != nil {
				return nil // the connection is gone; the reader ends
			}
			c.cork.cork()
		}
		if cursor < target { // the store returned less than it had: do not spin
			return fmt.Errorf("replay after %d: the log ends before seq %d", cursor, target)
		}
	}
}
