package incidents

import (
	"context"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// User is a person who signs in to the dashboard: a call-floor agent, a
// leader or duty officer, a member department's staff, or an administrator.
// Bearer tokens (flare token) need no user; the dashboard's session cookie
// does.
type User struct {
	// Name is the sign-in name: 1 to 64 of a-z 0-9 . _ -, starting with a
	// letter or digit.
	Name string `json:"name"`
	// DisplayName is how the dashboard shows the user (at most 100
	// characters); the name when empty.
	DisplayName string `json:"display_name"`
	// Role is one of Roles (the roles of bearer tokens).
	Role Role `json:"role"`
	// Dept is the department code: required for role dept, optional
	// otherwise.
	Dept string `json:"dept,omitempty"`
	// PasswordHash is the encoded password hash (algorithm, parameters,
	// salt and hash). It is never sent to a client.
	PasswordHash string `json:"-"`
	// SessionVersion is part of every session the user signs in to; raising
	// it (a sign-out, a new password, disabling) ends them all.
	SessionVersion int64     `json:"session_version"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	// Disabled users cannot sign in and their sessions are refused.
	Disabled bool `json:"disabled"`
}

// UserStore keeps the dashboard's users. Both store adapters implement it
// and pass the conformance suite of incidents/storetest (RunUsers).
type UserStore interface {
	// CreateUser stores a new user with session version 1 and returns it as
	// stored (times in UTC at microsecond precision; CreatedAt, when zero,
	// is the store's clock). It returns an *Error with CodeInvalid (naming
	// the field) when CheckUser refuses u, and CodeConflict (field "name")
	// when the name is taken.
	CreateUser(ctx context.Context, u User) (User, error)

	// GetUser returns the user with the given name, or an *Error with
	// CodeNotFound.
	GetUser(ctx context.Context, name string) (User, error)

	// ListUsers returns every user, ordered by name.
	ListUsers(ctx context.Context) ([]User, error)

	// SetPassword replaces a user's password hash and raises the session
	// version, so that the sessions signed in with the old password end.
	// It returns the updated user, an *Error with CodeNotFound, or
	// CodeInvalid (field "password_hash") for an empty hash.
	SetPassword(ctx context.Context, name, hash string) (User, error)

	// BumpSession raises a user's session version, ending every session of
	// the user (a sign-out), and returns the new version or an *Error with
	// CodeNotFound.
	BumpSession(ctx context.Context, name string) (int64, error)

	// SetDisabled disables or enables a user; either raises the session
	// version. It returns the updated user or an *Error with CodeNotFound.
	SetDisabled(ctx context.Context, name string, disabled bool) (User, error)
}

var (
	userNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	deptCodePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,39}$`)
)

// CheckUser validates a user before it is stored: the name's form, the
// role, the department code (required for role dept), the display name's
// length and a password hash. It returns an *Error with CodeInvalid naming
// the field at fault.
func CheckUser(u User) error {
	if !userNamePattern.MatchString(u.Name) {
		return FieldError(CodeInvalid, "name", "name %q must be 1 to 64 of a-z 0-9 . _ -, starting with a letter or digit", u.Name)
	}
	if !u.Role.Valid() {
		return FieldError(CodeInvalid, "role", "role must be leader, agent, hotline, admin, dept or system, not %q", u.Role)
	}
	if u.Role == RoleDept && u.Dept == "" {
		return FieldError(CodeInvalid, "dept", "a dept user needs a department code")
	}
	if u.Dept != "" && !deptCodePattern.MatchString(u.Dept) {
		return FieldError(CodeInvalid, "dept", "department code %q must be lower-case letters, digits, _ or -", u.Dept)
	}
	if utf8.RuneCountInString(u.DisplayName) > 100 || strings.ContainsAny(u.DisplayName, "\x00\r\n") {
		return FieldError(CodeInvalid, "display_name", "display name must be at most 100 characters on one line")
	}
	if u.PasswordHash == "" {
		return FieldError(CodeInvalid, "password_hash", "a user needs a password hash")
	}
	return nil
}
