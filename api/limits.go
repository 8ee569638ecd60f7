package api

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

	"flare/hub/auth"
	"flare/incidents"
)

// Limits bounds the REST API's request rates (429 rate_limited with
// Retry-After beyond them). Zero fields take the defaults; a negative rate
// turns its limit off.
type Limits struct {
	// PerToken is how many requests a second one token subject (or
	// signed-in user) may make, in bursts of PerTokenBurst (defaults
	// 1000/s, bursts of 2000: above a call floor's and a dashboard's needs,
	// and what a benchmark's agent token posts). Tokens of the system and admin roles (integrations,
	// the load tool's posters) are not limited per token, only per address.
	PerToken      float64
	PerTokenBurst int
	// PerAddress is how many requests a second one client address may make,
	// in bursts of PerAddressBurst (defaults 10000/s, bursts of 20000): it
	// bounds a flood of bad tokens, and is high because a proxy puts every
	// client behind one address.
	PerAddress      float64
	PerAddressBurst int
}

func (l *Limits) setDefaults() {
	if l.PerToken == 0 {
		l.PerToken = 1000
	}
	if l.PerTokenBurst <= 0 {
		l.PerTokenBurst = max(1, int(2*l.PerToken))
	}
	if l.PerAddress == 0 {
		l.PerAddress = 10000
	}
	if l.PerAddressBurst <= 0 {
		l.PerAddressBurst = max(1, int(2*l.PerAddress))
	}
}

// tokenExempt reports whether role's requests skip the per-token limit.
func tokenExempt(role incidents.Role) bool {
	return role == incidents.RoleSystem || role == incidents.RoleAdmin
}

// keyedLimiter holds a token bucket per key (nil when the limit is off).
type keyedLimiter struct {
	mu    sync.Mutex
	rate  rate.Limit
	burst int
	m     map[string]*rate.Limiter
}

func newKeyedLimiter(perSecond float64, burst int) *keyedLimiter {
	if perSecond < 0 {
		return nil
	}
	return &keyedLimiter{rate: rate.Limit(perSecond), burst: burst, m: map[string]*rate.Limiter{}}
}

// allow takes a request for key at now; when refused it returns how long
// until the next one is allowed.
func (k *keyedLimiter) allow(key string, now time.Time) (time.Duration, bool) {
	if k == nil {
		return 0, true
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	b := k.m[key]
	if b == nil {
		if len(k.m) >= maxTracked {
			for key, b := range k.m { // full buckets limit nothing
				if b.TokensAt(now) >= float64(k.burst) {
					delete(k.m, key)
				}
			}
			if len(k.m) >= maxTracked {
				clear(k.m)
			}
		}
		b = rate.NewLimiter(k.rate, k.burst)
		k.m[key] = b
	}
	if b.AllowN(now, 1) {
		return 0, true
	}
	return time.Duration((1 - b.TokensAt(now)) / float64(k.rate) * float64(time.Second)), false
}

// rateLimiters are the REST API's limits.
type rateLimiters struct {
	byToken, byAddress *keyedLimiter
}

func newRateLimiters(l Limits) *rateLimiters {
	return &rateLimiters{
		byToken:   newKeyedLimiter(l.PerToken, l.PerTokenBurst),
		byAddress: newKeyedLimiter(l.PerAddress, l.PerAddressBurst),
	}
}

// refuseRate answers 429 rate_limited with Retry-After for a request over
// the limit by (address or token), and logs it.
func refuseRate(w http.ResponseWriter, r *http.Request, by, who string, wait time.Duration) {
	secs := max(1, int(math.Ceil(wait.Seconds())))
	zerolog.Ctx(r.Context()).Warn().Str("by", by).Str("who", who).Int("retry_after", secs).Msg("request rate limited")
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeError(w, r, incidents.Errorf(incidents.CodeRateLimited, "too many requests from this %s; retry in %ds", by, secs))
}

// allowAddress applies the per-address limit; false when it answered.
func (s *Server) allowAddress(w http.ResponseWriter, r *http.Request) bool {
	ip := clientIP(r)
	if wait, ok := s.limits.byAddress.allow(ip, s.cfg.Now()); !ok {
		refuseRate(w, r, "address", ip, wait)
		return false
	}
	return true
}

// allowToken applies the per-token limit to p; false when it answered.
func (s *Server) allowToken(w http.ResponseWriter, r *http.Request, p auth.Principal) bool {
	if tokenExempt(p.Role) {
		return true
	}
	if wait, ok := s.limits.byToken.allow(p.Subject, s.cfg.Now()); !ok {
		refuseRate(w, r, "token", p.Subject, wait)
		return false
	}
	return true
}
