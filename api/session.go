package api

import (
	"context"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

	"flare/hub/auth"
	"flare/incidents"
)

// The dashboard's sign-in: POST /api/v1/session checks a user's password
// and sets a session cookie; GET /api/v1/session tells the page who is
// signed in and its CSRF token; DELETE /api/v1/session signs out. The API
// and /ws accept the cookie wherever they accept a bearer token; a request
// with the cookie that changes something must also carry the CSRF token in
// the X-CSRF-Token header and, when it has an Origin header, come from this
// host (or an allowed origin).

// SessionCookie is the name of the dashboard's session cookie.
const SessionCookie = "flare_session"

// CSRFHeader is the header that carries the session's CSRF token.
const CSRFHeader = "X-CSRF-Token"

// wsSessionRecheck is how long a WebSocket connection signed in by cookie
// lives before it must reconnect (and resume), so that a session ended by a
// sign-out elsewhere or a password change also ends its live connections.
const wsSessionRecheck = 10 * time.Minute

// Sign-in limits against password guessing. Each client address may try
// ipBurst times at once and ipRate times a minute after. A user name that
// failed nameFailures times within nameWindow slows down the addresses
// that never signed in as it (see nameDelay); the knownPerName addresses
// it last signed in from are never held back by its failures.
const (
	ipRate        = 10.0 / 60 // attempts per second
	ipBurst       = 10
	nameFailures  = 10
	nameWindow    = 15 * time.Minute
	nameMaxDelay  = time.Minute
	knownPerName  = 8
	maxTracked    = 10000 // entries per map before stale ones are swept
	maxPwChecking = 4     // password checks running at once (each takes 19 MiB)
)

// sessionState is the server's sign-in side.
type sessionState struct {
	users   incidents.UserStore
	ttl     time.Duration
	limiter *signInLimiter
	hashing chan struct{}
}

func newSessionState(users incidents.UserStore, ttl time.Duration) *sessionState {
	if ttl <= 0 {
		ttl = 12 * time.Hour
	}
	return &sessionState{users: users, ttl: ttl, limiter: newSignInLimiter(), hashing: make(chan struct{}, maxPwChecking)}
}

// sessionRoutes registers the sign-in endpoints when the server has users.
func (s *Server) sessionRoutes() {
	if s.sessions == nil {
		return
	}
	s.mux.HandleFunc("POST /api/v1/session", s.handleSignIn)
	s.mux.HandleFunc("GET /api/v1/session", s.handleGetSession)
	s.mux.HandleFunc("DELETE /api/v1/session", s.handleSignOut)
}

// sessionUser is what the dashboard learns about the signed-in user.
type sessionUser struct {
	Name        string         `json:"name"`
	DisplayName string         `json:"display_name"`
	Role        incidents.Role `json:"role"`
	Dept        string         `json:"dept,omitempty"`
}

type sessionBody struct {
	User      sessionUser `json:"user"`
	CSRFToken string      `json:"csrf_token"`
	ExpiresAt time.Time   `json:"expires_at"`
}

func (s *Server) sessionBody(u incidents.User, sess auth.Session) sessionBody {
	display := u.DisplayName
	if display == "" {
		display = u.Name
	}
	return sessionBody{
		User:      sessionUser{Name: u.Name, DisplayName: display, Role: u.Role, Dept: u.Dept},
		CSRFToken: s.cfg.Signer.CSRFToken(sess),
		ExpiresAt: sess.ExpiresAt.UTC(),
	}
}

// clientIP is the address a request came from, without its port.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// setSessionCookie sets (or, with an empty value, clears) the session
// cookie: HttpOnly, SameSite=Strict, for the whole site, and Secure when the
// request came over TLS (directly or through a proxy that says so).
func setSessionCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name:     SessionCookie,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
		Secure:   r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https"),
	})
}

// handleSignIn answers POST /api/v1/session {"name","password"}: 200 with
// the user and the CSRF token, and the session cookie; 401 for a wrong name
// or password (the same answer for both); 429 when the client or the name
// tried too often; 403 from a foreign origin.
func (s *Server) handleSignIn(w http.ResponseWriter, r *http.Request) {
	if !s.allowedOrigin(r) {
		writeError(w, r, incidents.FieldError(incidents.CodeForbidden, "Origin", "origin %q may not sign in here", r.Header.Get("Origin")))
		return
	}
	var in struct {
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	if err := s.decodeJSON(w, r, &in); err != nil {
		writeError(w, r, err)
		return
	}
	name := strings.ToLower(strings.TrimSpace(in.Name))
	switch {
	case name == "":
		writeError(w, r, incidents.FieldError(incidents.CodeInvalid, "name", "name is required"))
		return
	case in.Password == "":
		writeError(w, r, incidents.FieldError(incidents.CodeInvalid, "password", "password is required"))
		return
	case len(name) > 64:
		writeError(w, r, incidents.FieldError(incidents.CodeInvalid, "name", "name is at most 64 characters"))
		return
	}
	st, ip := s.sessions, clientIP(r)
	log := zerolog.Ctx(r.Context())
	if wait, why, ok := st.limiter.allow(ip, name, s.cfg.Now()); !ok {
		secs := max(1, int(math.Ceil(wait.Seconds())))
		log.Warn().Str("user", name).Str("remote", ip).Str("by", why).Int("retry_after", secs).Msg("sign-in throttled")
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		writeError(w, r, incidents.Errorf(incidents.CodeRateLimited, "too many sign-in attempts by this %s; try again in %ds", why, secs))
		return
	}
	select {
	case st.hashing <- struct{}{}:
	case <-r.Context().Done():
		writeError(w, r, r.Context().Err())
		return
	}
	u, ok, err := s.checkSignIn(r.Context(), name, in.Password)
	<-st.hashing
	if err != nil {
		writeError(w, r, err)
		return
	}
	if !ok {
		st.limiter.fail(name, s.cfg.Now())
		log.Warn().Str("user", name).Str("remote", ip).Msg("sign-in refused")
		writeError(w, r, incidents.Errorf(incidents.CodeUnauthorized, "wrong name or password"))
		return
	}
	st.limiter.succeed(name, ip)
	tok, sess, err := s.cfg.Signer.IssueSession(u.Name, u.SessionVersion, st.ttl)
	if err != nil {
		writeError(w, r, err)
		return
	}
	setSessionCookie(w, r, tok, int(st.ttl.Seconds()))
	log.Info().Str("user", u.Name).Str("role", string(u.Role)).Str("remote", ip).Msg("signed in")
	writeJSON(w, http.StatusOK, s.sessionBody(u, sess))
}

// checkSignIn returns the user when password is theirs and they are not
// disabled. A missing user costs as much time as a wrong password. It
// returns the store's error.
func (s *Server) checkSignIn(ctx context.Context, name, password string) (incidents.User, bool, error) {
	u, err := s.sessions.users.GetUser(ctx, name)
	if incidents.ErrorCode(err) == incidents.CodeNotFound {
		return incidents.User{}, auth.CheckNoPassword(password), nil
	}
	if err != nil {
		return incidents.User{}, false, err
	}
	ok, err := auth.CheckPassword(u.PasswordHash, password)
	if err != nil {
		zerolog.Ctx(ctx).Error().Err(err).Str("user", name).Msg("stored password hash unreadable")
		return incidents.User{}, false, nil
	}
	return u, ok && !u.Disabled, nil
}

// sessionOf returns the principal, session and user of the request's
// session cookie, or an *incidents.Error with CodeUnauthorized saying why
// there is none: no cookie, a forged or expired one, a user removed or
// disabled, or a session ended by a sign-out or a new password.
func (s *Server) sessionOf(r *http.Request) (auth.Principal, auth.Session, incidents.User, error) {
	none := func(msg string) (auth.Principal, auth.Session, incidents.User, error) {
		return auth.Principal{}, auth.Session{}, incidents.User{}, incidents.Errorf(incidents.CodeUnauthorized, "%s", msg)
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return none("not signed in")
	}
	sess, err := s.cfg.Signer.VerifySession(c.Value)
	if err != nil {
		return auth.Principal{}, auth.Session{}, incidents.User{}, err
	}
	u, err := s.sessions.users.GetUser(r.Context(), sess.User)
	switch {
	case incidents.ErrorCode(err) == incidents.CodeNotFound:
		return none("the session's user no longer exists: sign in again")
	case err != nil:
		return auth.Principal{}, auth.Session{}, incidents.User{}, err
	case u.Disabled:
		return none("this user is disabled")
	case u.SessionVersion != sess.Version:
		return none("the session has ended (signed out or password changed): sign in again")
	}
	p := auth.Principal{Subject: u.Name, Role: u.Role, Dept: u.Dept, ExpiresAt: sess.ExpiresAt}
	if err := auth.Check(p); err != nil {
		return none("the user's role or department is not valid")
	}
	return p, sess, u, nil
}

// cookieAuth authenticates a request without an Authorization header by
// its session cookie. ok is false when the server has no users or the
// request no cookie (the caller then asks for a token). A request that
// changes something must carry the session's CSRF token and, if it names
// an Origin, come from an allowed one: else the error has CodeForbidden.
func (s *Server) cookieAuth(r *http.Request) (p auth.Principal, ok bool, err error) {
	if s.sessions == nil {
		return auth.Principal{}, false, nil
	}
	if c, err := r.Cookie(SessionCookie); err != nil || c.Value == "" {
		return auth.Principal{}, false, nil
	}
	p, sess, _, err := s.sessionOf(r)
	if err != nil {
		return auth.Principal{}, true, err
	}
	if err := s.checkCSRF(r, sess); err != nil {
		return auth.Principal{}, true, err
	}
	return p, true, nil
}

// checkCSRF refuses a state-changing request (any method but GET, HEAD and
// OPTIONS) without the session's CSRF token or from a foreign origin.
func (s *Server) checkCSRF(r *http.Request, sess auth.Session) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	if !s.allowedOrigin(r) {
		return incidents.FieldError(incidents.CodeForbidden, "Origin", "origin %q may not change anything here", r.Header.Get("Origin"))
	}
	if !s.cfg.Signer.CheckCSRF(sess, r.Header.Get(CSRFHeader)) {
		return incidents.FieldError(incidents.CodeForbidden, CSRFHeader, "missing or wrong %s header: reload the page", CSRFHeader)
	}
	return nil
}

// sessionPrincipalWS is the default Config.Session: the principal of the
// session cookie, expiring within wsSessionRecheck so that the connection
// is checked again on its reconnect.
func (s *Server) sessionPrincipalWS(r *http.Request) (auth.Principal, error) {
	p, _, _, err := s.sessionOf(r)
	if err != nil {
		return auth.Principal{}, err
	}
	if limit := s.cfg.Now().Add(wsSessionRecheck); p.ExpiresAt.After(limit) {
		p.ExpiresAt = limit
	}
	return p, nil
}

// handleGetSession answers GET /api/v1/session: the signed-in user and the
// CSRF token, or 401.
func (s *Server) handleGetSession(w http.ResponseWriter, r *http.Request) {
	_, sess, u, err := s.sessionOf(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.sessionBody(u, sess))
}

// handleSignOut answers DELETE /api/v1/session: it ends every session of
// the signed-in user (it needs the CSRF token), closes the WebSocket
// connections this node holds for those sessions (4001), and clears the
// cookie; 204 also when no session was valid.
func (s *Server) handleSignOut(w http.ResponseWriter, r *http.Request) {
	_, sess, u, err := s.sessionOf(r)
	if err == nil {
		if err := s.checkCSRF(r, sess); err != nil {
			writeError(w, r, err)
			return
		}
		if _, err := s.sessions.users.BumpSession(r.Context(), u.Name); err != nil {
			writeError(w, r, err)
			return
		}
		closed := 0
		if s.ws != nil {
			closed = s.ws.EndSessions(u.Name)
		}
		zerolog.Ctx(r.Context()).Info().Str("user", u.Name).Int("websockets_closed", closed).Msg("signed out")
	} else if incidents.ErrorCode(err) != incidents.CodeUnauthorized {
		writeError(w, r, err)
		return
	}
	setSessionCookie(w, r, "", -1)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// signInLimiter counts sign-in attempts per client address and failures
// per user name, and remembers the addresses each name signed in from.
// A name's failures only slow strangers down: they never hold back an
// address that has signed in as that name before, so that nobody can lock
// a user out by guessing wrong passwords for them.
type signInLimiter struct {
	mu     sync.Mutex
	byIP   map[string]*rate.Limiter
	byName map[string]*nameFailuresWindow
	known  map[string][]string // name: addresses it signed in from, the latest last
}

type nameFailuresWindow struct {
	count int
	last  time.Time
}

func newSignInLimiter() *signInLimiter {
	return &signInLimiter{byIP: map[string]*rate.Limiter{}, byName: map[string]*nameFailuresWindow{}, known: map[string][]string{}}
}

// nameDelay is how long after a name's last failure an address that never
// signed in as it must wait, once the name failed count times: nothing
// below nameFailures, then one second doubling with each failure up to
// nameMaxDelay.
func nameDelay(count int) time.Duration {
	if count < nameFailures {
		return 0
	}
	return min(time.Second<<min(count-nameFailures, 10), nameMaxDelay)
}

// Throttling reasons, in the log and the error's field.
const (
	throttledAddress = "address"
	throttledName    = "name"
)

// allow takes an attempt for ip and name at now. When refused it returns
// how long to wait and why (throttledAddress or throttledName).
func (l *signInLimiter) allow(ip, name string, now time.Time) (wait time.Duration, why string, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f := l.byName[name]; f != nil && !l.knownLocked(name, ip) {
		if now.Sub(f.last) > nameWindow {
			delete(l.byName, name)
		} else if until := f.last.Add(nameDelay(f.count)); now.Before(until) {
			return until.Sub(now), throttledName, false
		}
	}
	b := l.byIP[ip]
	if b == nil {
		if len(l.byIP) >= maxTracked {
			l.sweep(now)
		}
		b = rate.NewLimiter(ipRate, ipBurst)
		l.byIP[ip] = b
	}
	if !b.AllowN(now, 1) {
		return time.Duration(float64(time.Second) / ipRate), throttledAddress, false
	}
	return 0, "", true
}

// knownLocked reports whether ip signed in as name before. The caller
// holds mu.
func (l *signInLimiter) knownLocked(name, ip string) bool {
	for _, a := range l.known[name] {
		if a == ip {
			return true
		}
	}
	return false
}

// fail counts a failed attempt for name at now.
func (l *signInLimiter) fail(name string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.byName[name]
	if f == nil || now.Sub(f.last) > nameWindow {
		if f == nil && len(l.byName) >= maxTracked {
			l.sweep(now)
		}
		f = &nameFailuresWindow{}
		l.byName[name] = f
	}
	f.count++
	f.last = now
}

// succeed forgets the failures of name and remembers that ip signed in as
// it (the knownPerName latest addresses of at most maxTracked names).
func (l *signInLimiter) succeed(name, ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.byName, name)
	addrs := l.known[name]
	for i, a := range addrs {
		if a == ip {
			addrs = append(addrs[:i], addrs[i+1:]...)
			break
		}
	}
	if len(addrs) >= knownPerName {
		addrs = addrs[1:]
	}
	if addrs == nil && len(l.known) >= maxTracked {
		for n := range l.known { // forget one name, any
			delete(l.known, n)
			break
		}
	}
	l.known[name] = append(addrs, ip)
}

// sweep drops entries that no longer limit anything; when the maps are
// still full (an attack from many addresses), it starts them afresh. The
// caller holds mu.
func (l *signInLimiter) sweep(now time.Time) {
	for ip, b := range l.byIP {
		if b.TokensAt(now) >= ipBurst { // a full bucket limits nothing
			delete(l.byIP, ip)
		}
	}
	for name, f := range l.byName {
		if now.Sub(f.last) > nameWindow {
			delete(l.byName, name)
		}
	}
	if len(l.byIP) >= maxTracked {
		clear(l.byIP)
	}
	if len(l.byName) >= maxTracked {
		clear(l.byName)
	}
}
