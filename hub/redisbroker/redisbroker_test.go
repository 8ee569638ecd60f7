package redisbroker_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"flare/api"
	"flare/hub"
	"flare/hub/auth"
	"flare/hub/redisbroker"
	"flare/incidents"
	"flare/incidents/defaults"
	"flare/incidents/postgres"
)

// redisURL returns FLARE_TEST_REDIS_URL, skipping tb without it (failing it
// under CI=true, where Redis is required).
func redisURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("FLARE_TEST_REDIS_URL")
	if u == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatal("FLARE_TEST_REDIS_URL is not set: Redis is required under CI")
		}
		tb.Skip("FLARE_TEST_REDIS_URL is not set; skipping Redis test")
	}
	return u
}

// newDatabase creates a fresh database on the server of
// FLARE_TEST_POSTGRES_URL, drops it when tb ends and returns its URL. It
// skips tb without the variable (fails it under CI=true).
func newDatabase(tb testing.TB) string {
	tb.Helper()
	server := os.Getenv("FLARE_TEST_POSTGRES_URL")
	if server == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatal("FLARE_TEST_POSTGRES_URL is not set: Postgres is required under CI")
		}
		tb.Skip("FLARE_TEST_POSTGRES_URL is not set; skipping Postgres test")
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := "flare_hubtest_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		tb.Fatalf("pgx.Connect(FLARE_TEST_POSTGRES_URL) = %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("CREATE DATABASE %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, server)
		if err != nil {
			tb.Errorf("drop test database: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("DROP DATABASE %s: %v", name, err)
		}
	})
	u, err := url.Parse(server)
	if err != nil {
		tb.Fatalf("FLARE_TEST_POSTGRES_URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// uniquePrefix returns a key prefix no other test uses.
func uniquePrefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "flaretest:" + hex.EncodeToString(b[:]) + ":"
}

func newBroker(tb testing.TB, url, prefix, name string) *redisbroker.Broker {
	tb.Helper()
	br, err := redisbroker.New(url, redisbroker.Options{Prefix: prefix, ClientName: name, HealthInterval: time.Second})
	if err != nil {
		tb.Fatalf("redisbroker.New() = %v", err)
	}
	tb.Cleanup(func() { br.Close() })
	if err := br.Ping(context.Background()); err != nil {
		tb.Fatalf("Ping() = %v, want a reachable Redis at FLARE_TEST_REDIS_URL", err)
	}
	return br
}

// deafLog hides the store's commit notifications: WaitEvents blocks until
// ctx ends, so a broadcaster on it learns of new events only from the
// broker (and reads the store only to fill gaps).
type deafLog struct{ incidents.EventLog }

func (deafLog) WaitEvents(ctx context.Context, after int64) error {
	<-ctx.Done()
	return ctx.Err()
}

// node is one hub node on the shared Postgres database.
type node struct {
	url    string
	srv    *api.Server
	b      *hub.Broadcaster
	signer *auth.Signer
}

func startNode(tb testing.TB, dbURL string, br *redisbroker.Broker, deaf bool) *node {
	tb.Helper()
	ctx := context.Background()
	store, err := postgres.Open(ctx, dbURL, postgres.Options{})
	if err != nil {
		tb.Fatalf("postgres.Open() = %v", err)
	}
	tb.Cleanup(func() { store.Close() })
	if err := store.MigrateUp(ctx); err != nil {
		tb.Fatalf("MigrateUp() = %v", err)
	}
	tax, err := incidents.ParseTaxonomy(defaults.Categories)
	if err != nil {
		tb.Fatal(err)
	}
	intake := incidents.NewIntake(incidents.IntakeConfig{Store: store, Taxonomy: tax})
	tb.Cleanup(func() { intake.Close(context.Background()) })
	var log incidents.EventLog = store
	if deaf {
		log = deafLog{store}
	}
	b, err := hub.StartBroadcaster(ctx, hub.BroadcasterConfig{
		Log: log, Broker: br, Presence: br, Logger: zerolog.Nop(), PresenceInterval: 500 * time.Millisecond,
	})
	if err != nil {
		tb.Fatalf("StartBroadcaster() = %v", err)
	}
	signer, err := auth.NewSigner(bytes.Repeat([]byte("s"), 32), nil)
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := api.New(api.Config{Store: store, Intake: intake, Signer: signer, Logger: zerolog.Nop(), Broadcaster: b})
	if err != nil {
		tb.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.CloseWebSockets(ctx)
		ts.Close()
		b.Close()
	})
	return &node{url: ts.URL, srv: srv, b: b, signer: signer}
}

func (n *node) token(tb testing.TB, role incidents.Role, dept string) string {
	tb.Helper()
	tok, err := n.signer.Issue(auth.Principal{Subject: "u-" + string(role), Role: role, Dept: dept}, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

func (n *node) postCall(tb testing.TB, token string) int64 {
	tb.Helper()
	req, _ := http.NewRequest("POST", n.url+"/api/v1/calls", strings.NewReader(`{"lat":22.27,"lon":113.57,"category":"waterlogging"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("POST /api/v1/calls: %v", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var call incidents.Call
	if res.StatusCode != http.StatusCreated || json.Unmarshal(b, &call) != nil {
		tb.Fatalf("POST /api/v1/calls = %d %s, want 201", res.StatusCode, b)
	}
	return call.Seq
}

// reader collects the durable seqs a WebSocket client receives.
type reader struct {
	seqs     chan int64
	presence chan hub.Presence
}

func (n *node) connect(tb testing.TB, token string) *reader {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(n.url, "http")+"/ws?after=0",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		tb.Fatalf("dial %s/ws: %v", n.url, err)
	}
	tb.Cleanup(func() { c.CloseNow() })
	r := &reader{seqs: make(chan int64, 10000), presence: make(chan hub.Presence, 100)}
	go func() {
		for {
			_, data, err := c.Read(context.Background())
			if err != nil {
				close(r.seqs)
				return
			}
			var e struct {
				Seq  int64           `json:"seq"`
				Type string          `json:"type"`
				Data json.RawMessage `json:"data"`
			}
			if json.Unmarshal(data, &e) != nil {
				continue
			}
			if e.Seq > 0 {
				r.seqs <- e.Seq
			} else if e.Type == hub.EventPresenceChanged {
				var p hub.Presence
				if json.Unmarshal(e.Data, &p) == nil {
					select {
					case r.presence <- p:
					default:
					}
				}
			}
		}
	}()
	return r
}

// upTo reads seqs until upto, or fails after a timeout.
func (r *reader) upTo(tb testing.TB, upto int64) []int64 {
	tb.Helper()
	var got []int64
	timeout := time.After(20 * time.Second)
	for len(got) == 0 || got[len(got)-1] < upto {
		select {
		case s, ok := <-r.seqs:
			if !ok {
				tb.Fatalf("connection ended after %d events, want up to seq %d", len(got), upto)
			}
			got = append(got, s)
		case <-timeout:
			tb.Fatalf("received %d events (last %v) after 20s, want up to seq %d", len(got), got[max(0, len(got)-1):], upto)
		}
	}
	return got
}

// killClients disconnects every Redis connection named name.
func killClients(tb testing.TB, url, name string) int {
	tb.Helper()
	o, _ := redis.ParseURL(url)
	admin := redis.NewClient(o)
	defer admin.Close()
	ctx := context.Background()
	list, err := admin.ClientList(ctx).Result()
	if err != nil {
		tb.Fatalf("CLIENT LIST: %v", err)
	}
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		if !strings.Contains(line, " name="+name+" ") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if id, ok := strings.CutPrefix(f, "id="); ok {
				if err := admin.Do(ctx, "CLIENT", "KILL", "ID", id).Err(); err == nil {
					killed++
				}
			}
		}
	}
	return killed
}

// waitSubscribed waits until a connection named name holds a subscription.
func waitSubscribed(tb testing.TB, url, name string) {
	tb.Helper()
	o, _ := redis.ParseURL(url)
	admin := redis.NewClient(o)
	defer admin.Close()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(10 * time.Second)
	for {
		list, err := admin.ClientList(context.Background()).Result()
		if err != nil {
			tb.Fatalf("CLIENT LIST: %v", err)
		}
		for _, line := range strings.Split(list, "\n") {
			if strings.Contains(line, " name="+name+" ") && strings.Contains(line, " sub=1 ") {
				return
			}
		}
		select {
		case <-tick.C:
		case <-timeout:
			tb.Fatalf("no connection named %s subscribed again within 10s", name)
		}
	}
}

func TestTwoNodesExactlyOnceAcrossRedisOutage(t *testing.T) {
	rurl := redisURL(t)
	tests := []struct {
		name string
		deaf bool
	}{
		{"node B following the log and Redis gets every event once", false},
		{"node B hearing only Redis back-fills the outage from the store", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := newDatabase(t)
			prefix := uniquePrefix()
			nameB := "flaretest-b-" + prefix[10:22]
			a := startNode(t, db, newBroker(t, rurl, prefix, "flaretest-a-"+prefix[10:22]), false)
			b := startNode(t, db, newBroker(t, rurl, prefix, nameB), tt.deaf)
			agent := a.token(t, incidents.RoleAgent, "")
			leaderB := b.connect(t, b.token(t, incidents.RoleLeader, ""))
			agentB := b.connect(t, b.token(t, incidents.RoleAgent, ""))

			var last int64
			for range 30 {
				last = a.postCall(t, agent)
			}
			first := leaderB.upTo(t, last) // Redis works
			if n := killClients(t, rurl, nameB); n == 0 {
				t.Fatalf("killClients(%s) = 0, want node B's Redis connections cut", nameB)
			}
			for range 30 { // during the outage and the reconnect
				last = a.postCall(t, agent)
			}
			waitSubscribed(t, rurl, nameB) // cut again once node B is back
			killClients(t, rurl, nameB)
			for range 30 {
				last = a.postCall(t, agent)
			}
			want := make([]int64, last)
			for i := range want {
				want[i] = int64(i + 1)
			}
			got := map[string][]int64{"leader": append(first, leaderB.upTo(t, last)...)}
			if storeKeepsAudience(t, db) {
				got["agent"] = agentB.upTo(t, last)
			}
			for name, got := range got {
				if !slices.Equal(got, want) {
					t.Errorf("%s on node B received %d events %v, want seqs 1..%d once each in order", name, len(got), summarize(got), last)
				}
			}
		})
	}
}

// storeKeepsAudience reports whether the store returns events with the
// audience they were appended with (the call floor's share of the log
// depends on it).
func storeKeepsAudience(tb testing.TB, dbURL string) bool {
	tb.Helper()
	store, err := postgres.Open(context.Background(), dbURL, postgres.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	defer store.Close()
	evs, err := store.ReadEvents(context.Background(), 0, 1)
	if err != nil || len(evs) == 0 {
		tb.Fatalf("ReadEvents(0, 1) = %v, %v; want the first call", evs, err)
	}
	if !evs[0].Audience.CallFloor {
		tb.Log("the store does not keep event audiences yet: the call floor's share is not checked")
		return false
	}
	return true
}

// TestEventsCarryTheirAudience checks that an event's audience, which its
// JSON leaves out, reaches the other nodes with it.
func TestEventsCarryTheirAudience(t *testing.T) {
	rurl := redisURL(t)
	prefix := uniquePrefix()
	a := newBroker(t, rurl, prefix, "flaretest-aud-a")
	b := newBroker(t, rurl, prefix, "flaretest-aud-b")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	connected := make(chan struct{}, 1)
	got := make(chan []incidents.Event, 1)
	go b.Subscribe(ctx, hub.BrokerHandler{
		Connected: func() { connected <- struct{}{} },
		Events:    func(evs []incidents.Event) { got <- evs },
	})
	at := time.Date(2026, 9, 14, 13, 0, 0, 0, time.UTC)
	sent := []incidents.Event{
		{Seq: 1, Type: "call.received", At: at, Data: json.RawMessage(`{"id":"c1"}`), Audience: incidents.CallReceivedAudience()},
		{Seq: 2, Type: "task.dispatched", At: at, Actor: "system", Data: json.RawMessage(`{"id":"t1"}`), Audience: incidents.Audience{Depts: []string{"gas", "water"}}},
		{Seq: 3, Type: "alert.raised", At: at, Data: json.RawMessage(`{}`)},
	}
	select {
	case <-connected:
	case <-ctx.Done():
		t.Fatal("node B did not subscribe within 10s")
	}
	if err := a.PublishEvents(ctx, sent); err != nil {
		t.Fatalf("PublishEvents() = %v", err)
	}
	select {
	case evs := <-got:
		if len(evs) != len(sent) {
			t.Fatalf("node B received %d events, want %d", len(evs), len(sent))
		}
		for i, ev := range evs {
			w := sent[i]
			if ev.Seq != w.Seq || ev.Type != w.Type || !ev.At.Equal(w.At) || ev.Actor != w.Actor || string(ev.Data) != string(w.Data) ||
				ev.Audience.CallFloor != w.Audience.CallFloor || ev.Audience.Hotline != w.Audience.Hotline || !slices.Equal(ev.Audience.Depts, w.Audience.Depts) {
				t.Errorf("node B received %+v, want %+v", ev, w)
			}
		}
	case <-ctx.Done():
		t.Fatal("node B received nothing within 10s")
	}
}

func summarize(s []int64) string {
	if len(s) <= 10 {
		return fmt.Sprint(s)
	}
	return fmt.Sprintf("%v...%v", s[:5], s[len(s)-5:])
}

func TestPresenceAcrossNodes(t *testing.T) {
	rurl := redisURL(t)
	db := newDatabase(t)
	prefix := uniquePrefix()
	a := startNode(t, db, newBroker(t, rurl, prefix, "flaretest-pa"), false)
	b := startNode(t, db, newBroker(t, rurl, prefix, "flaretest-pb"), false)
	leaderA := a.connect(t, a.token(t, incidents.RoleLeader, ""))
	b.connect(t, b.token(t, incidents.RoleDept, "water"))
	b.connect(t, b.token(t, incidents.RoleDept, "water"))
	timeout := time.After(15 * time.Second)
	for {
		select {
		case p := <-leaderA.presence:
			if p.Nodes == 2 && p.Connections == 3 {
				want := []hub.PresenceDept{{Dept: "water", Users: 1, Connections: 2}}
				if !slices.Equal(p.Departments, want) {
					t.Errorf("presence on node A departments = %+v, want %+v", p.Departments, want)
				}
				got, err := a.b.Presence(context.Background())
				if err != nil || got.Connections != 3 {
					t.Errorf("Presence() on node A = %+v, %v, want 3 connections", got, err)
				}
				return
			}
		case <-timeout:
			t.Fatal("leader on node A was not told of node B's department users within 15s")
		}
	}
}

func TestNewRejectsMalformedURL(t *testing.T) {
	_, err := redisbroker.New("http://nope", redisbroker.Options{})
	if got := incidents.ErrorCode(err); got != incidents.CodeInvalid {
		t.Errorf("New(http://nope) error code = %q (%v), want %q", got, err, incidents.CodeInvalid)
	}
	var e *incidents.Error
	if !errors.As(err, &e) {
		t.Errorf("New(http://nope) = %v, want an *incidents.Error", err)
	}
}
