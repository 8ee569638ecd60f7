package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"flare/api"
	"flare/hub/auth"
	"flare/incidents"
	"flare/incidents/defaults"
	"flare/incidents/sqlite"
)

// testServer is a hub on a fresh embedded store.
type testServer struct {
	*httptest.Server
	store  *sqlite.Store
	signer *auth.Signer
	now    time.Time
}

// newTestServerWith is newTestServer with edit applied to the server's
// configuration.
func newTestServerWith(tb testing.TB, edit func(*api.Config)) *testServer {
	tb.Helper()
	return newTestServer(tb, edit)
}

// newTestServer starts a server on a fresh store, with each of configure
// applied to its configuration.
func newTestServer(tb testing.TB, configure ...func(*api.Config)) *testServer {
	tb.Helper()
	store := api.OpenTestStore(tb)
	tax, err := incidents.ParseTaxonomy(defaults.Categories)
	if err != nil {
		tb.Fatal(err)
	}
	area, err := incidents.ParseRegions("Zhuhai", defaults.ZhuhaiDistricts)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Date(2026, 9, 14, 13, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	signer, err := auth.NewSigner(bytes.Repeat([]byte("k"), 32), clock)
	if err != nil {
		tb.Fatal(err)
	}
	metrics := api.NewMetrics()
	instrumented := api.InstrumentStore(store, metrics)
	intake := incidents.NewIntake(incidents.IntakeConfig{
		Store: instrumented, Taxonomy: tax, Area: area, Now: clock,
		OnStored: func(n int) { metrics.CallsIngested.Add(float64(n)) },
	})
	tb.Cleanup(func() { intake.Close(context.Background()) })
	cfg := api.Config{
		Store: instrumented, Intake: intake, Signer: signer, Metrics: metrics,
		Logger: zerolog.Nop(), Ready: store.Ready, Now: clock,
	}
	for _, f := range configure {
		if f != nil {
			f(&cfg)
		}
	}
	srv, err := api.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	tb.Cleanup(ts.Close)
	return &testServer{Server: ts, store: store, signer: signer, now: now}
}

func (s *testServer) token(tb testing.TB, role incidents.Role, dept string) string {
	tb.Helper()
	tok, err := s.signer.Issue(auth.Principal{Subject: "tester", Role: role, Dept: dept}, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) errorBody(tb testing.TB) incidents.Error {
	tb.Helper()
	var e struct{ Error incidents.Error }
	if err := json.Unmarshal(r.body, &e); err != nil {
		tb.Fatalf("error body %q: %v", r.body, err)
	}
	return e.Error
}

func (r response) call(tb testing.TB) incidents.Call {
	tb.Helper()
	var c incidents.Call
	if err := json.Unmarshal(r.body, &c); err != nil {
		tb.Fatalf("call body %q: %v", r.body, err)
	}
	return c
}

func (s *testServer) do(tb testing.TB, method, path, token string, body string, header map[string]string) response {
	tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// nothingStored fails the test when the store holds any call or event.
func (s *testServer) nothingStored(tb testing.TB) {
	tb.Helper()
	seq, err := s.store.LastSeq(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	calls, err := s.store.ListCalls(context.Background(), incidents.CallFilter{Limit: 10})
	if err != nil {
		tb.Fatal(err)
	}
	if seq != 0 || len(calls) != 0 {
		tb.Fatalf("store holds %d calls and last seq %d, want nothing stored", len(calls), seq)
	}
}

const goodCall = `{"lat":22.2710,"lon":113.5767,"category":"waterlogging","address":"香洲区凤凰路","description":"积水没过膝盖","urgent":true,"caller":"张先生 138****0000"}`

func TestCreateCallStoresAndReturnsIt(t *testing.T) {
	s := newTestServer(t)
	agent := s.token(t, incidents.RoleAgent, "")
	res := s.do(t, "POST", "/api/v1/calls", agent, goodCall, nil)
	if res.status != http.StatusCreated {
		t.Fatalf("POST /api/v1/calls = %d %s, want 201", res.status, res.body)
	}
	c := res.call(t)
	if c.ID == "" || c.Seq != 1 || !c.ReceivedAt.Equal(s.now) || c.Category != "waterlogging" || !c.Urgent ||
		c.Lat != 22.2710 || c.Lon != 113.5767 || c.Address != "香洲区凤凰路" || c.Caller != "张先生 138****0000" {
		t.Errorf("POST /api/v1/calls = %+v, want the call as sent with id, seq 1 and received_at now", c)
	}
	var withLoc struct {
		Location incidents.GeoPoint `json:"location"`
	}
	_ = json.Unmarshal(res.body, &withLoc)
	if withLoc.Location.Type != "Point" || withLoc.Location.Coordinates != [2]float64{113.5767, 22.2710} {
		t.Errorf("location = %+v, want GeoJSON Point [lon, lat]", withLoc.Location)
	}
	if got := res.header.Get("Location"); got != "/api/v1/calls/"+c.ID {
		t.Errorf("Location header = %q, want /api/v1/calls/%s", got, c.ID)
	}
	got := s.do(t, "GET", "/api/v1/calls/"+c.ID, s.token(t, incidents.RoleLeader, ""), "", nil)
	if got.status != http.StatusOK || !bytes.Equal(got.body, res.body) {
		t.Errorf("GET /api/v1/calls/%s = %d %s, want 200 %s", c.ID, got.status, got.body, res.body)
	}
	evs, err := s.store.ReadEvents(context.Background(), 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Type != incidents.EventCallReceived || evs[0].Seq != c.Seq {
		t.Errorf("events = %+v, want one call.received with seq %d", evs, c.Seq)
	}
}

func TestCreateCallRejectsBadInput(t *testing.T) {
	long := strings.Repeat("水", incidents.MaxDescriptionChars+1)
	tests := []struct {
		name   string
		body   string
		header map[string]string
		status int
		code   string
		field  string
	}{
		{"missing lat", `{"lon":113.57,"category":"fire"}`, nil, 422, "invalid", "lat"},
		{"lat out of range", `{"lat":91,"lon":113.57,"category":"fire"}`, nil, 422, "invalid", "lat"},
		{"lon out of range", `{"lat":22.27,"lon":-181,"category":"fire"}`, nil, 422, "invalid", "lon"},
		{"outside the service area", `{"lat":39.9042,"lon":116.4074,"category":"fire"}`, nil, 422, "out_of_area", "location"},
		{"inside Macau, not served", `{"lat":22.1987,"lon":113.5439,"category":"fire"}`, nil, 422, "out_of_area", "location"},
		{"missing category", `{"lat":22.27,"lon":113.57}`, nil, 422, "invalid", "category"},
		{"unknown category", `{"lat":22.27,"lon":113.57,"category":"aliens"}`, nil, 422, "invalid", "category"},
		{"description too long", `{"lat":22.27,"lon":113.57,"category":"fire","description":"` + long + `"}`, nil, 422, "invalid", "description"},
		{"control character in address", `{"lat":22.27,"lon":113.57,"category":"fire","address":"a\u0007b"}`, nil, 422, "invalid", "address"},
		{"received_at in the future", `{"lat":22.27,"lon":113.57,"category":"fire","received_at":"2026-09-14T13:06:00Z"}`, nil, 422, "invalid", "received_at"},
		{"received_at not RFC 3339", `{"lat":22.27,"lon":113.57,"category":"fire","received_at":"yesterday"}`, nil, 422, "invalid", "received_at"},
		{"bad id", `{"id":"has space","lat":22.27,"lon":113.57,"category":"fire"}`, nil, 422, "invalid", "id"},
		{"lat as a string", `{"lat":"22.27","lon":113.57,"category":"fire"}`, nil, 400, "bad_request", "lat"},
		{"unknown field", `{"lat":22.27,"lon":113.57,"category":"fire","colour":"red"}`, nil, 400, "bad_request", "colour"},
		{"not JSON", `lat=22.27`, nil, 400, "bad_request", ""},
		{"two objects", `{"lat":22.27,"lon":113.57,"category":"fire"}{}`, nil, 400, "bad_request", ""},
		{"an array", `[1,2]`, nil, 400, "bad_request", ""},
		{"null", `null`, nil, 400, "bad_request", ""},
		{"a name in another case", `{"LAT":22.27,"lon":113.57,"category":"fire"}`, nil, 400, "bad_request", "LAT"},
		{"a name twice", `{"lat":22.27,"lat":22.28,"lon":113.57,"category":"fire"}`, nil, 400, "bad_request", "lat"},
		{"a lone surrogate", `{"lat":22.27,"lon":113.57,"category":"fire","description":"\ud800"}`, nil, 400, "bad_request", "description"},
		{"a lone low surrogate", `{"lat":22.27,"lon":113.57,"category":"fire","address":"a\udc00b"}`, nil, 400, "bad_request", "address"},
		{"invalid UTF-8", "{\"lat\":22.27,\"lon\":113.57,\"category\":\"fire\",\"address\":\"a\xffb\"}", nil, 400, "bad_request", "address"},
		{"too large", `{"description":"` + strings.Repeat("x", 70<<10) + `"}`, nil, 413, "too_large", ""},
		{"wrong content type", goodCall, map[string]string{"Content-Type": "text/plain"}, 400, "bad_request", ""},
		{"bad idempotency key", goodCall, map[string]string{"Idempotency-Key": strings.Repeat("k", 129)}, 422, "invalid", "Idempotency-Key"},
	}
	s := newTestServer(t)
	agent := s.token(t, incidents.RoleAgent, "")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := s.do(t, "POST", "/api/v1/calls", agent, tt.body, tt.header)
			e := res.errorBody(t)
			if res.status != tt.status || e.Code != tt.code || e.Field != tt.field || e.Message == "" {
				t.Errorf("POST /api/v1/calls = %d %+v, want %d code %q field %q with a message", res.status, e, tt.status, tt.code, tt.field)
			}
			s.nothingStored(t)
		})
	}
}

func TestCreateCallIsIdempotent(t *testing.T) {
	s := newTestServer(t)
	agent := s.token(t, incidents.RoleAgent, "")
	key := map[string]string{"Idempotency-Key": "floor-7:2026-09-14:0001"}
	first := s.do(t, "POST", "/api/v1/calls", agent, goodCall, key)
	if first.status != http.StatusCreated {
		t.Fatalf("first POST = %d %s, want 201", first.status, first.body)
	}
	t.Run("same key and body returns the original", func(t *testing.T) {
		again := s.do(t, "POST", "/api/v1/calls", agent, goodCall, key)
		if again.status != http.StatusOK || !bytes.Equal(again.body, first.body) {
			t.Errorf("retry = %d %s, want 200 %s", again.status, again.body, first.body)
		}
	})
	t.Run("same key, other body is a conflict", func(t *testing.T) {
		other := strings.Replace(goodCall, "waterlogging", "fire", 1)
		res := s.do(t, "POST", "/api/v1/calls", agent, other, key)
		if e := res.errorBody(t); res.status != http.StatusConflict || e.Code != "conflict" || e.Field != "idempotency_key" {
			t.Errorf("POST with reused key = %d %+v, want 409 conflict on idempotency_key", res.status, e)
		}
	})
	withID := `{"id":"floor7-0002","lat":22.2710,"lon":113.5767,"category":"fire"}`
	created := s.do(t, "POST", "/api/v1/calls", agent, withID, nil)
	if created.status != http.StatusCreated || created.call(t).ID != "floor7-0002" {
		t.Fatalf("POST with id = %d %s, want 201 with that id", created.status, created.body)
	}
	t.Run("same id and body returns the original", func(t *testing.T) {
		again := s.do(t, "POST", "/api/v1/calls", agent, withID, nil)
		if again.status != http.StatusOK || !bytes.Equal(again.body, created.body) {
			t.Errorf("retry = %d %s, want 200 %s", again.status, again.body, created.body)
		}
	})
	t.Run("same id, other body is a conflict", func(t *testing.T) {
		res := s.do(t, "POST", "/api/v1/calls", agent, strings.Replace(withID, "fire", "noise", 1), nil)
		if e := res.errorBody(t); res.status != http.StatusConflict || e.Field != "id" {
			t.Errorf("POST with reused id = %d %+v, want 409 on id", res.status, e)
		}
	})
	seq, _ := s.store.LastSeq(context.Background())
	if seq != 2 {
		t.Errorf("LastSeq() = %d, want 2 (retries and conflicts store nothing)", seq)
	}
}

func TestIdempotencyKeysAreEachActorsOwn(t *testing.T) {
	s := newTestServer(t)
	issue := func(sub string) string {
		tok, err := s.signer.Issue(auth.Principal{Subject: sub, Role: incidents.RoleAgent}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	key := map[string]string{"Idempotency-Key": "0001"}
	first := s.do(t, "POST", "/api/v1/calls", issue("seat-1"), goodCall, key)
	if first.status != http.StatusCreated {
		t.Fatalf("seat-1's POST = %d %s, want 201", first.status, first.body)
	}
	other := s.do(t, "POST", "/api/v1/calls", issue("seat-2"), goodCall, key)
	if other.status != http.StatusCreated || other.call(t).ID == first.call(t).ID {
		t.Errorf("seat-2's POST with seat-1's key = %d %s, want 201 with a call of its own", other.status, other.body)
	}
	fire := s.do(t, "POST", "/api/v1/calls", issue("seat-3"), strings.Replace(goodCall, "waterlogging", "fire", 1), key)
	if fire.status != http.StatusCreated {
		t.Errorf("seat-3's other call with the same key = %d %s, want 201", fire.status, fire.body)
	}
	again := s.do(t, "POST", "/api/v1/calls", issue("seat-1"), goodCall, key)
	if again.status != http.StatusOK || again.call(t).ID != first.call(t).ID {
		t.Errorf("seat-1's retry = %d %s, want 200 with its first call", again.status, again.body)
	}
}

func TestRequestRateLimits(t *testing.T) {
	t.Run("per token, except system and admin", func(t *testing.T) {
		s := newTestServer(t, func(c *api.Config) { c.Limits = api.Limits{PerToken: 1, PerTokenBurst: 3} })
		leader := s.token(t, incidents.RoleLeader, "")
		for i := range 3 {
			if res := s.do(t, "GET", "/api/v1/me", leader, "", nil); res.status != 200 {
				t.Fatalf("request %d within the burst = %d, want 200", i+1, res.status)
			}
		}
		res := s.do(t, "GET", "/api/v1/me", leader, "", nil)
		if e := res.errorBody(t); res.status != 429 || e.Code != "rate_limited" || res.header.Get("Retry-After") != "1" {
			t.Errorf("fourth request = %d %+v (Retry-After %q), want 429 rate_limited with Retry-After 1", res.status, e, res.header.Get("Retry-After"))
		}
		other, err := s.signer.Issue(auth.Principal{Subject: "other", Role: incidents.RoleLeader}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if res := s.do(t, "GET", "/api/v1/me", other, "", nil); res.status != 200 {
			t.Errorf("another subject's request = %d, want 200", res.status)
		}
		system := s.token(t, incidents.RoleSystem, "")
		for i := range 10 {
			if res := s.do(t, "GET", "/api/v1/categories", system, "", nil); res.status != 200 {
				t.Fatalf("system request %d = %d %s, want 200 (not limited per token)", i+1, res.status, res.body)
			}
		}
	})
	t.Run("per address, also for bad tokens", func(t *testing.T) {
		s := newTestServer(t, func(c *api.Config) { c.Limits = api.Limits{PerAddress: 1, PerAddressBurst: 2} })
		for range 2 {
			if res := s.do(t, "GET", "/api/v1/me", "forged", "", nil); res.status != 401 {
				t.Fatalf("bad token = %d, want 401", res.status)
			}
		}
		res := s.do(t, "GET", "/api/v1/me", s.token(t, incidents.RoleSystem, ""), "", nil)
		if e := res.errorBody(t); res.status != 429 || e.Code != "rate_limited" || res.header.Get("Retry-After") == "" {
			t.Errorf("third request from the address = %d %+v, want 429 rate_limited with Retry-After", res.status, e)
		}
	})
}

func TestAuthorization(t *testing.T) {
	s := newTestServer(t)
	expired, err := s.signer.Issue(auth.Principal{Subject: "old", Role: incidents.RoleAgent}, time.Nanosecond)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := auth.NewSigner(bytes.Repeat([]byte("x"), 32), nil)
	forged, _ := other.Issue(auth.Principal{Subject: "mallory", Role: incidents.RoleAdmin}, time.Hour)
	tests := []struct {
		name, method, path, token string
		status                    int
	}{
		{"no token", "POST", "/api/v1/calls", "", 401},
		{"garbage token", "GET", "/api/v1/calls", "not-a-token", 401},
		{"token signed with another secret", "GET", "/api/v1/calls", forged, 401},
		{"expired token", "POST", "/api/v1/calls", expired, 401},
		{"leader may not register calls", "POST", "/api/v1/calls", s.token(t, incidents.RoleLeader, ""), 403},
		{"department may not list calls", "GET", "/api/v1/calls", s.token(t, incidents.RoleDept, "water"), 403},
		{"agent may not read metrics", "GET", "/metrics", s.token(t, incidents.RoleAgent, ""), 403},
		{"no token for metrics", "GET", "/metrics", "", 401},
		{"leader lists calls", "GET", "/api/v1/calls", s.token(t, incidents.RoleLeader, ""), 200},
		{"department reads categories", "GET", "/api/v1/categories", s.token(t, incidents.RoleDept, "water"), 200},
		{"admin reads metrics", "GET", "/metrics", s.token(t, incidents.RoleAdmin, ""), 200},
		{"health needs no token", "GET", "/healthz", "", 200},
		{"readiness needs no token", "GET", "/readyz", "", 200},
		{"unknown endpoint", "GET", "/api/v1/nothing", s.token(t, incidents.RoleAdmin, ""), 404},
		{"hotline lists calls", "GET", "/api/v1/calls", s.token(t, incidents.RoleHotline, ""), 200},
		{"hotline may not register calls", "POST", "/api/v1/calls", s.token(t, incidents.RoleHotline, ""), 403},
		{"hotline may not read metrics", "GET", "/metrics", s.token(t, incidents.RoleHotline, ""), 403},
		{"system may not list calls", "GET", "/api/v1/calls", s.token(t, incidents.RoleSystem, ""), 403},
		{"system reads categories", "GET", "/api/v1/categories", s.token(t, incidents.RoleSystem, ""), 200},
		{"system may not read the audit log", "GET", "/api/v1/audit", s.token(t, incidents.RoleSystem, ""), 403},
		{"department may not read presence", "GET", "/api/v1/presence", s.token(t, incidents.RoleDept, "water"), 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := ""
			if tt.method == "POST" {
				body = goodCall
			}
			res := s.do(t, tt.method, tt.path, tt.token, body, nil)
			if res.status != tt.status {
				t.Errorf("%s %s = %d %s, want %d", tt.method, tt.path, res.status, res.body, tt.status)
			}
			if res.status >= 400 {
				if e := res.errorBody(t); e.Code == "" || e.Message == "" {
					t.Errorf("error body = %s, want code and message", res.body)
				}
			}
		})
	}
	s.nothingStored(t)
}

func TestListCallsFiltersAndPages(t *testing.T) {
	s := newTestServer(t)
	agent := s.token(t, incidents.RoleAgent, "")
	// 25 calls, one a minute back from now, alternating categories; the
	// even ones in Doumen (west), the odd ones downtown.
	for i := 0; i < 25; i++ {
		cat, lat, lon := "fire", 22.2710, 113.5767
		if i%2 == 0 {
			cat, lat, lon = "waterlogging", 22.2090, 113.2960
		}
		at := s.now.Add(-time.Duration(i) * time.Minute).Format(time.RFC3339)
		body, _ := json.Marshal(map[string]any{"lat": lat, "lon": lon, "category": cat, "received_at": at})
		if res := s.do(t, "POST", "/api/v1/calls", agent, string(body), nil); res.status != 201 {
			t.Fatalf("POST = %d %s", res.status, res.body)
		}
	}
	list := func(t *testing.T, query string) (ids []string, next string) {
		t.Helper()
		res := s.do(t, "GET", "/api/v1/calls?"+query, agent, "", nil)
		if res.status != 200 {
			t.Fatalf("GET /api/v1/calls?%s = %d %s", query, res.status, res.body)
		}
		var page struct {
			Calls      []incidents.Call `json:"calls"`
			NextCursor string           `json:"next_cursor"`
		}
		if err := json.Unmarshal(res.body, &page); err != nil {
			t.Fatal(err)
		}
		for i, c := range page.Calls {
			if i > 0 && c.ReceivedAt.After(page.Calls[i-1].ReceivedAt) {
				t.Errorf("calls not newest first: %v after %v", c.ReceivedAt, page.Calls[i-1].ReceivedAt)
			}
			ids = append(ids, c.ID)
		}
		return ids, page.NextCursor
	}
	t.Run("pages cover every call once", func(t *testing.T) {
		seen := map[string]bool{}
		cursor, pages := "", 0
		for {
			ids, next := list(t, "limit=7&cursor="+cursor)
			pages++
			for _, id := range ids {
				if seen[id] {
					t.Errorf("call %s on two pages", id)
				}
				seen[id] = true
			}
			if next == "" {
				break
			}
			cursor = next
		}
		if len(seen) != 25 || pages != 4 {
			t.Errorf("paging saw %d calls on %d pages, want 25 on 4", len(seen), pages)
		}
	})
	t.Run("category filter", func(t *testing.T) {
		if ids, _ := list(t, "category=fire&limit=100"); len(ids) != 12 {
			t.Errorf("category=fire gave %d calls, want 12", len(ids))
		}
	})
	t.Run("time range", func(t *testing.T) {
		from := s.now.Add(-9*time.Minute - 30*time.Second).Format(time.RFC3339)
		to := s.now.Add(-4*time.Minute - 30*time.Second).Format(time.RFC3339)
		if ids, _ := list(t, "from="+from+"&to="+to); len(ids) != 5 {
			t.Errorf("from %s to %s gave %d calls, want 5", from, to, len(ids))
		}
	})
	t.Run("bbox", func(t *testing.T) {
		if ids, _ := list(t, "bbox=113.2,22.1,113.4,22.3"); len(ids) != 13 {
			t.Errorf("bbox over Doumen gave %d calls, want 13", len(ids))
		}
	})
	bad := []struct{ query, field string }{
		{"limit=0", "limit"}, {"limit=5000", "limit"}, {"from=monday", "from"},
		{"from=2300-01-01T00:00:00Z", "from"}, {"to=1600-01-01T00:00:00Z", "to"},
		{"bbox=1,2,3", "bbox"}, {"bbox=113.4,22.1,113.2,22.3", "bbox"},
		{"bbox=NaN,NaN,NaN,NaN", "bbox"}, {"bbox=113.2,22.1,Inf,22.3", "bbox"}, {"bbox=-Inf,22.1,113.4,22.3", "bbox"},
		{"category=aliens", "category"}, {"cursor=not-a-cursor!", "cursor"}, {"cursor=e30", "cursor"},
	}
	for _, b := range bad {
		t.Run("bad "+b.query+" is refused", func(t *testing.T) {
			res := s.do(t, "GET", "/api/v1/calls?"+b.query, agent, "", nil)
			if e := res.errorBody(t); res.status != 400 || e.Field != b.field {
				t.Errorf("GET ?%s = %d %+v, want 400 on %s", b.query, res.status, e, b.field)
			}
		})
	}
	t.Run("unknown call is 404", func(t *testing.T) {
		if res := s.do(t, "GET", "/api/v1/calls/nope", agent, "", nil); res.status != 404 || res.errorBody(t).Code != "not_found" {
			t.Errorf("GET unknown call = %d %s, want 404 not_found", res.status, res.body)
		}
	})
}

// TestMetricsStaySmallWithRandomMethods sends requests with made-up
// methods, as anyone without a token can: none may become a metrics label,
// or /metrics (and the process) grows without bound.
func TestMetricsStaySmallWithRandomMethods(t *testing.T) {
	s := newTestServer(t)
	admin := s.token(t, incidents.RoleAdmin, "")
	before := len(s.do(t, "GET", "/metrics", admin, "", nil).body)
	rng := rand.New(rand.NewPCG(16, 1))
	var methods []string
	for range 300 {
		b := make([]byte, 40)
		for i := range b {
			b[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[rng.IntN(26)]
		}
		m := "X" + string(b)
		methods = append(methods, m)
		for _, path := range []string{"/nothing", "/api/v1/calls", "/api/v1/calls/" + m} {
			if res := s.do(t, m, path, "", "", nil); res.status < 400 {
				t.Fatalf("%s %s = %d, want an error", m, path, res.status)
			}
		}
	}
	body := string(s.do(t, "GET", "/metrics", admin, "", nil).body)
	if grown := len(body) - before; grown > 16<<10 {
		t.Errorf("/metrics grew by %d bytes after 900 requests with made-up methods, want under 16 KiB", grown)
	}
	for _, m := range methods {
		if strings.Contains(body, m) {
			t.Fatalf("/metrics holds the made-up method %s", m)
		}
	}
	if !strings.Contains(body, `method="other"`) {
		t.Error(`/metrics has no method="other" series for the made-up methods`)
	}
}

// TestReadyzTellsStrangersOnlyThatTheStoreIsUnreachable checks that the
// store's error (hosts, ports, users, databases) goes to the log, not to
// whoever asks /readyz.
func TestReadyzTellsStrangersOnlyThatTheStoreIsUnreachable(t *testing.T) {
	var logs bytes.Buffer
	cause := errors.New("failed to connect to user=postgres database=flare_prod 10.1.2.3:5440")
	srv, err := api.New(api.Config{
		Logger: zerolog.New(&logs),
		Ready:  func(ctx context.Context) error { return cause },
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	res, err := http.Get(ts.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), `"message":"store unreachable"`) {
		t.Errorf("GET /readyz = %d %s, want 503 saying store unreachable", res.StatusCode, b)
	}
	for _, secret := range []string{"postgres", "flare_prod", "10.1.2.3", "5440"} {
		if strings.Contains(string(b), secret) {
			t.Errorf("GET /readyz answered %s, which tells %q", b, secret)
		}
	}
	if !strings.Contains(logs.String(), cause.Error()) {
		t.Errorf("log = %s, want the store's error %q", logs.String(), cause)
	}
}

func TestMetricsCountCallsAndRequests(t *testing.T) {
	s := newTestServer(t)
	if res := s.do(t, "POST", "/api/v1/calls", s.token(t, incidents.RoleAgent, ""), goodCall, nil); res.status != 201 {
		t.Fatalf("POST = %d", res.status)
	}
	res := s.do(t, "GET", "/metrics", s.token(t, incidents.RoleAdmin, ""), "", nil)
	for _, want := range []string{
		"flare_calls_ingested_total 1",
		`flare_http_requests_total{code="Created",method="POST",route="POST /api/v1/calls"} 1`,
		`flare_store_operation_duration_seconds_count{op="create_calls"} 1`,
		"flare_http_request_duration_seconds_bucket",
	} {
		if !strings.Contains(string(res.body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if res.header.Get("X-Request-Id") == "" {
		t.Error("response has no X-Request-Id")
	}
}
