package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"flare/incidents"
)

// RunUsers runs the conformance suite of incidents.UserStore. open must
// return an empty, migrated store of its own for each call, and close it
// when t ends.
func RunUsers(t *testing.T, open func(t *testing.T) incidents.UserStore) {
	t.Run("CreateAndGet", func(t *testing.T) { testCreateAndGetUser(t, open) })
	t.Run("CreateRefused", func(t *testing.T) { testCreateUserRefused(t, open) })
	t.Run("List", func(t *testing.T) { testListUsers(t, open) })
	t.Run("Updates", func(t *testing.T) { testUserUpdates(t, open) })
	t.Run("UpdatesOfMissingUser", func(t *testing.T) { testMissingUserUpdates(t, open) })
	t.Run("ConcurrentBumps", func(t *testing.T) { testConcurrentBumps(t, open) })
}

// newUser returns a valid user named name.
func newUser(name string) incidents.User {
	return incidents.User{
		Name: name, DisplayName: "值班员 " + name, Role: incidents.RoleDept, Dept: "water",
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", CreatedAt: base,
	}
}

// mustCreateUser stores u and fails tb on error.
func mustCreateUser(tb testing.TB, s incidents.UserStore, u incidents.User) incidents.User {
	tb.Helper()
	got, err := s.CreateUser(ctxFor(tb), u)
	if err != nil {
		tb.Fatalf("CreateUser(%q) = %v, want no error", u.Name, err)
	}
	return got
}

// diffUser describes how got differs from want, or returns "".
func diffUser(got, want incidents.User) string {
	var d string
	add := func(field string, g, w any) { d += fmt.Sprintf("\n\t%s: got %v, want %v", field, g, w) }
	if got.Name != want.Name {
		add("Name", got.Name, want.Name)
	}
	if got.DisplayName != want.DisplayName {
		add("DisplayName", got.DisplayName, want.DisplayName)
	}
	if got.Role != want.Role {
		add("Role", got.Role, want.Role)
	}
	if got.Dept != want.Dept {
		add("Dept", got.Dept, want.Dept)
	}
	if got.PasswordHash != want.PasswordHash {
		add("PasswordHash", got.PasswordHash, want.PasswordHash)
	}
	if got.SessionVersion != want.SessionVersion {
		add("SessionVersion", got.SessionVersion, want.SessionVersion)
	}
	if !got.CreatedAt.Equal(want.CreatedAt) || got.CreatedAt.Location() != time.UTC {
		add("CreatedAt", got.CreatedAt, want.CreatedAt.UTC())
	}
	if got.Disabled != want.Disabled {
		add("Disabled", got.Disabled, want.Disabled)
	}
	return d
}

func testCreateAndGetUser(t *testing.T, open func(t *testing.T) incidents.UserStore) {
	s := open(t)
	want := newUser("water-duty")
	want.SessionVersion = 1
	created := mustCreateUser(t, s, want)
	if d := diffUser(created, want); d != "" {
		t.Errorf("CreateUser(%q) returned a user that differs:%s", want.Name, d)
	}
	got, err := s.GetUser(ctxFor(t), want.Name)
	if err != nil {
		t.Fatalf("GetUser(%q) = %v, want the user", want.Name, err)
	}
	if d := diffUser(got, want); d != "" {
		t.Errorf("GetUser(%q) differs from what was stored:%s", want.Name, d)
	}
	if !got.UpdatedAt.Equal(got.CreatedAt) {
		t.Errorf("GetUser(%q).UpdatedAt = %v, want CreatedAt %v for a new user", want.Name, got.UpdatedAt, got.CreatedAt)
	}

	t.Run("without a creation time the store's clock is used", func(t *testing.T) {
		u := newUser("no-time")
		u.CreatedAt = time.Time{}
		before := time.Now().Add(-time.Minute)
		got := mustCreateUser(t, s, u)
		if got.CreatedAt.Before(before) || got.CreatedAt.After(time.Now().Add(time.Minute)) || got.CreatedAt.Location() != time.UTC {
			t.Errorf("CreateUser(no CreatedAt).CreatedAt = %v, want about now, in UTC", got.CreatedAt)
		}
	})

	t.Run("missing user is not found", func(t *testing.T) {
		_, err := s.GetUser(ctxFor(t), "nobody")
		if incidents.ErrorCode(err) != incidents.CodeNotFound {
			t.Errorf("GetUser(nobody) = %v, want not_found", err)
		}
	})
}

func testCreateUserRefused(t *testing.T, open func(t *testing.T) incidents.UserStore) {
	s := open(t)
	first := mustCreateUser(t, s, newUser("taken"))
	tests := []struct {
		name  string
		edit  func(u *incidents.User)
		code  string
		field string
	}{
		{"duplicate name is a conflict", func(u *incidents.User) { u.Name = "taken"; u.Role = incidents.RoleLeader; u.Dept = "" }, incidents.CodeConflict, "name"},
		{"empty name is invalid", func(u *incidents.User) { u.Name = "" }, incidents.CodeInvalid, "name"},
		{"upper-case name is invalid", func(u *incidents.User) { u.Name = "Taken" }, incidents.CodeInvalid, "name"},
		{"name with a space is invalid", func(u *incidents.User) { u.Name = "a b" }, incidents.CodeInvalid, "name"},
		{"unknown role is invalid", func(u *incidents.User) { u.Role = "mayor" }, incidents.CodeInvalid, "role"},
		{"dept user without department is invalid", func(u *incidents.User) { u.Dept = "" }, incidents.CodeInvalid, "dept"},
		{"malformed department is invalid", func(u *incidents.User) { u.Dept = "Water Bureau" }, incidents.CodeInvalid, "dept"},
		{"empty password hash is invalid", func(u *incidents.User) { u.PasswordHash = "" }, incidents.CodeInvalid, "password_hash"},
		{"two-line display name is invalid", func(u *incidents.User) { u.DisplayName = "a\nb" }, incidents.CodeInvalid, "display_name"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUser(fmt.Sprintf("user-%d", i))
			tt.edit(&u)
			_, err := s.CreateUser(ctxFor(t), u)
			if !errorIs(err, tt.code, tt.field) {
				t.Errorf("CreateUser(%+v) = %v, want %s on field %s", u, err, tt.code, tt.field)
			}
		})
	}
	users, err := s.ListUsers(ctxFor(t))
	if err != nil || len(users) != 1 {
		t.Fatalf("ListUsers() after refused creates = %d users, %v, want only the first", len(users), err)
	}
	if d := diffUser(users[0], first); d != "" {
		t.Errorf("the first user changed after a refused duplicate:%s", d)
	}
}

func testListUsers(t *testing.T, open func(t *testing.T) incidents.UserStore) {
	s := open(t)
	users, err := s.ListUsers(ctxFor(t))
	if err != nil || users == nil || len(users) != 0 {
		t.Fatalf("ListUsers() on an empty store = %#v, %v, want an empty, non-nil list", users, err)
	}
	for _, n := range []string{"leader", "agent-7", "water", "admin"} {
		u := newUser(n)
		u.Role, u.Dept = incidents.RoleLeader, ""
		mustCreateUser(t, s, u)
	}
	users, err = s.ListUsers(ctxFor(t))
	if err != nil {
		t.Fatalf("ListUsers() = %v", err)
	}
	var names []string
	for _, u := range users {
		names = append(names, u.Name)
	}
	if want := "[admin agent-7 leader water]"; fmt.Sprint(names) != want {
		t.Errorf("ListUsers() names = %v, want %s (by name)", names, want)
	}
}

func testUserUpdates(t *testing.T, open func(t *testing.T) incidents.UserStore) {
	s := open(t)
	ctx := ctxFor(t)
	mustCreateUser(t, s, newUser("duty"))

	u, err := s.SetPassword(ctx, "duty", "new-hash")
	if err != nil || u.PasswordHash != "new-hash" || u.SessionVersion != 2 {
		t.Fatalf("SetPassword(duty) = %+v, %v, want the new hash and session version 2", u, err)
	}
	if u.UpdatedAt.Before(u.CreatedAt) || u.UpdatedAt.Location() != time.UTC {
		t.Errorf("SetPassword(duty).UpdatedAt = %v, want at or after CreatedAt %v, in UTC", u.UpdatedAt, u.CreatedAt)
	}
	if _, err := s.SetPassword(ctx, "duty", ""); !errorIs(err, incidents.CodeInvalid, "password_hash") {
		t.Errorf("SetPassword(duty, \"\") = %v, want invalid password_hash", err)
	}
	v, err := s.BumpSession(ctx, "duty")
	if err != nil || v != 3 {
		t.Fatalf("BumpSession(duty) = %d, %v, want 3", v, err)
	}
	u, err = s.SetDisabled(ctx, "duty", true)
	if err != nil || !u.Disabled || u.SessionVersion != 4 {
		t.Fatalf("SetDisabled(duty, true) = %+v, %v, want disabled at session version 4", u, err)
	}
	u, err = s.SetDisabled(ctx, "duty", false)
	if err != nil || u.Disabled || u.SessionVersion != 5 {
		t.Fatalf("SetDisabled(duty, false) = %+v, %v, want enabled at session version 5", u, err)
	}
	got, err := s.GetUser(ctx, "duty")
	if err != nil || got.PasswordHash != "new-hash" || got.SessionVersion != 5 || got.Disabled {
		t.Errorf("GetUser(duty) after updates = %+v, %v, want new-hash, version 5, enabled", got, err)
	}
}

func testMissingUserUpdates(t *testing.T, open func(t *testing.T) incidents.UserStore) {
	s := open(t)
	tests := []struct {
		name string
		do   func() error
	}{
		{"SetPassword is not found", func() error { _, err := s.SetPassword(ctxFor(t), "ghost", "h"); return err }},
		{"BumpSession is not found", func() error { _, err := s.BumpSession(ctxFor(t), "ghost"); return err }},
		{"SetDisabled is not found", func() error { _, err := s.SetDisabled(ctxFor(t), "ghost", true); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); incidents.ErrorCode(err) != incidents.CodeNotFound {
				t.Errorf("%s(ghost) = %v, want not_found", tt.name, err)
			}
		})
	}
	if users, err := s.ListUsers(ctxFor(t)); err != nil || len(users) != 0 {
		t.Errorf("ListUsers() after updates of a missing user = %v, %v, want none created", users, err)
	}
}

// testConcurrentBumps checks that concurrent session bumps are not lost: a
// sign-out racing a password change must end the sessions of both.
func testConcurrentBumps(t *testing.T, open func(t *testing.T) incidents.UserStore) {
	s := open(t)
	mustCreateUser(t, s, newUser("busy"))
	const n = 8
	ctx := ctxFor(t)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.BumpSession(ctx, "busy"); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("BumpSession(busy) concurrently = %v, want no error", err)
	}
	u, err := s.GetUser(ctxFor(t), "busy")
	if err != nil || u.SessionVersion != 1+n {
		t.Errorf("GetUser(busy).SessionVersion after %d concurrent bumps = %d, %v, want %d", n, u.SessionVersion, err, 1+n)
	}
}
