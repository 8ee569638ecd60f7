package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"
	"golang.org/x/crypto/argon2"

	"flare/api"
	"flare/hub"
	"flare/hub/auth"
	"flare/incidents"
	"flare/incidents/defaults"
	"flare/incidents/sqlite"
)

// sessionServer is a hub with users on a fresh embedded store, a clock the
// test moves, and the WebSocket hub.
type sessionServer struct {
	*httptest.Server
	store   *sqlite.Store
	clock   *atomic.Int64 // unix nanoseconds
	handler http.Handler
}

func (s *sessionServer) now() time.Time { return time.Unix(0, s.clock.Load()).UTC() }

func (s *sessionServer) advance(d time.Duration) { s.clock.Add(int64(d)) }

const testPassword = "kai-feng-2026"

func newSessionServer(tb testing.TB, dashboard http.Handler) *sessionServer {
	tb.Helper()
	ctx := context.Background()
	store := api.OpenTestStore(tb)
	tax, err := incidents.ParseTaxonomy(defaults.Categories)
	if err != nil {
		tb.Fatal(err)
	}
	area, err := incidents.ParseRegions("Zhuhai", defaults.ZhuhaiDistricts)
	if err != nil {
		tb.Fatal(err)
	}
	s := &sessionServer{store: store, clock: &atomic.Int64{}}
	s.clock.Store(time.Date(2026, 9, 14, 13, 0, 0, 0, time.UTC).UnixNano())
	signer, err := auth.NewSigner(bytes.Repeat([]byte("k"), 32), s.now)
	if err != nil {
		tb.Fatal(err)
	}
	intake := incidents.NewIntake(incidents.IntakeConfig{Store: store, Taxonomy: tax, Area: area, Now: s.now})
	tb.Cleanup(func() { intake.Close(context.Background()) })
	b, err := hub.StartBroadcaster(ctx, hub.BroadcasterConfig{Log: store, Logger: zerolog.Nop(), Now: s.now})
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := api.New(api.Config{
		Store: store, Intake: intake, Signer: signer, Logger: zerolog.Nop(), Now: s.now,
		Broadcaster: b, Users: store, Districts: area, Dashboard: dashboard,
	})
	if err != nil {
		tb.Fatal(err)
	}
	s.handler = srv.Handler()
	s.Server = httptest.NewServer(s.handler)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.CloseWebSockets(ctx)
		s.Close()
		b.Close()
	})
	for _, u := range []incidents.User{
		{Name: "leader", DisplayName: "值班领导", Role: "leader"},
		{Name: "agent", Role: "agent"},
		{Name: "water", Role: "dept", Dept: "water"},
		{Name: "gone", Role: "agent", Disabled: true},
	} {
		u.PasswordHash = hashFor(tb, testPassword)
		if _, err := store.CreateUser(ctx, u); err != nil {
			tb.Fatalf("CreateUser(%s) = %v", u.Name, err)
		}
	}
	return s
}

// hashFor returns an argon2id hash of password with the least parameters,
// so that the tests sign in quickly: the parameters travel with each hash,
// and the server checks a password with those of its hash.
func hashFor(tb testing.TB, password string) string {
	tb.Helper()
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte(password), salt, 1, 64, 1, 32)
	return fmt.Sprintf("$argon2id$v=19$m=64,t=1,p=1$%s$%s",
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// browser is a client with a cookie jar of its own.
type browser struct {
	s    *sessionServer
	c    *http.Client
	csrf string
}

func (s *sessionServer) browser(tb testing.TB) *browser {
	tb.Helper()
	return &browser{s: s, c: &http.Client{Jar: newJar()}}
}

// jar is a minimal cookie jar for one host that keeps what Set-Cookie says.
type jar struct{ cookies map[string]*http.Cookie }

func newJar() *jar { return &jar{cookies: map[string]*http.Cookie{}} }

func (j *jar) SetCookies(_ *url.URL, cs []*http.Cookie) {
	for _, c := range cs {
		if c.MaxAge < 0 {
			delete(j.cookies, c.Name)
			continue
		}
		j.cookies[c.Name] = c
	}
}

func (j *jar) Cookies(_ *url.URL) []*http.Cookie {
	var out []*http.Cookie
	for _, c := range j.cookies {
		out = append(out, &http.Cookie{Name: c.Name, Value: c.Value})
	}
	return out
}

func (b *browser) do(tb testing.TB, method, path, body string, header map[string]string) response {
	tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, b.s.URL+path, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := b.c.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: data}
}

// signIn signs in as name and keeps the CSRF token; it fails tb unless the
// answer is 200.
func (b *browser) signIn(tb testing.TB, name string) response {
	tb.Helper()
	res := b.do(tb, "POST", "/api/v1/session", `{"name":"`+name+`","password":"`+testPassword+`"}`, nil)
	if res.status != http.StatusOK {
		tb.Fatalf("POST /api/v1/session as %s = %d %s, want 200", name, res.status, res.body)
	}
	var body struct {
		CSRFToken string `json:"csrf_token"`
	}
	if err := json.Unmarshal(res.body, &body); err != nil || body.CSRFToken == "" {
		tb.Fatalf("POST /api/v1/session body %s, want a csrf_token", res.body)
	}
	b.csrf = body.CSRFToken
	return res
}

func TestSignIn(t *testing.T) {
	s := newSessionServer(t, nil)
	tests := []struct {
		name   string
		body   string
		header map[string]string
		status int
		code   string
		field  string
	}{
		{"right password signs in", `{"name":"leader","password":"` + testPassword + `"}`, nil, 200, "", ""},
		{"name is case-insensitive", `{"name":" Leader ","password":"` + testPassword + `"}`, nil, 200, "", ""},
		{"wrong password is unauthorized", `{"name":"leader","password":"wrong-password"}`, nil, 401, "unauthorized", ""},
		{"unknown user is unauthorized alike", `{"name":"nobody","password":"` + testPassword + `"}`, nil, 401, "unauthorized", ""},
		{"disabled user is unauthorized alike", `{"name":"gone","password":"` + testPassword + `"}`, nil, 401, "unauthorized", ""},
		{"missing name is invalid", `{"password":"x"}`, nil, 422, "invalid", "name"},
		{"missing password is invalid", `{"name":"leader"}`, nil, 422, "invalid", "password"},
		{"unknown field is a bad request", `{"name":"leader","password":"x","role":"admin"}`, nil, 400, "bad_request", "role"},
		{"foreign origin is forbidden", `{"name":"leader","password":"` + testPassword + `"}`, map[string]string{"Origin": "https://evil.example"}, 403, "forbidden", "Origin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.advance(10 * time.Second) // stay under the per-client rate
			res := s.browser(t).do(t, "POST", "/api/v1/session", tt.body, tt.header)
			if res.status != tt.status {
				t.Fatalf("POST /api/v1/session %s = %d %s, want %d", tt.body, res.status, res.body, tt.status)
			}
			cookie := res.header.Get("Set-Cookie")
			if tt.status != 200 {
				if e := res.errorBody(t); e.Code != tt.code || e.Field != tt.field {
					t.Errorf("POST /api/v1/session %s error = %+v, want code %s field %q", tt.body, e, tt.code, tt.field)
				}
				if cookie != "" {
					t.Errorf("POST /api/v1/session %s set a cookie %q, want none", tt.body, cookie)
				}
				return
			}
			for _, attr := range []string{api.SessionCookie + "=", "Path=/", "HttpOnly", "SameSite=Strict", "Max-Age=43200"} {
				if !strings.Contains(cookie, attr) {
					t.Errorf("Set-Cookie = %q, want %s", cookie, attr)
				}
			}
			if strings.Contains(cookie, "Secure") {
				t.Errorf("Set-Cookie over plain HTTP = %q, want no Secure attribute", cookie)
			}
		})
	}
	t.Run("sign-in over TLS sets a Secure cookie", func(t *testing.T) {
		s.advance(10 * time.Second)
		res := s.browser(t).do(t, "POST", "/api/v1/session", `{"name":"leader","password":"`+testPassword+`"}`,
			map[string]string{"X-Forwarded-Proto": "https"})
		if c := res.header.Get("Set-Cookie"); res.status != 200 || !strings.Contains(c, "Secure") {
			t.Errorf("POST /api/v1/session behind TLS = %d, Set-Cookie %q, want 200 and Secure", res.status, c)
		}
	})
}

func TestSessionCookieAuthorizesTheAPI(t *testing.T) {
	s := newSessionServer(t, nil)
	agent := s.browser(t)
	agent.signIn(t, "agent")

	res := agent.do(t, "GET", "/api/v1/me", "", nil)
	var me struct {
		Subject string `json:"subject"`
		Role    string `json:"role"`
	}
	if json.Unmarshal(res.body, &me); res.status != 200 || me.Subject != "agent" || me.Role != "agent" {
		t.Fatalf("GET /api/v1/me with the cookie = %d %s, want the agent", res.status, res.body)
	}
	res = agent.do(t, "GET", "/api/v1/session", "", nil)
	if res.status != 200 || !strings.Contains(string(res.body), agent.csrf) {
		t.Errorf("GET /api/v1/session = %d %s, want the user and the same CSRF token", res.status, res.body)
	}

	call := `{"lat":22.2710,"lon":113.5767,"category":"waterlogging"}`
	refused := []struct {
		name   string
		header map[string]string
		field  string
	}{
		{"POST without the CSRF token is forbidden", nil, api.CSRFHeader},
		{"POST with a wrong CSRF token is forbidden", map[string]string{api.CSRFHeader: "forged"}, api.CSRFHeader},
		{"POST from a foreign origin is forbidden", map[string]string{api.CSRFHeader: agent.csrf, "Origin": "https://evil.example"}, "Origin"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			res := agent.do(t, "POST", "/api/v1/calls", call, tt.header)
			if e := res.errorBody(t); res.status != 403 || e.Code != "forbidden" || e.Field != tt.field {
				t.Errorf("POST /api/v1/calls = %d %+v, want 403 forbidden on %s", res.status, e, tt.field)
			}
		})
	}
	if last, _ := s.store.LastSeq(context.Background()); last != 0 {
		t.Fatalf("LastSeq() after refused posts = %d, want 0 (nothing stored)", last)
	}
	t.Run("POST with the CSRF token from this origin is created", func(t *testing.T) {
		res := agent.do(t, "POST", "/api/v1/calls", call, map[string]string{api.CSRFHeader: agent.csrf, "Origin": s.URL})
		if res.status != 201 || res.call(t).Actor != "agent:agent" {
			t.Errorf("POST /api/v1/calls with the cookie = %d %s, want 201 by agent:agent", res.status, res.body)
		}
	})
	t.Run("role limits apply to the cookie too", func(t *testing.T) {
		water := s.browser(t)
		water.signIn(t, "water")
		res := water.do(t, "POST", "/api/v1/calls", call, map[string]string{api.CSRFHeader: water.csrf})
		if res.status != 403 {
			t.Errorf("POST /api/v1/calls as a department = %d, want 403", res.status)
		}
	})
	t.Run("no cookie is unauthorized", func(t *testing.T) {
		if res := s.browser(t).do(t, "GET", "/api/v1/session", "", nil); res.status != 401 {
			t.Errorf("GET /api/v1/session without a cookie = %d, want 401", res.status)
		}
		if res := s.browser(t).do(t, "GET", "/api/v1/me", "", nil); res.status != 401 {
			t.Errorf("GET /api/v1/me without a cookie = %d, want 401", res.status)
		}
	})
}

func TestSessionsEnd(t *testing.T) {
	s := newSessionServer(t, nil)
	tests := []struct {
		name string
		end  func(t *testing.T, b *browser)
	}{
		{"sign-out ends the session", func(t *testing.T, b *browser) {
			if res := b.do(t, "DELETE", "/api/v1/session", "", map[string]string{api.CSRFHeader: b.csrf}); res.status != 204 ||
				!strings.Contains(res.header.Get("Set-Cookie"), "Max-Age=0") {
				t.Fatalf("DELETE /api/v1/session = %d (Set-Cookie %q), want 204 clearing the cookie", res.status, res.header.Get("Set-Cookie"))
			}
		}},
		{"a new password ends the session", func(t *testing.T, b *browser) {
			if _, err := s.store.SetPassword(context.Background(), "leader", hashFor(t, testPassword)); err != nil {
				t.Fatal(err)
			}
		}},
		{"disabling the user ends the session", func(t *testing.T, b *browser) {
			if _, err := s.store.SetDisabled(context.Background(), "leader", true); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.store.SetDisabled(context.Background(), "leader", false) })
		}},
		{"expiry ends the session", func(t *testing.T, b *browser) { s.advance(13 * time.Hour) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.advance(10 * time.Second)
			b := s.browser(t)
			b.signIn(t, "leader")
			stolen := b.c.Jar.(*jar).cookies[api.SessionCookie].Value
			tt.end(t, b)
			thief := s.browser(t)
			thief.c.Jar.(*jar).cookies[api.SessionCookie] = &http.Cookie{Name: api.SessionCookie, Value: stolen}
			if res := thief.do(t, "GET", "/api/v1/me", "", nil); res.status != 401 {
				t.Errorf("GET /api/v1/me with the old cookie = %d %s, want 401", res.status, res.body)
			}
		})
	}
	t.Run("sign-out without the CSRF token is forbidden", func(t *testing.T) {
		b := s.browser(t)
		s.advance(10 * time.Second)
		b.signIn(t, "water")
		if res := b.do(t, "DELETE", "/api/v1/session", "", nil); res.status != 403 {
			t.Errorf("DELETE /api/v1/session without the token = %d, want 403", res.status)
		}
		if res := b.do(t, "GET", "/api/v1/me", "", nil); res.status != 200 {
			t.Errorf("GET /api/v1/me after a refused sign-out = %d, want 200 (still signed in)", res.status)
		}
	})
	t.Run("sign-out without a session clears the cookie", func(t *testing.T) {
		if res := s.browser(t).do(t, "DELETE", "/api/v1/session", "", nil); res.status != 204 {
			t.Errorf("DELETE /api/v1/session without a session = %d, want 204", res.status)
		}
	})
}

func TestSignInRateLimits(t *testing.T) {
	s := newSessionServer(t, nil)
	wrong := `{"name":"leader","password":"not-the-password"}`
	right := `{"name":"leader","password":"` + testPassword + `"}`
	b := s.browser(t)

	t.Run("a burst from one client is limited", func(t *testing.T) {
		var statuses []int
		for range 11 {
			statuses = append(statuses, b.do(t, "POST", "/api/v1/session", `{"name":"agent","password":"wrong-password"}`, nil).status)
		}
		res := b.do(t, "POST", "/api/v1/session", `{"name":"agent","password":"`+testPassword+`"}`, nil)
		if statuses[9] != 401 || statuses[10] != 429 || res.status != 429 || res.header.Get("Retry-After") == "" {
			t.Errorf("12 quick sign-ins = %v then %d (Retry-After %q), want 401 ten times, then 429 with Retry-After",
				statuses, res.status, res.header.Get("Retry-After"))
		}
	})
	t.Run("a name's failures slow strangers but never lock out its known address", func(t *testing.T) {
		s.advance(time.Hour)
		if res := s.signInFrom(t, "192.0.2.1", right); res.Code != 200 {
			t.Fatalf("first sign-in as leader from 192.0.2.1 = %d %s, want 200", res.Code, res.Body)
		}
		s.advance(time.Minute)
		for i := range 10 {
			if res := s.signInFrom(t, fmt.Sprintf("198.51.100.%d", i+1), wrong); res.Code != 401 {
				t.Fatalf("wrong password from stranger %d = %d, want 401", i+1, res.Code)
			}
		}
		stranger := s.signInFrom(t, "203.0.113.9", right)
		if stranger.Code != 429 || stranger.Header().Get("Retry-After") == "" {
			t.Errorf("right password from a new address after 10 failures = %d (Retry-After %q), want 429 with Retry-After",
				stranger.Code, stranger.Header().Get("Retry-After"))
		}
		if res := s.signInFrom(t, "192.0.2.1", right); res.Code != 200 {
			t.Errorf("right password from the address that signed in before = %d %s, want 200", res.Code, res.Body)
		}
	})
	t.Run("a name's failures only slow a stranger down", func(t *testing.T) {
		s.advance(time.Hour)
		for i := range 12 {
			s.signInFrom(t, fmt.Sprintf("198.51.100.%d", i+20), `{"name":"water","password":"wrong-password"}`)
		}
		res := s.signInFrom(t, "203.0.113.10", `{"name":"water","password":"`+testPassword+`"}`)
		wait, err := strconv.Atoi(res.Header().Get("Retry-After"))
		if res.Code != 429 || err != nil || wait > 60 {
			t.Fatalf("right password from a new address after 12 failures = %d (Retry-After %q), want 429 within a minute", res.Code, res.Header().Get("Retry-After"))
		}
		s.advance(time.Duration(wait) * time.Second)
		if res := s.signInFrom(t, "203.0.113.10", `{"name":"water","password":"`+testPassword+`"}`); res.Code != 200 {
			t.Errorf("the same sign-in after Retry-After = %d %s, want 200", res.Code, res.Body)
		}
	})
}

// signInFrom posts body to /api/v1/session as if from the address ip.
func (s *sessionServer) signInFrom(tb testing.TB, ip, body string) *httptest.ResponseRecorder {
	tb.Helper()
	req := httptest.NewRequest("POST", "/api/v1/session", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr = ip + ":40000"
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)
	return rec
}

func TestSessionCookieOnWebSocket(t *testing.T) {
	s := newSessionServer(t, nil)
	b := s.browser(t)
	b.signIn(t, "water")
	cookie := api.SessionCookie + "=" + b.c.Jar.(*jar).cookies[api.SessionCookie].Value
	dial := func(header http.Header) (*websocket.Conn, *http.Response, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.URL, "http")+"/ws", &websocket.DialOptions{HTTPHeader: header})
	}
	c, _, err := dial(http.Header{"Cookie": {cookie}})
	if err != nil {
		t.Fatalf("dial /ws with the session cookie = %v, want a connection", err)
	}
	defer c.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, data, err := c.Read(ctx)
	var welcome struct {
		Type string `json:"type"`
		Data struct {
			Subject   string    `json:"subject"`
			Dept      string    `json:"dept"`
			ExpiresAt time.Time `json:"expires_at"`
		} `json:"data"`
	}
	if err != nil || json.Unmarshal(data, &welcome) != nil || welcome.Type != "hub.welcome" || welcome.Data.Subject != "water" || welcome.Data.Dept != "water" {
		t.Fatalf("first message over the cookie = %s, %v, want hub.welcome for water", data, err)
	}
	if limit := s.now().Add(11 * time.Minute); welcome.Data.ExpiresAt.After(limit) {
		t.Errorf("hub.welcome expires_at = %v, want within 10 minutes so that the session is checked again", welcome.Data.ExpiresAt)
	}
	c.Close(websocket.StatusNormalClosure, "")

	tests := []struct {
		name   string
		header http.Header
		status int
	}{
		{"no cookie is unauthorized", http.Header{}, 401},
		{"forged cookie is unauthorized", http.Header{"Cookie": {api.SessionCookie + "=forged"}}, 401},
		{"foreign origin is forbidden", http.Header{"Cookie": {cookie}, "Origin": {"https://evil.example"}}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, res, err := dial(tt.header)
			if err == nil {
				c.CloseNow()
			}
			if res == nil || res.StatusCode != tt.status {
				t.Errorf("dial /ws = %v (%v), want status %d", res, err, tt.status)
			}
		})
	}
}

func TestSignOutClosesTheSessionsWebSockets(t *testing.T) {
	s := newSessionServer(t, nil)
	b := s.browser(t)
	b.signIn(t, "water")
	cookie := api.SessionCookie + "=" + b.c.Jar.(*jar).cookies[api.SessionCookie].Value
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.URL, "http")+"/ws", &websocket.DialOptions{HTTPHeader: http.Header{"Cookie": {cookie}}})
	if err != nil {
		t.Fatalf("dial /ws with the session cookie = %v", err)
	}
	defer c.CloseNow()
	if _, data, err := c.Read(ctx); err != nil || !strings.Contains(string(data), "hub.welcome") {
		t.Fatalf("first message = %s, %v; want hub.welcome", data, err)
	}
	if res := b.do(t, "DELETE", "/api/v1/session", "", map[string]string{api.CSRFHeader: b.csrf}); res.status != 204 {
		t.Fatalf("DELETE /api/v1/session = %d %s, want 204", res.status, res.body)
	}
	for { // the clock stands still: only the sign-out can end the connection
		_, data, err := c.Read(ctx)
		if err == nil {
			continue
		}
		if code := websocket.CloseStatus(err); code != 4001 {
			t.Errorf("WebSocket after sign-out ended with %v (code %d, last %s), want close code 4001", err, code, data)
		}
		break
	}
}

func TestDistrictsAndDashboard(t *testing.T) {
	dash := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "dashboard "+r.URL.Path) })
	s := newSessionServer(t, dash)
	b := s.browser(t)
	b.signIn(t, "water")
	res := b.do(t, "GET", "/api/v1/districts", "", nil)
	var fc struct {
		Type     string `json:"type"`
		Features []struct {
			Properties map[string]any `json:"properties"`
			Geometry   struct {
				Type string `json:"type"`
			} `json:"geometry"`
		} `json:"features"`
	}
	if err := json.Unmarshal(res.body, &fc); err != nil || res.status != 200 || fc.Type != "FeatureCollection" || len(fc.Features) != 4 {
		t.Fatalf("GET /api/v1/districts = %d %.200s, want a FeatureCollection of Zhuhai's 4 areas", res.status, res.body)
	}
	if f := fc.Features[0]; f.Properties["code"] != "440402" || f.Properties["name"] != "香洲区" || f.Geometry.Type != "MultiPolygon" {
		t.Errorf("GET /api/v1/districts first feature = %+v, want 440402 香洲区, a MultiPolygon", f)
	}
	if res := s.browser(t).do(t, "GET", "/api/v1/districts", "", nil); res.status != 401 {
		t.Errorf("GET /api/v1/districts without sign-in = %d, want 401", res.status)
	}
	for _, path := range []string{"/", "/js/app.js"} {
		if res := s.browser(t).do(t, "GET", path, "", nil); res.status != 200 || string(res.body) != "dashboard "+path {
			t.Errorf("GET %s = %d %q, want the dashboard handler", path, res.status, res.body)
		}
	}
	if res := s.browser(t).do(t, "GET", "/api/v1/nothing", "", nil); res.status != 401 {
		t.Errorf("GET /api/v1/nothing = %d, want the API's 401, not the dashboard", res.status)
	}
}
