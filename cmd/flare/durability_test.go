package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"flare/incidents/postgres/pgtest"
)

// buildFlare builds the flare binary once per test into a temp dir.
func buildFlare(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "flare")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startBinary starts the flare binary with args and waits until it is
// ready. It returns the base URL and the process.
func startBinary(tb testing.TB, bin string, envv []string, args ...string) (string, *exec.Cmd) {
	tb.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--log-format", "json"}, args...)...)
	cmd.Env = append(os.Environ(), envv...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	base, err := readListenLine(stdout)
	if err != nil {
		tb.Fatalf("flare did not start: %v\n%s", err, stderr.String())
	}
	go io.Copy(io.Discard, stdout)
	waitReady(tb, base)
	return base, cmd
}

// TestKill9LosesNoAcknowledgedCall posts calls from many clients at once,
// kills the server with SIGKILL in the middle of the stream, restarts it and
// checks that every call that got a 201 is there with its seq.
func TestKill9LosesNoAcknowledgedCall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the real binary")
	}
	bin := buildFlare(t)
	stores := []struct {
		name string
		args func(t *testing.T) []string
	}{
		{"sqlite", func(t *testing.T) []string { return []string{"--data-dir", t.TempDir()} }},
		{"postgres", func(t *testing.T) []string {
			return []string{"--data-dir", t.TempDir(), "--database-url", pgtest.NewDatabase(t)}
		}},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			args := st.args(t)
			secret := "FLARE_SECRET=" + strings.Repeat("d", 40)
			base, proc := startBinary(t, bin, []string{secret}, args...)
			tok, err := runCmd(t, env{"FLARE_SECRET": strings.Repeat("d", 40)}, "token", "--role", "agent")
			if err != nil {
				t.Fatal(err)
			}
			tok = strings.TrimSpace(tok)

			type ack struct {
				id  string
				seq int64
			}
			const want = 300 // calls acknowledged before the kill
			var (
				mu     sync.Mutex
				acked  []ack
				enough = make(chan struct{}) // closed at the want-th acknowledgement
				wg     sync.WaitGroup
			)
			client := &http.Client{Timeout: 5 * time.Second}
			for w := 0; w < 16; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					for i := 0; ; i++ {
						body := fmt.Sprintf(`{"id":"w%d-%d","lat":22.27,"lon":113.57,"category":"waterlogging"}`, w, i)
						req, _ := http.NewRequest("POST", base+"/api/v1/calls", strings.NewReader(body))
						req.Header.Set("Authorization", "Bearer "+tok)
						req.Header.Set("Content-Type", "application/json")
						res, err := client.Do(req)
						if err != nil {
							return // the server is gone
						}
						b, _ := io.ReadAll(res.Body)
						res.Body.Close()
						if res.StatusCode != http.StatusCreated {
							continue
						}
						var c struct {
							ID  string `json:"id"`
							Seq int64  `json:"seq"`
						}
						if json.Unmarshal(b, &c) != nil {
							continue
						}
						mu.Lock()
						acked = append(acked, ack{c.ID, c.Seq})
						if len(acked) == want {
							close(enough)
						}
						mu.Unlock()
					}
				}(w)
			}
			select {
			case <-enough:
			case <-time.After(30 * time.Second):
			}
			if err := proc.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = proc.Wait()
			wg.Wait()
			if len(acked) < want {
				t.Fatalf("only %d calls acknowledged in 30 s before the kill, want %d", len(acked), want)
			}

			base, _ = startBinary(t, bin, []string{secret}, args...)
			for _, a := range acked {
				req, _ := http.NewRequest("GET", base+"/api/v1/calls/"+a.id, nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				res, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				var c struct {
					Seq int64 `json:"seq"`
				}
				err = json.NewDecoder(res.Body).Decode(&c)
				res.Body.Close()
				if res.StatusCode != http.StatusOK || err != nil || c.Seq != a.seq {
					t.Errorf("GET acknowledged call %s after kill -9 = %d seq %d, want 200 seq %d", a.id, res.StatusCode, c.Seq, a.seq)
				}
			}
			t.Logf("%d acknowledged calls all survived kill -9", len(acked))
		})
	}
}
