package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"flare/hub/auth"
	"flare/incidents"
)

type ctxKey int

const principalKey ctxKey = iota

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer (for
// WebSocket hijacking and flushing).
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe gives every request an id (X-Request-Id, kept from the client
// when well-formed), a logger carrying it, one access log line, metrics,
// and recovery from panics.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !requestIDPattern.MatchString(id) {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		log := s.cfg.Logger.With().Str("request_id", id).Logger()
		r = r.WithContext(log.WithContext(r.Context()))
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Error().Interface("panic", v).Str("path", r.URL.Path).Msg("handler panicked")
				if rec.status == 0 {
					writeError(rec, r, incidents.Errorf(incidents.CodeInternal, "internal error"))
				}
			}
			d := time.Since(start)
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			s.cfg.Metrics.observeRequest(route, r.Method, status, d)
			ev := log.Info()
			if status >= 500 {
				ev = log.Warn()
			}
			ev.Str("method", r.Method).Str("path", r.URL.Path).Int("status", status).
				Int("bytes", rec.bytes).Dur("duration", d).Str("remote", r.RemoteAddr).Msg("request")
		}()
		next.ServeHTTP(rec, r)
	})
}

// principalFrom returns the principal authenticate put in ctx.
func principalFrom(ctx context.Context) auth.Principal {
	p, _ := ctx.Value(principalKey).(auth.Principal)
	return p
}

// authenticate returns the principal of a request's bearer token or, without
// an Authorization header, of its session cookie (see cookieAuth).
func (s *Server) authenticate(r *http.Request) (auth.Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		if p, ok, err := s.cookieAuth(r); ok {
			return p, err
		}
		return auth.Principal{}, incidents.Errorf(incidents.CodeUnauthorized, "missing bearer token (Authorization: Bearer ...)")
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return auth.Principal{}, incidents.Errorf(incidents.CodeUnauthorized, "the Authorization header must be \"Bearer <token>\"")
	}
	return s.cfg.Signer.Verify(strings.TrimSpace(token))
}

// authorize lets a request through when it carries a valid token whose role
// may do op (incidents.Role.May): 429 over the per-address or per-token
// rate (see Limits), 401 without a valid token, 403 for a role that may
// not.
func (s *Server) authorize(next http.Handler, op incidents.Operation) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.allowAddress(w, r) {
			return
		}
		p, err := s.authenticate(r)
		if err != nil {
			writeError(w, r, err)
			return
		}
		if !s.allowToken(w, r, p) {
			return
		}
		if !p.Role.May(op) {
			writeError(w, r, incidents.Errorf(incidents.CodeForbidden, "role %s may not %s %s", p.Role, r.Method, r.URL.Path))
			return
		}
		log := zerolog.Ctx(r.Context()).With().Str("actor", p.Actor()).Logger()
		ctx := context.WithValue(log.WithContext(r.Context()), principalKey, p)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func (s *Server) authorizeFunc(next http.HandlerFunc, op incidents.Operation) http.Handler {
	return s.authorize(next, op)
}
