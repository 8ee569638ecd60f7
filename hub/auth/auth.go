// Package auth issues and verifies Flare's bearer tokens (signed HS256
// claims naming an incidents.Role, a department code for department users,
// and an expiry), the dashboard's session tokens and CSRF tokens, and
// password hashes. What a role may do is decided in incidents (access.go),
// not here.
package auth

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"flare/incidents"
)

const issuer = "flare"

// MinSecretBytes is the shortest signing secret accepted.
const MinSecretBytes = 32

var deptPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,39}$`)

// Principal is who a request acts as.
type Principal struct {
	Subject   string
	Role      incidents.Role
	Dept      string // department code; set for incidents.RoleDept, optional otherwise
	ExpiresAt time.Time
}

// Actor returns how the principal is named in the event log and audit.
func (p Principal) Actor() string {
	if p.Dept != "" {
		return fmt.Sprintf("%s:%s@%s", p.Role, p.Subject, p.Dept)
	}
	return fmt.Sprintf("%s:%s", p.Role, p.Subject)
}

type claims struct {
	Role incidents.Role `json:"role"`
	Dept string         `json:"dept,omitempty"`
	jwt.RegisteredClaims
}

// Signer issues and verifies tokens with one secret. It remembers tokens it
// has verified, so that a client sending the same token with every request
// costs a map lookup instead of a signature check; expiry is still checked
// every time.
type Signer struct {
	key   []byte
	now   func() time.Time
	depts func(code string) bool // nil: any well-formed code

	mu       sync.Mutex
	verified map[string]Principal
}

// maxVerified bounds the memory of verified tokens; past it the memory starts
// afresh.
const maxVerified = 8192

// NewSigner returns a Signer for secret, which must be at least
// MinSecretBytes long. now defaults to time.Now.
func NewSigner(secret []byte, now func() time.Time) (*Signer, error) {
	if len(secret) < MinSecretBytes {
		return nil, fmt.Errorf("signing secret is %d bytes; at least %d are needed", len(secret), MinSecretBytes)
	}
	if now == nil {
		now = time.Now
	}
	return &Signer{key: append([]byte(nil), secret...), now: now, verified: map[string]Principal{}}, nil
}

// SetDepartments makes the signer refuse to issue, and refuse at use
// (401), a token naming a department for which known is false: the
// departments of the server's configuration. Call it before the signer is
// shared.
func (s *Signer) SetDepartments(known func(code string) bool) { s.depts = known }

// knownDept reports whether p's department, if any, exists.
func (s *Signer) knownDept(p Principal) bool {
	return p.Dept == "" || s.depts == nil || s.depts(p.Dept)
}

// Check validates a principal before a token is issued for it. It returns an
// *incidents.Error with CodeInvalid naming the field at fault.
func Check(p Principal) error {
	if !p.Role.Valid() {
		return incidents.FieldError(incidents.CodeInvalid, "role", "role must be leader, agent, hotline, admin, dept or system, not %q", p.Role)
	}
	if p.Role == incidents.RoleDept && p.Dept == "" {
		return incidents.FieldError(incidents.CodeInvalid, "dept", "a dept token needs a department code")
	}
	if p.Dept != "" && !deptPattern.MatchString(p.Dept) {
		return incidents.FieldError(incidents.CodeInvalid, "dept", "department code %q must be lower-case letters, digits, _ or -", p.Dept)
	}
	if p.Subject == "" || len(p.Subject) > 128 || strings.ContainsAny(p.Subject, "\x00\n\r") {
		return incidents.FieldError(incidents.CodeInvalid, "subject", "subject must be 1 to 128 characters")
	}
	return nil
}

// Issue returns a token for p valid for ttl.
func (s *Signer) Issue(p Principal, ttl time.Duration) (string, error) {
	if err := Check(p); err != nil {
		return "", err
	}
	if !s.knownDept(p) {
		return "", incidents.FieldError(incidents.CodeInvalid, "dept", "no department has the code %q", p.Dept)
	}
	if ttl <= 0 {
		return "", incidents.FieldError(incidents.CodeInvalid, "ttl", "ttl must be positive")
	}
	now := s.now()
	var jti [12]byte
	_, _ = rand.Read(jti[:])
	c := claims{Role: p.Role, Dept: p.Dept, RegisteredClaims: jwt.RegisteredClaims{
		Issuer:    issuer,
		Subject:   p.Subject,
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		ID:        hex.EncodeToString(jti[:]),
	}}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(s.key)
}

// Verify checks a token's signature, issuer, expiry and claims and returns
// its principal. It returns an *incidents.Error with CodeUnauthorized
// saying why a token is refused.
func (s *Signer) Verify(token string) (Principal, error) {
	s.mu.Lock()
	p, ok := s.verified[token]
	s.mu.Unlock()
	if ok {
		if !s.now().Before(p.ExpiresAt) {
			return Principal{}, incidents.Errorf(incidents.CodeUnauthorized, "token expired")
		}
		return p, nil
	}
	p, err := s.verify(token)
	if err != nil {
		return Principal{}, err
	}
	s.mu.Lock()
	if len(s.verified) >= maxVerified {
		clear(s.verified)
	}
	s.verified[token] = p
	s.mu.Unlock()
	return p, nil
}

// verify checks a token's signature and claims.
func (s *Signer) verify(token string) (Principal, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return s.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(s.now),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return Principal{}, incidents.Errorf(incidents.CodeUnauthorized, "token expired")
	case err != nil:
		return Principal{}, incidents.Errorf(incidents.CodeUnauthorized, "invalid token")
	}
	p := Principal{Subject: c.Subject, Role: c.Role, Dept: c.Dept, ExpiresAt: c.ExpiresAt.Time}
	if err := Check(p); err != nil {
		return Principal{}, incidents.Errorf(incidents.CodeUnauthorized, "invalid token claims")
	}
	if !s.knownDept(p) {
		return Principal{}, incidents.Errorf(incidents.CodeUnauthorized, "the token's department %q does not exist", p.Dept)
	}
	return p, nil
}

// LoadOrCreateSecret returns the signing secret kept in dir/secret,
// creating it (32 random bytes, hex, file mode 0600) when it does not exist.
func LoadOrCreateSecret(dir string) ([]byte, error) {
	path := filepath.Join(dir, "secret")
	b, err := os.ReadFile(path)
	if err == nil {
		s := strings.TrimSpace(string(b))
		if len(s) < MinSecretBytes {
			return nil, fmt.Errorf("secret file %s holds %d bytes; at least %d are needed", path, len(s), MinSecretBytes)
		}
		return []byte(s), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read secret: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, fmt.Errorf("generate secret: %w", err)
	}
	secret := hex.EncodeToString(raw[:])
	// Write a temporary file and link it into place, so that a concurrent
	// reader never sees a partly written secret and two first starts agree.
	f, err := os.CreateTemp(dir, ".secret-*")
	if err != nil {
		return nil, fmt.Errorf("create secret: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, fmt.Errorf("create secret: %w", err)
	}
	if _, err := f.WriteString(secret + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("write secret: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("write secret: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write secret: %w", err)
	}
	if err := os.Link(tmp, path); errors.Is(err, os.ErrExist) {
		return LoadOrCreateSecret(dir) // another process made it first
	} else if err != nil {
		return nil, fmt.Errorf("create secret: %w", err)
	}
	return []byte(secret), nil
}
