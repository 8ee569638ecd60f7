package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"flare/hub/auth"
	"flare/incidents"
	"flare/incidents/sqlite"
)

// userAdd runs `flare user add` with password on stdin.
func userAdd(tb testing.TB, dataDir, password string, args ...string) (string, error) {
	tb.Helper()
	var out, errOut bytes.Buffer
	err := runUserAdd(context.Background(), append([]string{"--data-dir", dataDir}, args...), env{}.get,
		strings.NewReader(password+"\n"), &out, &errOut)
	return out.String(), err
}

// storedUser reads a user from the data dir's store.
func storedUser(tb testing.TB, dataDir, name string) (incidents.User, error) {
	tb.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(dataDir, "flare.db"), sqlite.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	return st.GetUser(context.Background(), name)
}

func TestUserAdd(t *testing.T) {
	dir := t.TempDir()
	out, err := userAdd(t, dir, "harbour-lights-7", "--name", "water-duty", "--role", "dept", "--dept", "water", "--display", "水务值班")
	if err != nil || !strings.Contains(out, "added user water-duty (dept, water)") {
		t.Fatalf("flare user add = %q, %v, want the user added", out, err)
	}
	u, err := storedUser(t, dir, "water-duty")
	if err != nil || u.Role != "dept" || u.Dept != "water" || u.DisplayName != "水务值班" || u.SessionVersion != 1 {
		t.Fatalf("stored user = %+v, %v, want dept water 水务值班 at session version 1", u, err)
	}
	if ok, err := auth.CheckPassword(u.PasswordHash, "harbour-lights-7"); !ok || err != nil || !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
		t.Errorf("stored hash %q checks the password = %v, %v, want an argon2id hash of it", u.PasswordHash, ok, err)
	}

	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("from-a-file-123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := userAdd(t, dir, "", "--name", "leader", "--role", "leader", "--password-file", pwFile); err != nil {
		t.Fatalf("flare user add --password-file = %q, %v, want the user added", out, err)
	}
	if u, _ := storedUser(t, dir, "leader"); u.PasswordHash == "" {
		t.Errorf("user added with --password-file has no hash")
	} else if ok, _ := auth.CheckPassword(u.PasswordHash, "from-a-file-123"); !ok {
		t.Errorf("user added with --password-file does not take the file's password")
	}

	tests := []struct {
		name     string
		password string
		args     []string
		want     string
	}{
		{"duplicate name fails", "another-password", []string{"--name", "leader", "--role", "agent"}, "already exists"},
		{"bad role fails", "another-password", []string{"--name", "x", "--role", "mayor"}, "--role"},
		{"dept role without dept fails", "another-password", []string{"--name", "x", "--role", "dept"}, "--dept"},
		{"unknown department fails with the list", "another-password", []string{"--name", "x", "--role", "dept", "--dept", "mars"}, "fire_rescue"},
		{"bad name fails", "another-password", []string{"--name", "Bad Name", "--role", "agent"}, "--name"},
		{"short password fails", "short", []string{"--name", "x", "--role", "agent"}, "at least 10"},
		{"empty password fails", "", []string{"--name", "x", "--role", "agent"}, "no password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := userAdd(t, dir, tt.password, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("flare user add %v = %q, %v, want an error mentioning %q", tt.args, out, err, tt.want)
			}
		})
	}
	if _, err := storedUser(t, dir, "x"); incidents.ErrorCode(err) != incidents.CodeNotFound {
		t.Errorf("user x after refused adds = %v, want not found", err)
	}

	out, err = runCmd(t, env{}, "user", "list", "--data-dir", dir)
	if err != nil || !strings.Contains(out, "water-duty") || !strings.Contains(out, "leader") || !strings.Contains(out, "水务值班") {
		t.Errorf("flare user list = %q, %v, want both users", out, err)
	}
	if strings.Contains(out, "argon2") {
		t.Errorf("flare user list = %q, want no password hashes", out)
	}
}

func TestUserPasswdAndDisable(t *testing.T) {
	dir := t.TempDir()
	if _, err := userAdd(t, dir, "first-password", "--name", "agent", "--role", "agent"); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := runUserPasswd(context.Background(), []string{"--data-dir", dir, "--name", "agent"}, env{}.get,
		strings.NewReader("second-password\n"), &out, &out)
	u, _ := storedUser(t, dir, "agent")
	if ok, _ := auth.CheckPassword(u.PasswordHash, "second-password"); err != nil || !ok || u.SessionVersion != 2 {
		t.Errorf("flare user passwd = %v; stored %+v, want the new password at session version 2", err, u)
	}
	if _, err := runCmd(t, env{}, "user", "disable", "--data-dir", dir, "--name", "agent"); err != nil {
		t.Fatalf("flare user disable = %v", err)
	}
	if u, _ := storedUser(t, dir, "agent"); !u.Disabled || u.SessionVersion != 3 {
		t.Errorf("after flare user disable: %+v, want disabled at session version 3", u)
	}
	if _, err := runCmd(t, env{}, "user", "enable", "--data-dir", dir, "--name", "ghost"); err == nil {
		t.Errorf("flare user enable --name ghost = nil error, want not found")
	}
	if _, err := runCmd(t, env{}, "user", "rename"); err == nil {
		t.Errorf("flare user rename = nil error, want unknown command")
	}
}
