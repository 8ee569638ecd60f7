// Package api is Flare's HTTP API: the JSON endpoints under /api/v1, the
// dashboard's sign-in, health and metrics endpoints, authentication and
// route-level authorization (by the domain's table, incidents.Role.May).
// It mounts the hub's WebSocket transport at /ws and serves the dashboard.
package api

import (
	"context"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"flare/hub"
	"flare/hub/auth"
	"flare/incidents"
	"flare/incidents/tracking"
)

// Config is what a Server needs.
type Config struct {
	Store   incidents.Store
	Intake  *incidents.Intake
	Signer  *auth.Signer
	Metrics *Metrics
	Logger  zerolog.Logger
	// Ready reports whether the node can serve: stores reachable, schema
	// migrated. /readyz answers 503 otherwise, saying only "store
	// unreachable" (the error goes to the log).
	Ready   func(ctx context.Context) error
	Version string
	// Limits bounds request rates per token and per client address.
	Limits Limits
	// MaxBodyBytes limits request bodies (413 beyond); default 64 KiB.
	MaxBodyBytes int64
	Now          func() time.Time
	// Broadcaster fans the event log out to WebSocket clients at /ws; /ws
	// and /api/v1/presence answer 503 without one.
	Broadcaster *hub.Broadcaster
	// WS tunes the WebSocket transport; its Authenticate, VerifyToken,
	// WriteError, Now and Registerer are the server's own.
	WS hub.WSConfig
	// Session, when set, authenticates a WebSocket request that carries no
	// Authorization header (the dashboard's session cookie). It returns an
	// *incidents.Error with CodeUnauthorized when the request has no valid
	// session.
	Session func(r *http.Request) (auth.Principal, error)
	// Workflow serves incidents, tasks, callbacks and the audit log; those
	// endpoints answer 503 without one.
	Workflow *incidents.Workflow
	// Users, when set, enables the dashboard's sign-in (/api/v1/session): a
	// session cookie that the API and /ws accept besides bearer tokens (see
	// session.go). Session then defaults to checking that cookie.
	Users incidents.UserStore
	// SessionTTL is how long a sign-in lasts (default 12h).
	SessionTTL time.Duration
	// Districts, when set, is served as GeoJSON at GET /api/v1/districts.
	Districts *incidents.Regions
	// Baseline is where the node's detector publishes its baseline of
	// normal call levels and its hot spots, served at GET /api/v1/baseline;
	// it answers 503 on a node that does not run the detector now.
	Baseline *tracking.Live
	// Dashboard, when set, serves every path no other route takes: the web
	// dashboard's pages and assets.
	Dashboard http.Handler
}

// Server serves Flare's HTTP API.
type Server struct {
	cfg       Config
	mux       *http.ServeMux
	ws        *hub.WebSockets // nil without Config.Broadcaster
	sessions  *sessionState   // nil without Config.Users
	limits    *rateLimiters
	districts districtsJSON
}

// errHubOff answers /ws and /api/v1/presence on a node without a
// broadcaster.
var errHubOff = incidents.Errorf(incidents.CodeUnavailable, "the WebSocket hub is not running on this node")

// New returns a Server for cfg. It returns an error when the WebSocket
// transport cannot be set up.
func New(cfg Config) (*Server, error) {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	cfg.Limits.setDefaults()
	s := &Server{cfg: cfg, mux: http.NewServeMux(), limits: newRateLimiters(cfg.Limits)}
	if cfg.Users != nil {
		s.sessions = newSessionState(cfg.Users, cfg.SessionTTL)
		if s.cfg.Session == nil {
			s.cfg.Session = s.sessionPrincipalWS
		}
	}
	if cfg.Broadcaster != nil {
		ws := cfg.WS
		ws.Authenticate, ws.VerifyToken, ws.WriteError = s.wsAuthenticate, cfg.Signer.Verify, writeError
		ws.Now, ws.Registerer = cfg.Now, cfg.Metrics.Registry
		var err error
		if s.ws, err = hub.NewWebSockets(cfg.Broadcaster, ws); err != nil {
			return nil, err
		}
	}
	s.routes()
	return s, nil
}

// wsAuthenticate returns the principal of a WebSocket request: its bearer
// token, or, without an Authorization header, the session hook's answer.
func (s *Server) wsAuthenticate(r *http.Request) (auth.Principal, error) {
	if r.Header.Get("Authorization") == "" && s.cfg.Session != nil {
		return s.cfg.Session(r)
	}
	return s.authenticate(r)
}

// handleWS hands GET /ws to the WebSocket transport.
func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	if s.ws == nil {
		writeError(w, r, errHubOff)
		return
	}
	s.ws.ServeHTTP(w, r)
}

// CloseWebSockets refuses new WebSocket connections and closes the open
// ones (see hub.WebSockets.Close). It returns ctx's error if it had to drop
// connections.
func (s *Server) CloseWebSockets(ctx context.Context) error {
	if s.ws == nil {
		return nil
	}
	return s.ws.Close(ctx)
}

// allowedOrigin reports whether a browser request comes from this host or
// an origin the WebSocket transport allows.
func (s *Server) allowedOrigin(r *http.Request) bool {
	return hub.OriginAllowed(r, s.cfg.WS.AllowedOrigins)
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /healthz", s.handleHealth)
	s.mux.HandleFunc("GET /readyz", s.handleReady)
	s.mux.Handle("GET /metrics", s.authorize(s.cfg.Metrics.handler(), incidents.OpReadMetrics))

	s.mux.Handle("POST /api/v1/calls", s.authorizeFunc(s.handleCreateCall, incidents.OpCreateCall))
	s.mux.Handle("GET /api/v1/calls", s.authorizeFunc(s.handleListCalls, incidents.OpReadCalls))
	s.mux.Handle("GET /api/v1/calls/{id}", s.authorizeFunc(s.handleGetCall, incidents.OpReadCalls))
	s.mux.Handle("GET /api/v1/categories", s.authorizeFunc(s.handleCategories, incidents.OpReadReference))
	s.mux.Handle("GET /api/v1/me", s.authorizeFunc(s.handleMe, incidents.OpReadReference))
	s.mux.Handle("GET /api/v1/presence", s.authorizeFunc(s.handlePresence, incidents.OpReadPresence))
	// The baseline, like presence, is for leaders and admins.
	s.mux.Handle("GET /api/v1/baseline", s.authorizeFunc(s.handleBaseline, incidents.OpReadPresence))
	s.mux.HandleFunc("GET /ws", s.handleWS)
	s.workflowRoutes()
	s.dashboardRoutes()
	s.mux.Handle("/api/", s.authorizeFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, incidents.Errorf(incidents.CodeNotFound, "no such endpoint: %s %s", r.Method, r.URL.Path))
	}, incidents.OpReadReference))
}

// Handler returns the server's root handler, with request ids, logging,
// metrics and panic recovery around every route.
func (s *Server) Handler() http.Handler {
	return s.observe(s.mux)
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": s.cfg.Version})
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.cfg.Ready(ctx); err != nil {
			// The error names hosts, ports, users and databases: it is for
			// the log, not for whoever asks.
			zerolog.Ctx(r.Context()).Warn().Err(err).Msg("not ready")
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{
				"status": "unavailable",
				"error":  &incidents.Error{Code: incidents.CodeUnavailable, Message: "store unreachable"},
			})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	writeJSON(w, http.StatusOK, map[string]any{
		"subject": p.Subject, "role": p.Role, "dept": p.Dept, "expires_at": p.ExpiresAt.UTC(),
	})
}

// handlePresence answers GET /api/v1/presence.
func (s *Server) handlePresence(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Broadcaster == nil {
		writeError(w, r, errHubOff)
		return
	}
	p, err := s.cfg.Broadcaster.Presence(r.Context())
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}
