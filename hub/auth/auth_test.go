package auth

import (
	"bytes"
	"testing"
	"time"

	"flare/incidents"
)

func TestVerifyChecksExpiryEveryTime(t *testing.T) {
	now := time.Date(2026, 7, 1, 22, 0, 0, 0, time.UTC)
	s, err := NewSigner(bytes.Repeat([]byte("s"), 32), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Issue(Principal{Subject: "seat-3", Role: incidents.RoleAgent}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // the second time from the memory of verified tokens
		if p, err := s.Verify(tok); err != nil || p.Subject != "seat-3" || p.Role != incidents.RoleAgent {
			t.Fatalf("Verify #%d = %+v, %v; want the agent seat-3", i+1, p, err)
		}
	}
	now = now.Add(time.Hour)
	if _, err := s.Verify(tok); incidents.ErrorCode(err) != incidents.CodeUnauthorized {
		t.Errorf("Verify after expiry = %v, want unauthorized", err)
	}
	other, _ := NewSigner(bytes.Repeat([]byte("o"), 32), func() time.Time { return now })
	if _, err := other.Verify(tok); err == nil {
		t.Error("a signer with another secret accepted the token")
	}
	if _, err := s.Verify(tok + "x"); err == nil {
		t.Error("Verify accepted a token with a changed signature")
	}
}

func TestTokenForAnUnknownDepartmentIsRefused(t *testing.T) {
	now := time.Date(2026, 7, 1, 22, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	open, err := NewSigner(bytes.Repeat([]byte("s"), 32), clock) // signs any well-formed code
	if err != nil {
		t.Fatal(err)
	}
	nowhere, err := open.Issue(Principal{Subject: "x", Role: incidents.RoleDept, Dept: "nowhere"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := NewSigner(bytes.Repeat([]byte("s"), 32), clock)
	s.SetDepartments(func(code string) bool { return code == "water" })
	if _, err := s.Verify(nowhere); incidents.ErrorCode(err) != incidents.CodeUnauthorized {
		t.Errorf("Verify of a token for department nowhere = %v, want unauthorized", err)
	}
	if _, err := s.Issue(Principal{Subject: "x", Role: incidents.RoleDept, Dept: "nowhere"}, time.Hour); incidents.ErrorCode(err) != incidents.CodeInvalid {
		t.Errorf("Issue for department nowhere = %v, want invalid", err)
	}
	water, err := s.Issue(Principal{Subject: "w", Role: incidents.RoleDept, Dept: "water"}, time.Hour)
	if err != nil {
		t.Fatalf("Issue for department water = %v", err)
	}
	if p, err := s.Verify(water); err != nil || p.Dept != "water" {
		t.Errorf("Verify of a water token = %+v, %v; want department water", p, err)
	}
}
