package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"flare/hub/auth"
	"flare/incidents"
	"flare/incidents/sqlite"
)

// The dashboard's tests in a real browser: Debian's Chromium, headless,
// driven over the DevTools protocol against a Flare started by the test.
// Without Chromium they are skipped, except under CI=true, where they fail.

// chromiumPath is where Debian's chromium package installs the browser.
const chromiumPath = "/usr/bin/chromium"

// artifactsDir holds the screenshots the tests take (git ignores it).
var artifactsDir = filepath.Join("..", "..", "testdata", "artifacts", "dashboard")

const browserPassword = "browser-test-2026"

// needChromium skips tb when Chromium is not installed, or fails it under
// CI=true.
func needChromium(tb testing.TB) {
	tb.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("Chromium is not installed at %s (apt-get install chromium): the browser tests must run under CI", chromiumPath)
		}
		tb.Skipf("Chromium is not installed at %s (apt-get install chromium); skipping the browser tests", chromiumPath)
	}
}

// startBrowser starts headless Chromium with a fresh profile and returns a
// context that has it; it ends with tb.
func startBrowser(tb testing.TB) context.Context {
	tb.Helper()
	needChromium(tb)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.WindowSize(1600, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	tb.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// page is one user's tab, in a browser context of its own (its own
// cookies), signed in to the dashboard.
type page struct {
	ctx  context.Context
	user string

	mu         sync.Mutex
	exceptions []string
	errors     []string // console errors (a failed request among them)
}

// openPage opens the dashboard at base as user in a fresh browser context
// and signs in. shot names a screenshot of the sign-in form ("" for none).
func openPage(tb testing.TB, browser context.Context, base, user, shot string) *page {
	tb.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	tb.Cleanup(cancel)
	p := &page{ctx: ctx, user: user}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			p.mu.Lock()
			if m.IsException() {
				p.exceptions = append(p.exceptions, m.String())
			} else if m.Type == chromedp.ConsoleError {
				p.errors = append(p.errors, m.String())
			}
			p.mu.Unlock()
		}
	}()
	p.do(tb, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("signin-name")))
	if shot != "" {
		p.screenshot(tb, shot)
	}
	p.do(tb,
		chromedp.SendKeys(chromedp.ID("signin-name"), user),
		chromedp.SendKeys(chromedp.ID("signin-password"), browserPassword),
		chromedp.Click(chromedp.ID("signin-submit")),
	)
	p.waitFor(tb, `document.querySelector('#conn')?.dataset.state === 'live' && !document.querySelector('.loading')`, 10*time.Second, "the page live after sign-in")
	return p
}

// do runs actions, failing the test on error.
func (p *page) do(tb testing.TB, actions ...chromedp.Action[chromedp.Void]) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.Fatalf("%s's page: %v", p.user, err)
	}
}

// eval evaluates expr in the page (awaiting it when it is a promise) and
// decodes its value into T.
func eval[T any](tb testing.TB, p *page, expr string) T {
	tb.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.Fatalf("%s's page: evaluate %s: %v", p.user, expr, err)
	}
	return v
}

// waitFor waits until expr is truthy in the page, and fails the test after
// timeout, saying what was awaited.
func (p *page) waitFor(tb testing.TB, expr string, timeout time.Duration, what string) time.Duration {
	tb.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(p.ctx, timeout+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(25*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		p.screenshot(tb, "failed-"+p.user)
		tb.Fatalf("%s's page: waited %v for %s (%s): %v; exceptions: %v", p.user, time.Since(start).Round(time.Millisecond), what, expr, err, p.pageExceptions())
	}
	return time.Since(start)
}

// screenshot writes the page as artifactsDir/name.png.
func (p *page) screenshot(tb testing.TB, name string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.Errorf("screenshot %s: %v", name, err)
		return
	}
	if err := os.MkdirAll(artifactsDir, 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(artifactsDir, name+".png"), buf, 0o644); err != nil {
		tb.Fatal(err)
	}
}

func (p *page) consoleErrors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.errors)
}

func (p *page) pageExceptions() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.exceptions)
}

// fillCall fills the call-floor form.
func (p *page) fillCall(tb testing.TB, lat, lon float64, category, description string, urgent bool) {
	tb.Helper()
	for id, v := range map[string]string{"call-lat": fmt.Sprint(lat), "call-lon": fmt.Sprint(lon), "call-category": category, "call-description": description} {
		p.setField(tb, id, v)
	}
	if checked := eval[bool](tb, p, `document.getElementById('call-urgent').checked`); checked != urgent {
		p.do(tb, chromedp.Click(chromedp.ID("call-urgent")))
	}
}

// setField sets the value of the form field with the given id as typing
// would (input and change events), failing tb when it does not take it.
func (p *page) setField(tb testing.TB, id, value string) {
	tb.Helper()
	got := eval[string](tb, p, fmt.Sprintf(`(() => {
		const el = document.getElementById(%q);
		if (!el) return '<no element>';
		el.value = %q;
		el.dispatchEvent(new Event('input', {bubbles: true}));
		el.dispatchEvent(new Event('change', {bubbles: true}));
		return el.value;
	})()`, id, value))
	if got != value {
		tb.Fatalf("%s's page: set #%s to %q, the field holds %q", p.user, id, value, got)
	}
}

// apiClient posts calls and reads the API with a bearer token.
type apiClient struct {
	base  string
	token string
}

func newAPIClient(tb testing.TB, base, dataDir string, role incidents.Role) *apiClient {
	tb.Helper()
	s, err := signer(env{}.get, dataDir)
	if err != nil {
		tb.Fatal(err)
	}
	tok, err := s.Issue(auth.Principal{Subject: "browser-test", Role: role}, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	return &apiClient{base: base, token: tok}
}

func (c *apiClient) do(tb testing.TB, method, path string, body any, out any) int {
	tb.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if out != nil && res.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			tb.Fatalf("%s %s: %s: %v", method, path, data, err)
		}
	}
	return res.StatusCode
}

// postCall registers a call through the API and returns its id.
func (c *apiClient) postCall(tb testing.TB, lat, lon float64, category string) string {
	tb.Helper()
	var call struct {
		ID string `json:"id"`
	}
	if st := c.do(tb, "POST", "/api/v1/calls", map[string]any{"lat": lat, "lon": lon, "category": category, "description": "browser test"}, &call); st != http.StatusCreated {
		tb.Fatalf("POST /api/v1/calls = %d, want 201", st)
	}
	return call.ID
}

// addUsers adds the dashboard users of the browser tests to the data dir.
func addUsers(tb testing.TB, dir string) {
	tb.Helper()
	for _, u := range [][]string{
		{"--name", "leader", "--role", "leader", "--display", "值班领导"},
		{"--name", "agent", "--role", "agent", "--display", "话务员 07"},
		{"--name", "water", "--role", "dept", "--dept", "water", "--display", "市水务局值班室"},
	} {
		if out, err := userAdd(tb, dir, browserPassword, u...); err != nil {
			tb.Fatalf("flare user add %v = %q, %v", u, out, err)
		}
	}
}

func TestDashboardInBrowser(t *testing.T) {
	browser := startBrowser(t)
	dir := t.TempDir()
	addUsers(t, dir)
	base, stop := startServe(t, env{}, "--data-dir", dir)
	agentAPI := newAPIClient(t, base, dir, incidents.RoleAgent)
	leaderAPI := newAPIClient(t, base, dir, incidents.RoleLeader)

	leader := openPage(t, browser, base, "leader", "signin")
	agent := openPage(t, browser, base, "agent", "")
	water := openPage(t, browser, base, "water", "")
	agent.do(t, chromedp.WaitVisible(chromedp.ID("call-form")))
	water.do(t, chromedp.WaitVisible(chromedp.ID("inbox")))

	var urgentIncident string
	ok := t.Run("call registered on the call floor appears on the leadership map", func(t *testing.T) {
		agent.fillCall(t, 22.2705, 113.5770, "waterlogging", "凤凰路积水没过脚踝", false)
		agent.do(t, chromedp.Click(chromedp.ID("call-submit")))
		agent.waitFor(t, `document.querySelector('#recent-calls li.is-mine')`, 5*time.Second, "the call in the recent list")
		id := eval[string](t, agent, `document.querySelector('#recent-calls li.is-mine').dataset.callId`)
		took := leader.waitFor(t, fmt.Sprintf(`document.querySelector('#leader-map [data-call-id=%q]')`, id), 2*time.Second, "the call on the leadership map")
		t.Logf("call %s on the leadership map %v after it was registered", id, took.Round(time.Millisecond))
	})
	ok = ok && t.Run("urgent call opens an incident and an alert within 2s", func(t *testing.T) {
		agent.fillCall(t, 22.3500, 113.5500, "waterlogging", "地下车库进水，有人被困", true)
		start := time.Now()
		agent.do(t, chromedp.Click(chromedp.ID("call-submit")))
		leader.waitFor(t, `document.querySelector('#alert-list li.alert[data-incident-id]:not([data-incident-id=""]).unread')`, 2*time.Second, "the urgent alert")
		leader.waitFor(t, `document.querySelector('#incident-list li[data-incident-id]') && document.querySelector('#leader-map .incident-shape')`, 2*time.Second-time.Since(start), "the incident in the list and on the map")
		t.Logf("urgent incident and alert shown %v after the call was registered", time.Since(start).Round(time.Millisecond))
		urgentIncident = eval[string](t, leader, `document.querySelector('#alert-list li.alert').dataset.incidentId`)
		agent.waitFor(t, `document.querySelector('#urgent-banner.confirmed') && document.querySelector('#recent-calls li.is-urgent .badge.confirmed')`, 5*time.Second, "the urgent flag confirmed on the call floor")
		agent.screenshot(t, "floor")
	})
	ok = ok && t.Run("cluster of calls opens an incident and an alert within 2s", func(t *testing.T) {
		before := eval[int](t, leader, `document.querySelectorAll('#incident-list li[data-incident-id]').length`)
		for i := range 5 {
			agentAPI.postCall(t, 22.3000+float64(i)*0.0004, 113.5600+float64(i)*0.0003, "waterlogging")
		}
		took := leader.waitFor(t, fmt.Sprintf(`document.querySelectorAll('#incident-list li[data-incident-id]').length > %d && [...document.querySelectorAll('#alert-list li.alert .alert-title')].some((e) => e.textContent.includes('内涝积水'))`, before),
			2*time.Second, "the cluster's incident and alert")
		t.Logf("cluster incident shown %v after its fifth call", took.Round(time.Millisecond))
		leader.screenshot(t, "leader")
	})
	ok = ok && t.Run("department signs and completes a task and the leadership board updates", func(t *testing.T) {
		water.waitFor(t, `document.querySelector('#inbox li.task-card.is-new[data-state="dispatched"]')`, 5*time.Second, "the pushed task, highlighted as new")
		task := eval[string](t, water, `document.querySelector('#inbox li.task-card.is-new').dataset.taskId`)
		water.do(t, chromedp.Click(chromedp.CSS(fmt.Sprintf(`#inbox li[data-task-id=%q] a`, task))))
		water.waitFor(t, fmt.Sprintf(`document.querySelector('#task-detail article[data-task-id=%q]')`, task), 5*time.Second, "the task's detail")
		water.do(t, chromedp.Click(chromedp.CSS(`#task-detail form[data-action="sign"] button`)))
		water.waitFor(t, fmt.Sprintf(`document.querySelector('#task-detail article[data-task-id=%q][data-state="signed"]')`, task), 5*time.Second, "the task signed for")
		leader.waitFor(t, fmt.Sprintf(`document.querySelector('#task-board [data-column="doing"] li[data-task-id=%q]')`, task), 3*time.Second, "the signed task in hand on the board")
		water.do(t,
			chromedp.Click(chromedp.CSS(`#task-detail details:has(form[data-action="complete"]) > summary`)),
			chromedp.SendKeys(chromedp.CSS(`#task-detail form[data-action="complete"] textarea[name="note"]`), "已抽排积水，道路恢复通行"),
			chromedp.Click(chromedp.CSS(`#task-detail form[data-action="complete"] button[type="submit"]`)),
		)
		water.waitFor(t, fmt.Sprintf(`document.querySelector('#task-detail article[data-task-id=%q][data-state="completed"]')`, task), 5*time.Second, "the task completed")
		took := leader.waitFor(t, fmt.Sprintf(`document.querySelector('#task-board [data-column="done"] li[data-task-id=%q][data-state="completed"]')`, task), 3*time.Second, "the completed task on the board")
		t.Logf("completed task on the leadership board %v after the department completed it", took.Round(time.Millisecond))
		water.screenshot(t, "dept")
		leader.do(t, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = '#/leader/%s'`, urgentIncident)))
		leader.waitFor(t, fmt.Sprintf(`document.querySelector('#incident-panel[data-incident-id=%q] li.task-row[data-task-id=%q][data-state="completed"]')`, urgentIncident, task), 5*time.Second, "the incident panel with the completed task")
		leader.screenshot(t, "incident-panel")
		leader.do(t, chromedp.Evaluate[chromedp.Void](`location.hash = '#/leader'`))
	})
	ok = ok && t.Run("department cannot open another department's task", func(t *testing.T) {
		var list struct {
			Tasks []struct {
				ID   string `json:"id"`
				Dept string `json:"dept"`
			} `json:"tasks"`
		}
		leaderAPI.do(t, "GET", "/api/v1/tasks?incident="+url.QueryEscape(urgentIncident), nil, &list)
		other := ""
		for _, tk := range list.Tasks {
			if tk.Dept != "water" {
				other = tk.ID
			}
		}
		if other == "" {
			t.Fatalf("GET /api/v1/tasks of %s = %+v, want a task of another department than water", urgentIncident, list.Tasks)
		}
		water.do(t, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = '#/dept/%s'`, other)))
		water.waitFor(t, `document.querySelector('#task-detail [data-not-found="true"]')`, 5*time.Second, "the not-found message")
		if n := eval[int](t, water, fmt.Sprintf(`document.querySelectorAll('[data-task-id=%q]').length`, other)); n != 0 {
			t.Errorf("water's page shows %d elements of task %s of another department, want none", n, other)
		}
		status := eval[int](t, water, fmt.Sprintf(`fetch('/api/v1/tasks/%s').then((r) => r.status)`, other))
		if status != http.StatusNotFound {
			t.Errorf("GET /api/v1/tasks/%s from water's page = %d, want 404", other, status)
		}
		water.screenshot(t, "dept-forbidden-task")
		water.do(t, chromedp.Evaluate[chromedp.Void](`location.hash = '#/dept'`))
	})
	ok = ok && t.Run("leader dispatches a planned incident with one click, confirms and regrades it", func(t *testing.T) {
		var list struct {
			Incidents []struct {
				ID    string `json:"id"`
				Grade int    `json:"grade"`
				Plan  struct {
					Dispatched bool `json:"dispatched"`
				} `json:"plan"`
			} `json:"incidents"`
		}
		leaderAPI.do(t, "GET", "/api/v1/incidents", nil, &list)
		planned := ""
		for _, inc := range list.Incidents {
			if !inc.Plan.Dispatched {
				planned = inc.ID
			}
		}
		if planned == "" {
			t.Fatalf("GET /api/v1/incidents = %+v, want an incident whose plan waits for a leader", list.Incidents)
		}
		panel := fmt.Sprintf(`#incident-panel[data-incident-id=%q]`, planned)
		leader.do(t, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = '#/leader/%s'`, planned)))
		leader.waitFor(t, fmt.Sprintf(`document.querySelector('%s form[data-action="dispatch"]')`, panel), 5*time.Second, "the dispatch form")
		leader.do(t, chromedp.Click(chromedp.CSS(panel+` form[data-action="dispatch"] button[type="submit"]`)))
		leader.waitFor(t, fmt.Sprintf(`document.querySelectorAll('%s li.task-row[data-state="dispatched"]').length >= 2 && !document.querySelector('%s form[data-action="dispatch"]')`, panel, panel),
			5*time.Second, "the dispatched tasks in the panel")
		leader.do(t, chromedp.Click(chromedp.CSS(panel+` form[data-action="confirm"] button`)))
		leader.waitFor(t, fmt.Sprintf(`document.querySelector('%s .panel-head .istate-confirmed')`, panel), 5*time.Second, "the incident confirmed")
		leader.do(t,
			chromedp.Click(chromedp.CSS(panel+` details:has(form[data-action="regrade"]) > summary`)),
			chromedp.SetValue(chromedp.CSS(panel+` form[data-action="regrade"] select[name="grade"]`), "2"),
			chromedp.SendKeys(chromedp.CSS(panel+` form[data-action="regrade"] textarea[name="reason"]`), "积水蔓延至地铁口"),
			chromedp.Click(chromedp.CSS(panel+` form[data-action="regrade"] button[type="submit"]`)),
		)
		leader.waitFor(t, fmt.Sprintf(`document.querySelector('%s .panel-head .grade-2') && document.querySelector('#incident-list li[data-incident-id=%q][data-grade="2"]')`, panel, planned),
			5*time.Second, "the incident regraded to II in the panel and the list")
		leader.do(t, chromedp.Evaluate[chromedp.Void](`location.hash = '#/leader'`))
	})
	ok = ok && t.Run("pages read in English and on a tablet", func(t *testing.T) {
		leader.do(t, chromedp.Click(chromedp.ID("lang")))
		leader.waitFor(t, `document.documentElement.lang === 'en' && document.querySelector('#map-h').textContent.startsWith('Live map')`, 3*time.Second, "the English page")
		leader.screenshot(t, "leader-en")
		leader.do(t, chromedp.Click(chromedp.ID("lang")), chromedp.EmulateViewport(820, 1180))
		leader.waitFor(t, `document.documentElement.lang === 'zh-CN'`, 3*time.Second, "the Chinese page")
		leader.screenshot(t, "leader-tablet")
		leader.do(t, chromedp.EmulateViewport(1600, 1000))
	})
	_ = ok && t.Run("after a server restart the pages resume with no duplicate and no gap", func(t *testing.T) {
		addr := strings.TrimPrefix(base, "http://")
		if err := stop(); err != nil {
			t.Fatalf("stop flare: %v", err)
		}
		leader.waitFor(t, `document.querySelector('#conn').dataset.state !== 'live'`, 5*time.Second, "the connection shown as lost")
		resyncs := eval[int](t, leader, `window.flareLive.resyncs`)
		// Calls stored while no node runs: the pages have not seen them and
		// must get them when they resume.
		ids := storeCalls(t, dir, 3)
		base2, _ := startServe(t, env{}, "--data-dir", dir, "--addr", addr)
		if base2 != base {
			t.Fatalf("restarted flare on %s, want %s", base2, base)
		}
		// The pages reconnect to a node that has delivered nothing yet: the
		// calls stored meanwhile come from the replay; then live ones.
		for _, p := range []*page{leader, agent} {
			p.waitFor(t, `document.querySelector('#conn').dataset.state === 'live'`, 20*time.Second, "the page live again")
		}
		for i := range 4 {
			ids = append(ids, agentAPI.postCall(t, 22.2400+float64(i)*0.01, 113.5300, "noise"))
		}
		var audit struct {
			Entries []struct {
				Seq int64 `json:"seq"`
			} `json:"entries"`
		}
		leaderAPI.do(t, "GET", "/api/v1/audit?limit=1", nil, &audit)
		last := audit.Entries[0].Seq
		idsJSON, _ := json.Marshal(ids)
		all := fmt.Sprintf(`%s.every((id) => document.querySelector('#leader-map [data-call-id="' + id + '"]'))`, idsJSON)
		leader.waitFor(t, all+fmt.Sprintf(` && window.flareLive.lastSeq >= %d && document.querySelector('#conn').dataset.state === 'live'`, last), 15*time.Second, "the calls posted after the restart")
		markers := eval[[]string](t, leader, `[...document.querySelectorAll('#leader-map [data-call-id]')].map((e) => e.dataset.callId)`)
		if d := duplicates(markers); len(d) > 0 {
			t.Errorf("leadership map shows calls %v more than once", d)
		}
		// A leader sees every event: the page must have applied each seq
		// from its first head to the log's last, once and in order.
		seqs := eval[[]int64](t, leader, `window.flareState.seqs`)
		first := eval[int64](t, leader, `window.flareLive.firstHead`)
		if want := seqRangeFrom(first+1, last); !slices.Equal(seqs, want) {
			t.Errorf("leader's page applied seqs %v, want each of %d..%d once, in order", seqs, first+1, last)
		}
		listedAll := fmt.Sprintf(`%s.every((id) => document.querySelector('#recent-calls li[data-call-id="' + id + '"]'))`, idsJSON)
		agent.waitFor(t, listedAll, 10*time.Second, "the calls on the call floor")
		listed := eval[[]string](t, agent, `[...document.querySelectorAll('#recent-calls li[data-call-id]')].map((e) => e.dataset.callId)`)
		if d := duplicates(listed); len(d) > 0 {
			t.Errorf("call floor lists calls %v more than once", d)
		}
		if got := eval[int](t, leader, `window.flareLive.resyncs`); got != resyncs {
			t.Errorf("leader's page reloaded its state %d times on reconnecting, want 0 (a resume replays what was missed)", got-resyncs)
		}
		leader.screenshot(t, "leader-after-restart")
	})
	for _, p := range []*page{leader, agent, water} {
		if ex := p.pageExceptions(); len(ex) > 0 {
			t.Errorf("%s's page threw %v, want no uncaught exceptions", p.user, ex)
		}
	}
}

// storeCalls stores n calls directly in the data dir's store (no node
// running) and returns their ids.
func storeCalls(tb testing.TB, dir string, n int) []string {
	tb.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "flare.db"), sqlite.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC().Truncate(time.Microsecond)
	var calls []incidents.NewCall
	var ids []string
	for i := range n {
		id := fmt.Sprintf("offline-%d-%d", now.UnixNano(), i)
		ids = append(ids, id)
		calls = append(calls, incidents.NewCall{Call: incidents.Call{
			ID: id, ReceivedAt: now, RecordedAt: now, Lat: 22.2300, Lon: 113.5100 + float64(i)*0.01,
			Category: "traffic", Actor: "agent:browser-test",
		}, RequestHash: id})
	}
	if _, err := st.CreateCalls(ctx, calls); err != nil {
		tb.Fatalf("CreateCalls() with no node running = %v", err)
	}
	return ids
}

// duplicates returns the values that appear more than once in vs.
func duplicates(vs []string) []string {
	seen := map[string]int{}
	var out []string
	for _, v := range vs {
		if seen[v]++; seen[v] == 2 {
			out = append(out, v)
		}
	}
	return out
}

// seqRangeFrom returns from..to.
func seqRangeFrom(from, to int64) []int64 {
	out := []int64{}
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// inject applies live events to the page's state module, as if the server
// had sent them: for payloads of kinds and parameters that no server call
// makes on demand.
func (p *page) inject(tb testing.TB, events ...map[string]any) {
	tb.Helper()
	b, err := json.Marshal(events)
	if err != nil {
		tb.Fatal(err)
	}
	p.do(tb, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`import('/js/state.js').then((S) => { for (const e of %s) S.applyEvent(e); })`, b), chromedp.EvalAwaitPromise))
}

// text returns the text of the first element that matches css ("" for none).
func (p *page) text(tb testing.TB, css string) string {
	tb.Helper()
	return eval[string](tb, p, fmt.Sprintf(`document.querySelector(%q)?.textContent ?? ''`, css))
}

// switchLang clicks the language switch and waits for lang.
func (p *page) switchLang(tb testing.TB, lang string) {
	tb.Helper()
	p.do(tb, chromedp.Click(chromedp.ID("lang")))
	p.waitFor(tb, fmt.Sprintf(`document.documentElement.lang === %q`, lang), 3*time.Second, "the page in "+lang)
}

var (
	hanRE      = regexp.MustCompile(`\p{Han}`)
	rawCodesRE = regexp.MustCompile(`\b(waterlogging|440402|water|xiangzhou|owns|district government)\b`)
)

func TestDashboardWordsKindsAndParametersInBrowser(t *testing.T) {
	browser := startBrowser(t)
	dir := t.TempDir()
	addUsers(t, dir)
	base, _ := startServe(t, env{}, "--data-dir", dir)

	shanghai := time.FixedZone("CST", 8*3600)
	now := time.Now().UTC().Truncate(time.Minute)
	signBy, deadline := now.Add(30*time.Minute), now.Add(2*time.Hour)
	at := func(t time.Time) string { return t.Format(time.RFC3339) }
	// A detector's incident as docs/MESSAGES.md has it: codes, no title.
	incident := map[string]any{
		"id": "i-words", "version": 1, "state": "open", "grade": 3, "title": "", "source": "cluster",
		"category": "waterlogging", "district": "440402", "categories": map[string]int{"waterlogging": 6},
		"grade_reason": map[string]any{"kind": "calls", "calls": 6, "min_calls": 5},
		"calls":        []string{}, "call_count": 6, "urgent_calls": 0, "centroid": []float64{113.5767, 22.2710},
		"first_call_at": at(now), "last_call_at": at(now), "opened_at": at(now), "updated_at": at(now), "departments": []string{"water"},
		"plan": map[string]any{"class": "emergency", "dispatched": true, "auto": true, "items": []map[string]any{
			{"dept": "water", "reason": map[string]any{"kind": "owns_category", "category": "waterlogging"}},
			{"dept": "xiangzhou", "reason": map[string]any{"kind": "district", "district": "440402"}},
		}},
	}
	task := map[string]any{
		"id": "t-words", "version": 1, "incident_id": "i-words", "dept": "water", "state": "dispatched", "class": "emergency",
		"instructions": "", "grade": 3, "category": "waterlogging", "district": "440402", "calls": 6,
		"sign_by": at(signBy), "deadline": at(deadline), "dispatched_at": at(now), "dispatched_by": "system", "updated_at": at(now),
	}
	reminder := maps.Clone(task)
	reminder["version"] = 2
	reminder["timer"] = map[string]any{"kind": "remind", "task_id": "t-words"}
	reminder["notice"] = map[string]any{"kind": "reminder", "deadline": at(deadline)}
	events := []map[string]any{
		{"seq": 0, "type": "incident.opened", "at": at(now), "data": incident},
		{"seq": 0, "type": "alert.raised", "at": at(now), "data": map[string]any{
			"kind": "incident_opened", "incident_id": "i-words", "grade": 3, "colour": "yellow", "category": "waterlogging",
			"district": "440402", "calls": 6, "centroid": []float64{113.5767, 22.2710}}},
		{"seq": 0, "type": "task.dispatched", "at": at(now), "data": task},
		{"seq": 0, "type": "alert.raised", "at": at(now), "data": map[string]any{
			"kind": "escalation", "incident_id": "i-words", "task_id": "t-words", "dept": "water", "attempt": 1, "grade": 3,
			"colour": "yellow", "category": "waterlogging", "district": "440402", "centroid": []float64{113.5767, 22.2710}}},
		{"seq": 0, "type": "task.reminder", "at": at(now), "data": reminder},
	}
	hm := func(t time.Time) string { return t.In(shanghai).Format("01-02 15:04") }

	t.Run("leadership view names incidents, alerts, reasons and departments", func(t *testing.T) {
		leader := openPage(t, browser, base, "leader", "")
		leader.inject(t, events...)
		leader.do(t, chromedp.Evaluate[chromedp.Void](`location.hash = '#/leader/i-words'`))
		panel := `#incident-panel[data-incident-id="i-words"]`
		leader.waitFor(t, fmt.Sprintf(`document.querySelector('%s #incident-title') && document.querySelector('#task-board li[data-task-id="t-words"]')`, panel), 5*time.Second, "the incident's panel and its task on the board")
		for _, lang := range []struct {
			lang                             string
			name, opened, escalation, reason string
			owns, district, dept, notice     string
		}{
			{"zh-CN", "内涝积水 · 香洲区", "6 起来电聚集", "市水务局：督办（第 1 次），超期未办结", "6 起来电（规则需 5 起）", "主管：内涝积水", "属地：香洲区", "市水务局",
				fmt.Sprintf("催办：请于 %s 前办结", hm(deadline))},
			{"en", "Waterlogging / flooding · Xiangzhou District", "6 calls clustered", "Water Affairs Bureau: supervision no. 1, past the deadline",
				"6 calls (the rule needs 5)", "responsible for Waterlogging / flooding", "district government of Xiangzhou District", "Water Affairs Bureau",
				fmt.Sprintf("Reminder: complete by %s", hm(deadline))},
		} {
			if lang.lang == "en" {
				leader.switchLang(t, "en")
				leader.waitFor(t, fmt.Sprintf(`document.querySelector('%s #incident-title')?.textContent === %q`, panel, lang.name), 5*time.Second, "the English panel")
			}
			if got := leader.text(t, `#incident-list li[data-incident-id="i-words"] .incident-title`); got != lang.name {
				t.Errorf("%s: incident list names i-words %q, want %q", lang.lang, got, lang.name)
			}
			if got := leader.text(t, panel+` #incident-title`); got != lang.name {
				t.Errorf("%s: panel names i-words %q, want %q", lang.lang, got, lang.name)
			}
			alerts := eval[[]string](t, leader, `[...document.querySelectorAll('#alert-list li[data-incident-id="i-words"]')].map((e) => e.querySelector('.alert-title').textContent + ' | ' + e.querySelector('.alert-msg').textContent)`)
			for _, want := range []string{lang.name + " | " + lang.escalation, lang.name + " | " + lang.opened} {
				if !slices.Contains(alerts, want) {
					t.Errorf("%s: alerts of i-words = %q, want one %q", lang.lang, alerts, want)
				}
			}
			meta, plan := leader.text(t, panel+` .meta`), leader.text(t, panel+` .plan-items`)
			if !strings.Contains(meta, lang.reason) {
				t.Errorf("%s: panel facts = %q, want the grade reason %q", lang.lang, meta, lang.reason)
			}
			for _, want := range []string{lang.dept + " — " + lang.owns, lang.district} {
				if !strings.Contains(plan, want) {
					t.Errorf("%s: dispatch plan = %q, want %q", lang.lang, plan, want)
				}
			}
			if got := leader.text(t, panel+` li.task-row[data-task-id="t-words"] .task-notice`); got != lang.notice {
				t.Errorf("%s: panel's task row shows the notice %q, want %q", lang.lang, got, lang.notice)
			}
			if got := leader.text(t, `#task-board li[data-task-id="t-words"] strong`); got != lang.dept {
				t.Errorf("%s: board card of t-words names its department %q, want %q", lang.lang, got, lang.dept)
			}
			shown := eval[string](t, leader, `['#alert-list', '#incident-list', '#task-board', '#incident-panel'].map((s) => document.querySelector(s).textContent).join('\n')`)
			if m := rawCodesRE.FindString(shown); lang.lang == "zh-CN" && m != "" {
				t.Errorf("Chinese leadership view shows the code or English %q: %s", m, shown)
			}
			if m := hanRE.FindString(shown); lang.lang == "en" && m != "" {
				t.Errorf("English leadership view shows Chinese %q: %s", m, shown)
			}
		}
		leader.screenshot(t, "words-leader-en")
		leader.switchLang(t, "zh-CN")
		leader.screenshot(t, "words-leader")
	})

	t.Run("department inbox writes the task's instruction and its notices", func(t *testing.T) {
		water := openPage(t, browser, base, "water", "")
		water.inject(t, events...)
		water.do(t, chromedp.Evaluate[chromedp.Void](`location.hash = '#/dept/t-words'`))
		water.waitFor(t, `document.querySelector('#task-detail article[data-task-id="t-words"] .notices li')`, 5*time.Second, "the task's detail with its notice")
		for _, lang := range []struct{ lang, title, instructions, notice string }{
			{"zh-CN", "内涝积水 · 香洲区", fmt.Sprintf("内涝积水 · 香洲区（III级，6 起来电）请市水务局于 %s 前签收，%s 前办结。", hm(signBy), hm(deadline)),
				fmt.Sprintf("催办：请于 %s 前办结", hm(deadline))},
			{"en", "Waterlogging / flooding · Xiangzhou District",
				fmt.Sprintf("Waterlogging / flooding · Xiangzhou District (grade III, 6 calls): Water Affairs Bureau, please sign for it by %s and complete it by %s.", hm(signBy), hm(deadline)),
				fmt.Sprintf("Reminder: complete by %s", hm(deadline))},
		} {
			if lang.lang == "en" {
				water.switchLang(t, "en")
				water.waitFor(t, `document.querySelector('#task-detail .notices li')`, 5*time.Second, "the English task detail")
			}
			detail := `#task-detail article[data-task-id="t-words"]`
			if got := water.text(t, detail+` h2`); got != lang.title {
				t.Errorf("%s: task detail names its incident %q, want %q", lang.lang, got, lang.title)
			}
			if got := water.text(t, detail+` .instructions`); got != lang.instructions {
				t.Errorf("%s: instruction = %q, want %q", lang.lang, got, lang.instructions)
			}
			if got := water.text(t, detail+` .notices li`); !strings.HasSuffix(got, lang.notice) {
				t.Errorf("%s: notice = %q, want it to end %q", lang.lang, got, lang.notice)
			}
			if got := water.text(t, `#inbox li[data-task-id="t-words"] .task-title`); got != lang.title {
				t.Errorf("%s: inbox names the task %q, want %q", lang.lang, got, lang.title)
			}
		}
		water.screenshot(t, "words-dept-en")
	})

	t.Run("an error a person causes is explained in the page's language", func(t *testing.T) {
		agent := openPage(t, browser, base, "agent", "")
		for _, lang := range []struct{ lang, want string }{
			{"zh-CN", "位置不在服务范围内，请在地图上重新选取"},
			{"en", "The location is outside the service area; pick it again on the map"},
		} {
			if lang.lang == "en" {
				agent.switchLang(t, "en")
				agent.do(t, chromedp.WaitVisible(chromedp.ID("call-form")))
			}
			// Guangzhou: outside Zhuhai's service area.
			agent.fillCall(t, 23.1291, 113.2644, "waterlogging", "越界测试", false)
			agent.do(t, chromedp.Click(chromedp.ID("call-submit")))
			agent.waitFor(t, `document.querySelector('#call-form .form-error').textContent !== ''`, 5*time.Second, "the refused call's error")
			if got := agent.text(t, `#call-form .form-error`); got != lang.want {
				t.Errorf("%s: error of a call outside the area = %q, want %q", lang.lang, got, lang.want)
			}
			if inv := eval[bool](t, agent, `document.getElementById('call-lat').getAttribute('aria-invalid') === 'true'`); !inv {
				t.Errorf("%s: latitude not marked invalid after a call outside the area", lang.lang)
			}
		}
		agent.screenshot(t, "words-floor-error-en")
	})

	t.Run("a signed-out page load logs no console error", func(t *testing.T) {
		p := openPage(t, browser, base, "leader", "")
		if errs := p.consoleErrors(); len(errs) > 0 {
			t.Errorf("signing in from a signed-out page logged %q, want no console error", errs)
		}
	})
}
