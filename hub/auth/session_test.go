package auth

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"flare/incidents"
)

func newTestSigner(tb testing.TB, now *time.Time) *Signer {
	tb.Helper()
	s, err := NewSigner(bytes.Repeat([]byte("s"), 32), func() time.Time { return *now })
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestSessionTokens(t *testing.T) {
	now := time.Date(2026, 9, 14, 13, 0, 0, 0, time.UTC)
	s := newTestSigner(t, &now)
	tok, sess, err := s.IssueSession("water-duty", 3, time.Hour)
	if err != nil {
		t.Fatalf("IssueSession() = %v", err)
	}
	got, err := s.VerifySession(tok)
	if err != nil || got != sess || got.User != "water-duty" || got.Version != 3 || !got.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Errorf("VerifySession(IssueSession(water-duty, 3, 1h)) = %+v, %v, want %+v", got, err, sess)
	}
	bearer, err := s.Issue(Principal{Subject: "water-duty", Role: incidents.RoleDept, Dept: "water"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other := newTestSigner(t, &now)
	other.key = bytes.Repeat([]byte("o"), 32)
	forged, _, _ := other.IssueSession("water-duty", 3, time.Hour)

	tests := []struct {
		name  string
		token string
	}{
		{"bearer token is not a session", bearer},
		{"session signed with another secret is refused", forged},
		{"tampered session is refused", tok[:len(tok)-2] + "xx"},
		{"empty session is refused", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.VerifySession(tt.token); err == nil || !strings.Contains(err.Error(), "unauthorized") {
				t.Errorf("VerifySession(%q) = %v, want unauthorized", tt.token, err)
			}
		})
	}
	t.Run("session is not a bearer token", func(t *testing.T) {
		if _, err := s.Verify(tok); err == nil {
			t.Errorf("Verify(session token) = nil error, want it refused")
		}
	})
	t.Run("expired session is refused", func(t *testing.T) {
		later := now.Add(2 * time.Hour)
		if _, err := newTestSigner(t, &later).VerifySession(tok); err == nil || !strings.Contains(err.Error(), "expired") {
			t.Errorf("VerifySession(token) two hours later = %v, want expired", err)
		}
	})
	t.Run("bad input is refused", func(t *testing.T) {
		if _, _, err := s.IssueSession("", 1, time.Hour); err == nil {
			t.Errorf("IssueSession(\"\", 1, 1h) = nil error, want invalid")
		}
		if _, _, err := s.IssueSession("a", 0, time.Hour); err == nil {
			t.Errorf("IssueSession(a, 0, 1h) = nil error, want invalid")
		}
	})
}

func TestCSRFToken(t *testing.T) {
	now := time.Date(2026, 9, 14, 13, 0, 0, 0, time.UTC)
	s := newTestSigner(t, &now)
	_, a, _ := s.IssueSession("a", 1, time.Hour)
	_, b, _ := s.IssueSession("a", 1, time.Hour)
	tok := s.CSRFToken(a)
	tests := []struct {
		name  string
		sess  Session
		token string
		want  bool
	}{
		{"its own session's token passes", a, tok, true},
		{"another session's token fails", b, tok, false},
		{"empty token fails", a, "", false},
		{"altered token fails", a, tok[:len(tok)-1] + "A", tok[len(tok)-1] == 'A'},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.CheckCSRF(tt.sess, tt.token); got != tt.want {
				t.Errorf("CheckCSRF(%s, %q) = %v, want %v", tt.sess.ID, tt.token, got, tt.want)
			}
		})
	}
}
