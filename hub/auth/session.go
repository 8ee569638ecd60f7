package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"flare/incidents"
)

// sessionIssuer marks session tokens: a bearer token (issuer "flare") is
// not a session and a session is not a bearer token.
const sessionIssuer = "flare-session"

// Session is a dashboard sign-in, carried in the session cookie: whose it
// is, the user's session version when it was made (raising the version ends
// it), a random id that the CSRF token is bound to, and its expiry.
type Session struct {
	User      string
	Version   int64
	ID        string
	ExpiresAt time.Time
}

type sessionClaims struct {
	Version int64 `json:"ver"`
	jwt.RegisteredClaims
}

// IssueSession returns a signed session token for user at session version
// version, valid for ttl, and the session it carries.
func (s *Signer) IssueSession(user string, version int64, ttl time.Duration) (string, Session, error) {
	if user == "" || version < 1 || ttl <= 0 {
		return "", Session{}, incidents.Errorf(incidents.CodeInvalid, "a session needs a user, a session version and a positive ttl")
	}
	now := s.now()
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", Session{}, err
	}
	sess := Session{User: user, Version: version, ID: hex.EncodeToString(id[:]), ExpiresAt: now.Add(ttl).Truncate(time.Second).UTC()}
	c := sessionClaims{Version: version, RegisteredClaims: jwt.RegisteredClaims{
		Issuer:    sessionIssuer,
		Subject:   user,
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
		ExpiresAt: jwt.NewNumericDate(sess.ExpiresAt),
		ID:        sess.ID,
	}}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(s.key)
	return tok, sess, err
}

// VerifySession checks a session token's signature, issuer and expiry and
// returns its session. It does not know whether the user still exists or
// has signed out since: the caller compares Version with the user's. It
// returns an *incidents.Error with CodeUnauthorized.
func (s *Signer) VerifySession(token string) (Session, error) {
	var c sessionClaims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return s.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(sessionIssuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(s.now),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return Session{}, incidents.Errorf(incidents.CodeUnauthorized, "session expired: sign in again")
	case err != nil || c.Subject == "" || c.ID == "" || c.Version < 1:
		return Session{}, incidents.Errorf(incidents.CodeUnauthorized, "invalid session: sign in again")
	}
	return Session{User: c.Subject, Version: c.Version, ID: c.ID, ExpiresAt: c.ExpiresAt.Time.UTC()}, nil
}

// CSRFToken returns the anti-forgery token of a session: a MAC of its id,
// which the dashboard sends back in a header with every state-changing
// request. A page on another site can neither read it nor compute it.
func (s *Signer) CSRFToken(sess Session) string {
	mac := hmac.New(sha256.New, s.key)
	mac.Write([]byte("flare csrf\x00"))
	mac.Write([]byte(sess.ID))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// CheckCSRF reports whether token is the session's CSRF token, comparing
// in constant time.
func (s *Signer) CheckCSRF(sess Session, token string) bool {
	return token != "" && hmac.Equal([]byte(token), []byte(s.CSRFToken(sess)))
}
