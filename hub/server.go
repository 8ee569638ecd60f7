// Package hub is Flare's HTTP face: the JSON API under /api/v1, health and
// metrics endpoints, authentication, and the WebSocket hub that pushes the
// event log to dashboards.
package hub

import (
	"context"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"flare/hub/auth"
	"flare/incidents"
)

// Config is what a Server needs.
type Config struct {
	Store   incidents.Store
	Intake  *incidents.Intake
	Signer  *auth.Signer
	Metrics *Metrics
	Logger  zerolog.Logger
	// Ready reports whether the node can serve: stores reachable, schema
	// migrated. /readyz answers 503 with its error otherwise.
	Ready   func(ctx context.Context) error
	Version string
	// MaxBodyBytes limits request bodies (413 beyond); default 64 KiB.
	MaxBodyBytes int64
	Now          func() time.Time
	// Broadcaster fans the event log out to WebSocket clients at /ws; /ws
	// and /api/v1/presence answer 503 without one.
	Broadcaster *Broadcaster
	// WS tunes the WebSocket hub.
	WS WSConfig
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
	// Dashboard, when set, serves every path no other route takes: the web
	// dashboard's pages and assets.
	Dashboard http.Handler
}

// Server serves Flare's HTTP API.
type Server struct {
	cfg       Config
	mux       *http.ServeMux
	ws        *wsState
	sessions  *sessionState // nil without Config.Users
	districts districtsJSON
}

// New returns a Server for cfg.
func New(cfg Config) *Server {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), ws: newWSState(cfg.WS, cfg.Metrics)}
	if cfg.Users != nil {
		s.sessions = newSessionState(cfg.Users, cfg.SessionTTL)
		if s.cfg.Session == nil {
			s.cfg.Session = s.sessionPrincipalWS
		}
	}
	s.routes()
	return s
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /healthz", s.handleHealth)
	s.mux.HandleFunc("GET /readyz", s.handleReady)
	s.mux.Handle("GET /metrics", s.authorize(s.cfg.Metrics.handler(), auth.RoleAdmin, auth.RoleLeader))

	s.mux.Handle("POST /api/v1/calls", s.authorizeFunc(s.handleCreateCall, auth.RoleAgent, auth.RoleAdmin))
	s.mux.Handle("GET /api/v1/calls", s.authorizeFunc(s.handleListCalls, auth.RoleAgent, auth.RoleLeader, auth.RoleAdmin))
	s.mux.Handle("GET /api/v1/calls/{id}", s.authorizeFunc(s.handleGetCall, auth.RoleAgent, auth.RoleLeader, auth.RoleAdmin))
	s.mux.Handle("GET /api/v1/categories", s.authorizeFunc(s.handleCategories))
	s.mux.Handle("GET /api/v1/me", s.authorizeFunc(s.handleMe))
	s.mux.Handle("GET /api/v1/presence", s.authorizeFunc(s.handlePresence, auth.RoleLeader, auth.RoleAdmin))
	s.mux.HandleFunc("GET /ws", s.handleWS)
	s.workflowRoutes()
	s.dashboardRoutes()
	s.mux.Handle("/api/", s.authorizeFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, incidents.Errorf(incidents.CodeNotFound, "no such endpoint: %s %s", r.Method, r.URL.Path))
	}))
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
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{
				"status": "unavailable",
				"error":  &incidents.Error{Code: incidents.CodeUnavailable, Message: err.Error()},
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
