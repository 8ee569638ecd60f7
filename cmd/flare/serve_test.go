package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// env is a fake environment for run.
type env map[string]string

func (e env) get(k string) string { return e[k] }

// syncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServe runs `flare serve` in-process on a free port and waits until
// /readyz answers 200. It returns the base URL and a stop function that
// cancels the run and returns its error.
func startServe(tb testing.TB, e env, args ...string) (string, func() error) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	stderr := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		err := run(ctx, append([]string{"flare", "serve", "--addr", "127.0.0.1:0", "--log-format", "json"}, args...), e.get, pw, stderr)
		pw.CloseWithError(fmt.Errorf("run returned: %v", err))
		done <- err
	}()
	base, err := readListenLine(pr)
	if err != nil {
		cancel()
		tb.Fatalf("flare serve did not start: %v\nstderr:\n%s", err, stderr.String())
	}
	go io.Copy(io.Discard, pr)
	waitReady(tb, base)
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(15 * time.Second):
				runErr = fmt.Errorf("flare serve did not stop within 15s")
			}
		})
		return runErr
	}
	tb.Cleanup(func() { _ = stop() })
	return base, stop
}

// readListenLine reads stdout until the "flare listening on URL" line.
func readListenLine(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if url, ok := strings.CutPrefix(sc.Text(), "flare listening on "); ok {
			return url, nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", io.EOF
}

func waitReady(tb testing.TB, base string) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get(base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s/readyz not ready after 20s (last: %v)", base, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runCmd runs a flare subcommand in-process and returns its stdout.
func runCmd(tb testing.TB, e env, args ...string) (string, error) {
	tb.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"flare"}, args...), e.get, &out, &errOut)
	if err != nil {
		return out.String() + errOut.String(), err
	}
	return out.String(), nil
}

func post(tb testing.TB, url, token, body string, header ...string) (int, []byte) {
	tb.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("POST %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func get(tb testing.TB, url, token string) (int, []byte) {
	tb.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func TestServeRegistersCallsWithTokensFromTheTokenCommand(t *testing.T) {
	dir := t.TempDir()
	base, stop := startServe(t, env{}, "--data-dir", dir)
	agent, err := runCmd(t, env{}, "token", "--role", "agent", "--data-dir", dir)
	if err != nil {
		t.Fatalf("flare token: %v: %s", err, agent)
	}
	status, body := post(t, base+"/api/v1/calls", strings.TrimSpace(agent),
		`{"lat":22.2710,"lon":113.5767,"category":"fallen_tree","address":"香洲区人民西路"}`)
	if status != http.StatusCreated {
		t.Fatalf("POST /api/v1/calls = %d %s, want 201", status, body)
	}
	var call struct {
		ID  string `json:"id"`
		Seq int64  `json:"seq"`
	}
	if err := json.Unmarshal(body, &call); err != nil || call.ID == "" || call.Seq != 1 {
		t.Fatalf("POST body = %s, want a call with id and seq 1", body)
	}
	if status, _ := get(t, base+"/api/v1/calls/"+call.ID, ""); status != http.StatusUnauthorized {
		t.Errorf("GET without token = %d, want 401", status)
	}
	if err := stop(); err != nil {
		t.Errorf("stop: run returned %v, want nil after SIGTERM-like cancel", err)
	}
	// The secret file was created with mode 0600 and survives the restart:
	// the same token still works.
	base, _ = startServe(t, env{}, "--data-dir", dir)
	status, body = get(t, base+"/api/v1/calls/"+call.ID, strings.TrimSpace(agent))
	if status != http.StatusOK || !strings.Contains(string(body), call.ID) {
		t.Errorf("GET after restart = %d %s, want 200 with the call", status, body)
	}
}

func TestServeReadsFlagsFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	e := env{"FLARE_DATA_DIR": dir, "FLARE_SECRET": strings.Repeat("s", 40)}
	base, _ := startServe(t, e)
	tok, err := runCmd(t, e, "token", "--role", "leader")
	if err != nil {
		t.Fatal(err)
	}
	if status, body := get(t, base+"/api/v1/calls", strings.TrimSpace(tok)); status != http.StatusOK {
		t.Errorf("GET /api/v1/calls with a token signed by FLARE_SECRET = %d %s, want 200", status, body)
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, "secret")); len(matches) != 0 {
		t.Errorf("a secret file was written although FLARE_SECRET is set")
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, "flare.db")); len(matches) != 1 {
		t.Errorf("FLARE_DATA_DIR=%s was not used for the store", dir)
	}
}

func TestServeFailsAtOnceOnATakenPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	start := time.Now()
	_, err = runCmd(t, env{}, "serve", "--addr", ln.Addr().String(), "--data-dir", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "listen") {
		t.Errorf("serve on a taken port = %v, want a listen error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("serve on a taken port took %v to fail", d)
	}
}

func TestTokenCommandRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no role", []string{"token"}, "--role"},
		{"unknown role", []string{"token", "--role", "mayor"}, "role"},
		{"dept without code", []string{"token", "--role", "dept"}, "department code"},
		{"bad dept code", []string{"token", "--role", "dept", "--dept", "Water Bureau"}, "department code"},
		{"negative ttl", []string{"token", "--role", "agent", "--ttl", "-1h"}, "ttl"},
		{"short FLARE_SECRET", []string{"token", "--role", "agent"}, "FLARE_SECRET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := env{}
			if tt.name == "short FLARE_SECRET" {
				e["FLARE_SECRET"] = "short"
			}
			out, err := runCmd(t, e, append(tt.args, "--data-dir", dir)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("flare %v = %q, %v; want an error mentioning %q", tt.args, out, err, tt.want)
			}
		})
	}
}

func TestMigrateUpAndStatus(t *testing.T) {
	dir := t.TempDir()
	out, err := runCmd(t, env{}, "migrate", "status", "--data-dir", dir)
	if err != nil || !strings.Contains(out, "pending") || strings.Contains(out, " 0 pending") {
		t.Fatalf("migrate status on a new store = %q, %v; want pending migrations", out, err)
	}
	out, err = runCmd(t, env{}, "migrate", "up", "--data-dir", dir)
	if err != nil || !strings.Contains(out, ", 0 pending") || !strings.Contains(out, "applied") {
		t.Fatalf("migrate up = %q, %v; want every migration applied", out, err)
	}
	if _, err := runCmd(t, env{}, "migrate", "sideways"); err == nil {
		t.Error("migrate sideways succeeded, want an error")
	}
}

func TestUnknownCommandFails(t *testing.T) {
	if _, err := runCmd(t, env{}, "frobnicate"); err == nil || !strings.Contains(err.Error(), "frobnicate") {
		t.Errorf("flare frobnicate = %v, want unknown command error", err)
	}
	out, err := runCmd(t, env{}, "version")
	if err != nil || !strings.HasPrefix(out, "flare 0.") {
		t.Errorf("flare version = %q, %v", out, err)
	}
}
