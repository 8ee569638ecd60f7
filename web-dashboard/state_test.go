package dashboard

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The dashboard's own logic, run in headless Chromium on the embedded files
// with no Flare behind them: how the page merges live events, REST answers
// and a resumed stream into its state, and how it words what the server
// sends as kinds and parameters. Without Chromium the tests are skipped,
// except under CI=true, where they fail (as cmd/flare's browser tests).

const chromiumPath = "/usr/bin/chromium"

// testPage is a blank page served beside the dashboard's files, so that its
// modules can be imported and driven one by one.
const testPage = `<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"></head>
<body><div id="toasts"></div><div id="root" style="width:1200px;height:800px"></div></body></html>`

// modulePage is a tab on the dashboard's files whose fetch answers from
// window.fakeAPI ({"GET /path": body}) instead of a server.
type modulePage struct {
	ctx context.Context
}

func openModulePage(t *testing.T) *modulePage {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Chromium is not installed at %s (apt-get install chromium): the browser tests must run under CI", chromiumPath)
		}
		t.Skipf("Chromium is not installed at %s (apt-get install chromium); skipping the browser tests", chromiumPath)
	}
	files := newHandler(t, Options{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /test.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(testPage))
	})
	mux.Handle("/", files)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("disable-background-networking", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first action on ctx starts the browser, which lives as long as ctx.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	p := &modulePage{ctx: ctx}
	p.run(t, chromedp.Navigate(srv.URL+"/test.html"))
	p.eval(t, `(() => {
		window.fakeAPI = {};
		window.realFetch = window.fetch;
		window.fetch = async (url, init) => {
			const u = new URL(url, location.href);
			if (!u.pathname.startsWith('/api/v1/')) return window.realFetch(url, init);
			const key = (init?.method || 'GET') + ' ' + u.pathname.slice('/api/v1'.length);
			const body = window.fakeAPI[key];
			if (body === undefined) return new Response(JSON.stringify({ error: { code: 'not_found', message: 'no ' + key } }), { status: 404 });
			if (body instanceof Error) throw body;
			return new Response(JSON.stringify(body), { status: body.error ? 422 : 200, headers: { 'Content-Type': 'application/json' } });
		};
		return true;
	})()`, nil)
	return p
}

func (p *modulePage) run(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// eval runs the script expr (awaiting a promise) and decodes its JSON value into out.
func (p *modulePage) eval(t *testing.T, expr string, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](`Promise.resolve(`+expr+`).then((v) => JSON.stringify(v ?? null))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(raw), out); err != nil {
			t.Fatalf("evaluate %s = %s: %v", expr, raw, err)
		}
	}
}

// script runs body inside an async function that has the modules S
// (state.js), M (messages.js), I (i18n.js) and Live (live.js's class), and
// decodes what it returns into out.
func (p *modulePage) script(t *testing.T, body string, out any) {
	t.Helper()
	p.eval(t, `(async () => {
		const S = await import('/js/state.js');
		const M = await import('/js/messages.js');
		const I = await import('/js/i18n.js');
		const { Live } = await import('/js/live.js');
		`+body+`
	})()`, out)
}

// reference loads the reference data the dashboard gets from the API.
const reference = `
	S.resetState();
	S.state.categories = new Map([
		['waterlogging', { code: 'waterlogging', name_zh: '内涝积水', name_en: 'Waterlogging / flooding' }],
		['gas_leak', { code: 'gas_leak', name_zh: '燃气泄漏', name_en: 'Gas leak' }],
	]);
	S.state.departments = new Map([
		['water', { code: 'water', name_zh: '市水务局', name_en: 'Water Affairs Bureau' }],
		['gas', { code: 'gas', name_zh: '港华燃气', name_en: 'Zhuhai Gas Company' }],
		['xiangzhou', { code: 'xiangzhou', name_zh: '香洲区政府', name_en: 'Xiangzhou District Government' }],
	]);
	S.state.districtNames = new Map([['440402', { code: '440402', name: '香洲区', name_en: 'Xiangzhou District' }]]);
`

func TestStateMerge(t *testing.T) {
	p := openModulePage(t)

	t.Run("an answer that raced a newer live event does not undo it", func(t *testing.T) {
		var got struct {
			Version int
			Grade   int
			Alerts  []int
		}
		p.script(t, reference+`
			S.state.me = { role: 'leader', name: 'leader' };
			const inc = { id: 'i1', version: 3, grade: 2, state: 'open', calls: ['c1'], call_count: 1, categories: { waterlogging: 1 }, centroid: [113.5, 22.2] };
			// The live events arrive while the REST answers are on their way.
			S.applyEvent({ seq: 7, type: 'incident.updated', at: '2026-07-01T15:00:00Z', data: { ...inc, reason: 'regraded' } });
			S.applyEvent({ seq: 8, type: 'alert.raised', at: '2026-07-01T15:00:01Z', data: { kind: 'grade_raised', incident_id: 'i1', grade: 2 } });
			window.fakeAPI = {
				'GET /calls': { calls: [] },
				'GET /incidents': { incidents: [{ ...inc, version: 2, grade: 3 }] },
				'GET /tasks': { tasks: [] },
				'GET /audit': { entries: [
					{ seq: 8, type: 'alert.raised', at: '2026-07-01T15:00:01Z', data: { kind: 'grade_raised', incident_id: 'i1', grade: 2 } },
					{ seq: 5, type: 'alert.raised', at: '2026-07-01T14:59:00Z', data: { kind: 'incident_opened', incident_id: 'i1', grade: 3, calls: 5 } },
				] },
				'GET /presence': { departments: [] },
			};
			await S.loadState();
			const held = S.state.incidents.get('i1');
			return { version: held.version, grade: held.grade, alerts: S.state.alerts.map((a) => a.seq) };
		`, &got)
		if got.Version != 3 || got.Grade != 2 {
			t.Errorf("incident after a live version 3 and a REST answer of version 2 = version %d grade %d, want version 3 grade 2", got.Version, got.Grade)
		}
		if !slices.Equal(got.Alerts, []int{8, 5}) {
			t.Errorf("alerts after a live alert and the audit's = seqs %v, want [8 5] (each once, newest first)", got.Alerts)
		}
	})

	t.Run("an incident event keeps the older call ids", func(t *testing.T) {
		var got struct {
			Calls []string
			Of    []string
		}
		p.script(t, reference+`
			S.state.me = { role: 'leader' };
			const inc = { id: 'i2', version: 1, grade: 4, state: 'open', calls: ['c1', 'c2', 'c3'], call_count: 3 };
			S.putIncident(inc);
			// Events list only an incident's newest call ids.
			S.applyEvent({ seq: 9, type: 'incident.updated', data: { ...inc, version: 2, calls: ['c4'], call_count: 4 } });
			return { calls: S.state.incidents.get('i2').calls, of: ['c1', 'c4'].map((c) => S.state.callIncident.get(c)) };
		`, &got)
		if want := []string{"c1", "c2", "c3", "c4"}; !slices.Equal(got.Calls, want) {
			t.Errorf("incident calls after an event with the newest = %v, want %v", got.Calls, want)
		}
		if !slices.Equal(got.Of, []string{"i2", "i2"}) {
			t.Errorf("incident of calls c1, c4 = %v, want i2 for both", got.Of)
		}
	})

	t.Run("a task event keeps the older progress notes", func(t *testing.T) {
		var got []string
		p.script(t, reference+`
			S.state.me = { role: 'leader' };
			const note = (i) => ({ at: '2026-12-03T10:0' + i + ':00Z', actor: 'dept-water', text: 'n' + i });
			const task = { id: 't9', version: 1, dept: 'water', state: 'in_progress', progress: [note(1), note(2)], progress_count: 2 };
			S.putTask(task);
			// Events carry only a task's newest notes, and how many there are.
			S.applyEvent({ seq: 10, type: 'task.progress', data: { ...task, version: 2, progress: [note(3)], progress_count: 3, note: note(3) } });
			return S.state.tasks.get('t9').progress.map((n) => n.text);
		`, &got)
		if want := []string{"n1", "n2", "n3"}; !slices.Equal(got, want) {
			t.Errorf("task progress after an event with the newest = %v, want %v", got, want)
		}
	})

	t.Run("a resumed stream replays what was missed once, with no duplicate", func(t *testing.T) {
		var got struct {
			Seqs       []int
			Calls      []string
			Duplicates int
			Resyncs    int
		}
		p.script(t, reference+`
			S.state.me = { role: 'leader' };
			const live = new Live({ onEvent: S.applyEvent, onResync: async () => {}, onStatus: () => {} });
			live.lastSeq = 10;
			const call = (seq) => ({ seq, type: 'call.received', at: '2026-07-01T15:00:00Z',
				data: { id: 'call-' + seq, lat: 22.27, lon: 113.57, category: 'waterlogging', received_at: new Date().toISOString() } });
			for (let s = 11; s <= 15; s++) live.handle(call(s));
			// The connection dropped after 15 had been sent but 14 and 15
			// were not acknowledged: the server replays from 13.
			for (let s = 13; s <= 18; s++) live.handle(call(s));
			live.handle({ seq: 0, type: 'presence.changed', data: { departments: [] } });
			live.stop();
			return { seqs: S.state.seqs, calls: [...S.state.calls.keys()].sort(), duplicates: live.duplicates, resyncs: live.resyncs || 0 };
		`, &got)
		if want := []int{11, 12, 13, 14, 15, 16, 17, 18}; !slices.Equal(got.Seqs, want) {
			t.Errorf("seqs applied after a replay from 13 = %v, want %v", got.Seqs, want)
		}
		if len(got.Calls) != 8 || got.Duplicates != 3 {
			t.Errorf("after a replay: %d calls held, %d duplicates dropped, want 8 and 3 (13, 14, 15)", len(got.Calls), got.Duplicates)
		}
		if got.Resyncs != 0 {
			t.Errorf("a replay reloaded the state %d times, want 0", got.Resyncs)
		}
	})

	t.Run("a reset the server cannot replay reloads the state and continues after its seq", func(t *testing.T) {
		var got struct {
			Resynced []int
			LastSeq  int
			Seqs     []int
		}
		p.script(t, reference+`
			S.state.me = { role: 'leader' };
			const resynced = [];
			const live = new Live({ onEvent: S.applyEvent, onResync: async (from) => { resynced.push(from); }, onStatus: () => {} });
			live.lastSeq = 20;
			live.handle({ seq: 0, type: 'hub.reset', data: { from: 40 } });
			live.handle({ seq: 35, type: 'call.received', data: { id: 'old', lat: 22.2, lon: 113.5, category: 'noise', received_at: new Date().toISOString() } });
			live.handle({ seq: 41, type: 'call.received', data: { id: 'new', lat: 22.2, lon: 113.5, category: 'noise', received_at: new Date().toISOString() } });
			live.stop();
			return { resynced, lastSeq: live.lastSeq, seqs: S.state.seqs };
		`, &got)
		if !slices.Equal(got.Resynced, []int{40}) || got.LastSeq != 41 || !slices.Equal(got.Seqs, []int{41}) {
			t.Errorf("after hub.reset from 40 and events 35, 41: resynced %v, last seq %d, applied %v; want [40], 41, [41]", got.Resynced, got.LastSeq, got.Seqs)
		}
	})

	t.Run("a department stops holding a task reassigned away", func(t *testing.T) {
		var got []bool
		p.script(t, reference+`
			S.state.me = { role: 'dept', dept: 'water' };
			const task = { id: 't1', version: 1, incident_id: 'i1', dept: 'water', state: 'dispatched', class: 'emergency' };
			S.applyEvent({ seq: 1, type: 'task.dispatched', data: task });
			const held = S.state.tasks.has('t1');
			S.applyEvent({ seq: 2, type: 'task.reassigned', data: { ...task, version: 2, dept: 'gas', previous_dept: 'water' } });
			return [held, S.state.tasks.has('t1')];
		`, &got)
		if !slices.Equal(got, []bool{true, false}) {
			t.Errorf("water holds its task before and after it was reassigned to gas = %v, want [true false]", got)
		}
	})

	t.Run("a supervision notice is kept with its task, not in it", func(t *testing.T) {
		var got struct {
			Kind     string
			InTask   bool
			Version  int
			Incident string
		}
		p.script(t, reference+`
			S.state.me = { role: 'leader' };
			const task = { id: 't2', version: 1, incident_id: 'i1', dept: 'water', state: 'signed', class: 'emergency' };
			S.applyEvent({ seq: 1, type: 'task.dispatched', data: task });
			S.applyEvent({ seq: 2, type: 'task.reminder', at: '2026-07-01T15:00:00Z',
				data: { ...task, version: 2, timer: { kind: 'remind' }, notice: { kind: 'reminder', deadline: '2026-07-01T16:00:00Z' } } });
			S.applyEvent({ seq: 3, type: 'alert.raised', data: { kind: 'urgent_call', incident_id: 'i9', call_id: 'c77', urgent: true, grade: 3 } });
			const held = S.state.tasks.get('t2');
			return { kind: S.state.notices.get('t2')[0].data.notice.kind, inTask: 'notice' in held || 'timer' in held, version: held.version,
				incident: S.state.callIncident.get('c77') };
		`, &got)
		if got.Kind != "reminder" || got.InTask || got.Version != 2 {
			t.Errorf("after task.reminder: notice %q, notice in the task %v, task version %d; want reminder, false, 2", got.Kind, got.InTask, got.Version)
		}
		if got.Incident != "i9" {
			t.Errorf("incident of call c77 after its urgent alert = %q, want i9", got.Incident)
		}
	})
}
