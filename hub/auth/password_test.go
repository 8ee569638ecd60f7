package auth

import (
	"strings"
	"testing"
)

func TestHashPasswordRoundTrip(t *testing.T) {
	const pw = "correct horse battery"
	h, err := HashPassword(pw)
	if err != nil {
		t.Fatalf("HashPassword(%q) = %v, want a hash", pw, err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("HashPassword(%q) = %q, want an argon2id PHC string with its parameters", pw, h)
	}
	if again, _ := HashPassword(pw); again == h {
		t.Errorf("HashPassword(%q) twice = the same hash, want a fresh salt each time", pw)
	}
	tests := []struct {
		name     string
		password string
		want     bool
	}{
		{"same password matches", pw, true},
		{"other password does not match", "correct horse battery!", false},
		{"empty password does not match", "", false},
		{"over-long password does not match", strings.Repeat("x", MaxPasswordLen+1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CheckPassword(h, tt.password)
			if err != nil || got != tt.want {
				t.Errorf("CheckPassword(hash, %q) = %v, %v, want %v", tt.password, got, err, tt.want)
			}
		})
	}
}

func TestCheckPasswordRefusesMalformedHashes(t *testing.T) {
	tests := []struct {
		name string
		hash string
	}{
		{"empty", ""},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"},
		{"old version", "$argon2id$v=16$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"},
		{"huge memory", "$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"},
		{"zero passes", "$argon2id$v=19$m=19456,t=0,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"},
		{"bad salt", "$argon2id$v=19$m=19456,t=2,p=1$!!!$aGFzaGhhc2hoYXNoaGFzaA"},
		{"short hash", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is an error", func(t *testing.T) {
			ok, err := CheckPassword(tt.hash, "whatever-password")
			if err == nil || ok {
				t.Errorf("CheckPassword(%q) = %v, %v, want false and an error", tt.hash, ok, err)
			}
		})
	}
	if CheckNoPassword("whatever-password") {
		t.Errorf("CheckNoPassword() = true, want false")
	}
	if _, err := parseArgonHash(dummyHash); err != nil {
		t.Errorf("parseArgonHash(dummyHash) = %v, want the timing hash to decode", err)
	}
}

func TestPasswordPolicy(t *testing.T) {
	tests := []struct {
		name     string
		password string
		ok       bool
	}{
		{"ten characters are enough", "abcdefghij", true},
		{"ten Chinese characters are enough", "珠海市民服务热线一二", true},
		{"nine characters are too few", "abcdefghi", false},
		{"over-long is refused", strings.Repeat("a", MaxPasswordLen+1), false},
		{"invalid UTF-8 is refused", "abcdefghij\xff", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := HashPassword(tt.password)
			if (err == nil) != tt.ok {
				t.Errorf("HashPassword(%q) = %v, want ok %v", tt.password, err, tt.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "password") {
				t.Errorf("HashPassword(%q) = %v, want an error naming the password field", tt.password, err)
			}
		})
	}
}

func TestNewPassword(t *testing.T) {
	seen := map[string]bool{}
	for range 20 {
		p, err := NewPassword(12)
		if err != nil || len(p) != 12 || CheckPasswordPolicy(p) != nil {
			t.Fatalf("NewPassword(12) = %q, %v, want 12 characters that pass the policy", p, err)
		}
		if strings.ContainsAny(p, "0O1lI") {
			t.Errorf("NewPassword(12) = %q, want no look-alike characters", p)
		}
		seen[p] = true
	}
	if len(seen) != 20 {
		t.Errorf("NewPassword(12) 20 times gave %d distinct passwords, want 20", len(seen))
	}
	if p, _ := NewPassword(4); len(p) != MinPasswordLen {
		t.Errorf("NewPassword(4) = %q, want %d characters (the minimum)", p, MinPasswordLen)
	}
}
