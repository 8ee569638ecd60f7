package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"flare/hub/auth"
	"flare/incidents"
	"flare/incidents/sqlite"
)

func TestCreateDemoUsers(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "flare.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.MigrateUp(ctx); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := createDemoUsers(ctx, st, "http://127.0.0.1:8080", &out); err != nil {
		t.Fatalf("createDemoUsers() = %v", err)
	}
	if !strings.Contains(out.String(), "sign in at http://127.0.0.1:8080/") {
		t.Errorf("createDemoUsers() printed %q, want where to sign in", out.String())
	}
	roles := map[incidents.Role]bool{}
	for _, u := range demoUsers {
		m := regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(u.Name) + `\s+\S+(?:, \S+)?\s+([A-Za-z0-9]{12})\s`).FindStringSubmatch(out.String())
		if m == nil {
			t.Errorf("createDemoUsers() output has no password line for %s:\n%s", u.Name, out.String())
			continue
		}
		stored, err := st.GetUser(ctx, u.Name)
		if err != nil {
			t.Fatalf("GetUser(%s) = %v", u.Name, err)
		}
		if ok, err := auth.CheckPassword(stored.PasswordHash, m[1]); !ok || err != nil {
			t.Errorf("the printed password of %s does not sign in (%v, %v)", u.Name, ok, err)
		}
		roles[stored.Role] = true
	}
	for _, r := range []incidents.Role{incidents.RoleLeader, incidents.RoleAgent, incidents.RoleDept} {
		if !roles[r] {
			t.Errorf("demo users have no %s", r)
		}
	}

	before, _ := st.GetUser(ctx, "leader")
	out.Reset()
	if err := createDemoUsers(ctx, st, "http://127.0.0.1:8080", &out); err != nil {
		t.Fatalf("createDemoUsers() again = %v", err)
	}
	after, _ := st.GetUser(ctx, "leader")
	if after.PasswordHash != before.PasswordHash || after.SessionVersion != before.SessionVersion {
		t.Errorf("createDemoUsers() again changed the leader's password or sessions")
	}
	if !strings.Contains(out.String(), "unchanged") || regexp.MustCompile(`\s[A-Za-z0-9]{12}\s`).MatchString(out.String()) {
		t.Errorf("createDemoUsers() again printed %q, want existing users unchanged and no password", out.String())
	}
}

func TestServeTileURL(t *testing.T) {
	tests := []struct {
		name string
		url  string
		want string
	}{
		{"template without {z} is refused", "https://tiles.example.gov.cn/{x}/{y}.png", "--tile-url"},
		{"non-http URL is refused", "ftp://tiles.example.gov.cn/{z}/{x}/{y}.png", "--tile-url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), []string{"flare", "serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--tile-url", tt.url},
				env{}.get, &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("flare serve --tile-url %q = %v, want an error naming %s", tt.url, err, tt.want)
			}
		})
	}
}
