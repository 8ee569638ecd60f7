package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"flare/incidents"
)

// Password hashes are argon2id (RFC 9106) in the PHC string format that
// other tools read too: $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>, with
// unpadded standard base64. The parameters travel with each hash, so they
// can be raised later without invalidating stored passwords.

// The parameters of new hashes: OWASP's first recommended argon2id
// configuration (19 MiB of memory, two passes, one lane).
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// MinPasswordLen and MaxPasswordLen bound a password's length in
// characters (runes) and bytes.
const (
	MinPasswordLen = 10
	MaxPasswordLen = 256
)

// CheckPasswordPolicy refuses passwords that are too short, too long, or
// not valid UTF-8, with an *incidents.Error of code invalid on field
// "password".
func CheckPasswordPolicy(password string) error {
	switch {
	case !utf8.ValidString(password):
		return incidents.FieldError(incidents.CodeInvalid, "password", "the password is not valid UTF-8 text")
	case utf8.RuneCountInString(password) < MinPasswordLen:
		return incidents.FieldError(incidents.CodeInvalid, "password", "the password must have at least %d characters", MinPasswordLen)
	case len(password) > MaxPasswordLen:
		return incidents.FieldError(incidents.CodeInvalid, "password", "the password must be at most %d bytes", MaxPasswordLen)
	}
	return nil
}

// HashPassword checks password against CheckPasswordPolicy and returns its
// argon2id hash, with a fresh random salt, in PHC string format.
func HashPassword(password string) (string, error) {
	if err := CheckPasswordPolicy(password); err != nil {
		return "", err
	}
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// argonHash is a decoded PHC argon2id string.
type argonHash struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

// parseArgonHash decodes a PHC argon2id string, refusing parameters beyond
// what a stored hash could sensibly hold (so that a corrupt record cannot
// make a sign-in allocate gigabytes).
func parseArgonHash(encoded string) (argonHash, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return argonHash{}, fmt.Errorf("not an argon2id hash")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return argonHash{}, fmt.Errorf("unsupported argon2 version %q", parts[2])
	}
	var h argonHash
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &h.memory, &h.time, &h.threads); err != nil {
		return argonHash{}, fmt.Errorf("malformed argon2 parameters %q", parts[3])
	}
	if h.memory < 8 || h.memory > 1<<20 || h.time < 1 || h.time > 16 || h.threads < 1 || h.threads > 16 {
		return argonHash{}, fmt.Errorf("argon2 parameters %q out of range", parts[3])
	}
	var err error
	if h.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(h.salt) < 8 {
		return argonHash{}, fmt.Errorf("malformed argon2 salt")
	}
	if h.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(h.key) < 16 || len(h.key) > 64 {
		return argonHash{}, fmt.Errorf("malformed argon2 hash")
	}
	return h, nil
}

// CheckPassword reports whether password matches encoded, a hash made by
// HashPassword (or another argon2id PHC string), comparing in constant
// time. It returns an error when encoded cannot be decoded.
func CheckPassword(encoded, password string) (bool, error) {
	h, err := parseArgonHash(encoded)
	if err != nil {
		return false, fmt.Errorf("check password: %w", err)
	}
	if len(password) > MaxPasswordLen {
		return false, nil
	}
	key := argon2.IDKey([]byte(password), h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(key, h.key) == 1, nil
}

// dummyHash is checked against when a sign-in names no user, so that the
// answer takes as long as for a wrong password and does not tell which
// names exist.
var dummyHash = fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
	"c2lnbi1pbi10aW1pbmc", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")

// CheckNoPassword spends the time of one CheckPassword and returns false:
// the answer for a name that has no user.
func CheckNoPassword(password string) bool {
	_, _ = CheckPassword(dummyHash, password)
	return false
}

// NewPassword returns a random password of n characters (at least
// MinPasswordLen) from an alphabet without look-alike characters, for demo
// users and resets.
func NewPassword(n int) (string, error) {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	n = max(n, MinPasswordLen)
	b := make([]byte, n)
	for i := range b {
		var r [1]byte
		for {
			if _, err := rand.Read(r[:]); err != nil {
				return "", fmt.Errorf("new password: %w", err)
			}
			if int(r[0]) < 256-256%len(alphabet) { // no modulo bias
				break
			}
		}
		b[i] = alphabet[int(r[0])%len(alphabet)]
	}
	return string(b), nil
}
