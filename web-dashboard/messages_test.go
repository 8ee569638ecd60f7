package dashboard

import (
	"fmt"
	"strings"
	"testing"
)

// wording is one payload the server sends, and what the page must show for
// it in each language.
type wording struct {
	name   string
	expr   string // a script expression over M (messages.js) and S (state.js)
	zh, en string
}

func TestMessagesWordKindsAndParameters(t *testing.T) {
	p := openModulePage(t)
	cases := []wording{
		{"detector incident named by category and district",
			`M.incidentName({ id: 'i1', category: 'waterlogging', district: '440402', title: '' })`,
			"内涝积水 · 香洲区", "Waterlogging / flooding · Xiangzhou District"},
		{"incident outside every district",
			`M.incidentName({ id: 'i1', category: 'gas_leak', district: '', title: '' })`,
			"燃气泄漏 · 珠海市", "Gas leak · Zhuhai"},
		{"a leader's own title is shown as typed",
			`M.incidentName({ id: 'i1', category: 'gas_leak', district: '440402', title: '拱北燃气管道破裂' })`,
			"拱北燃气管道破裂", "拱北燃气管道破裂"},
		{"incident of the previous release named from its categories",
			`M.incidentName({ id: 'i1', title: '内涝积水 · 香洲区', source: 'cluster', categories: { waterlogging: 4, gas_leak: 1 }, district: '440402' })`,
			"内涝积水 · 香洲区", "Waterlogging / flooding · Xiangzhou District"},
		{"alert title of the previous release named again",
			`M.alertTitle({ kind: 'urgent_call', incident_id: 'i-unknown', title: '内涝积水 · 香洲区', message: '紧急来电：waterlogging' })`,
			"内涝积水 · 香洲区", "Waterlogging / flooding · Xiangzhou District"},
		{"new incident alert",
			`M.alertText({ kind: 'incident_opened', incident_id: 'i1', calls: 6, grade: 3, category: 'waterlogging', district: '440402' })`,
			"6 起来电聚集", "6 calls clustered"},
		{"alert title from the alert's codes",
			`M.alertTitle({ kind: 'incident_opened', incident_id: 'i-unknown', category: 'waterlogging', district: '440402' })`,
			"内涝积水 · 香洲区", "Waterlogging / flooding · Xiangzhou District"},
		{"grade raised by calls",
			`M.alertText({ kind: 'grade_raised', incident_id: 'i1', grade: 2, reason: { kind: 'calls', calls: 12, min_calls: 5 } })`,
			"升级为 II级：12 起来电（规则需 5 起）", "Raised to grade II: 12 calls (the rule needs 5)"},
		{"urgent call with the call held",
			`(S.putCall({ id: 'c9', category: 'gas_leak', address: '香洲区凤凰路 88 号', lat: 22.27, lon: 113.57 }),
			  M.alertText({ kind: 'urgent_call', incident_id: 'i1', call_id: 'c9', category: 'waterlogging', urgent: true }))`,
			"紧急来电：燃气泄漏 @ 香洲区凤凰路 88 号", "Urgent call: Gas leak at 香洲区凤凰路 88 号"},
		{"urgent call not held",
			`M.alertText({ kind: 'urgent_call', incident_id: 'i1', call_id: 'c-elsewhere', category: 'waterlogging', urgent: true })`,
			"紧急来电：内涝积水", "Urgent call: Waterlogging / flooding"},
		{"escalation",
			`M.alertText({ kind: 'escalation', incident_id: 'i1', task_id: 't1', dept: 'water', attempt: 2 })`,
			"市水务局：督办（第 2 次），超期未办结", "Water Affairs Bureau: supervision no. 2, past the deadline"},
		{"urgent alert of the previous release",
			`M.alertText({ kind: 'urgent_call', incident_id: 'i1', message: '紧急来电：gas_leak @ 香洲区凤凰路', urgent: true })`,
			"紧急来电：燃气泄漏 @ 香洲区凤凰路", "Urgent call: Gas leak at 香洲区凤凰路"},
		{"escalation of the previous release",
			`M.alertText({ kind: 'escalation', incident_id: 'i1', dept: 'xiangzhou', message: 'xiangzhou: 未在 07-01 23:30 前签收' })`,
			"香洲区政府：未按时签收", "Xiangzhou District Government: not signed for in time"},
		{"grade reason from an urgent call",
			`M.gradeReason({ kind: 'urgent_call', call_id: 'c1' })`,
			"来电席上报紧急来电", "urgent call from the call floor"},
		{"grade reason of a surge, with an urgent call",
			`M.gradeReason({ kind: 'surge', observed: 6, expected: 0.0123, score: 24.1, recurrence_days: 1234.5, window_s: 900, urgent_calls: 1 })`,
			"15 分钟内 6 起来电，此地此时通常约 0.01 起；如此异常约 1,235 天一遇，1 起紧急来电",
			"6 calls in 15 min where about 0.01 are usual here at this hour; a surge this strong comes once in 1,235 days, 1 urgent calls"},
		{"a leader's regrade with a note",
			`M.gradeReason({ kind: 'manual', actor: 'leader', note: '积水蔓延至地铁口' })`,
			"leader 调整：积水蔓延至地铁口", "set by leader: 积水蔓延至地铁口"},
		{"grade reason of the previous release",
			`M.gradeReason('11 calls (rule needs 5), hazard category weighs double')`,
			"11 起来电（规则需 5 起），危险类别加倍计", "11 calls (the rule needs 5), hazard category counts double"},
		{"plan reason: owns the category",
			`M.planReason({ kind: 'owns_category', category: 'gas_leak' })`,
			"主管：燃气泄漏", "responsible for Gas leak"},
		{"plan reason: district",
			`M.planReason({ kind: 'district', district: '440402' })`,
			"属地：香洲区", "district government of Xiangzhou District"},
		{"plan reason: chosen by a leader",
			`M.planReason({ kind: 'chosen', actor: 'leader' })`,
			"leader 指定", "chosen by leader"},
		{"task instruction written from the task's parameters (Shanghai time)",
			`M.taskInstructions({ id: 't1', incident_id: 'i1', dept: 'water', class: 'emergency', grade: 2, category: 'waterlogging', district: '440402', calls: 12,
			  sign_by: '2026-07-01T15:30:00Z', deadline: '2026-07-01T17:00:00Z', instructions: '' })`,
			"内涝积水 · 香洲区（II级，12 起来电）请市水务局于 07-01 23:30 前签收，07-02 01:00 前办结。",
			"Waterlogging / flooding · Xiangzhou District (grade II, 12 calls): Water Affairs Bureau, please sign for it by 07-01 23:30 and complete it by 07-02 01:00."},
		{"generated instruction of the previous release written again",
			`M.taskInstructions({ id: 't1', incident_id: 'i1', dept: 'water', sign_by: '2026-07-01T15:30:00Z', deadline: '2026-07-01T17:00:00Z',
			  instructions: '内涝积水 · 香洲区（II级，12 起来电）请市水务局于 07-01 23:30 前签收，07-02 01:00 前办结。' },
			  { id: 'i1', title: '内涝积水 · 香洲区', categories: { waterlogging: 12 }, district: '440402', grade: 2, call_count: 12 })`,
			"内涝积水 · 香洲区（II级，12 起来电）请市水务局于 07-01 23:30 前签收，07-02 01:00 前办结。",
			"Waterlogging / flooding · Xiangzhou District (grade II, 12 calls): Water Affairs Bureau, please sign for it by 07-01 23:30 and complete it by 07-02 01:00."},
		{"reminder notice",
			`M.noticeText({ notice: { kind: 'reminder', deadline: '2026-07-01T16:00:00Z' } })`,
			"催办：请于 07-02 00:00 前办结", "Reminder: complete by 07-02 00:00"},
		{"escalation notice",
			`M.noticeText({ notice: { kind: 'escalated', attempt: 3, deadline: '2026-07-01T16:00:00Z', late_s: 5400 } })`,
			"督办（第 3 次）：超期 1 小时 30 分 未办结", "Supervision no. 3: 1 h 30 min past the deadline, unfinished"},
		{"sign overdue notice",
			`M.noticeText({ notice: { kind: 'sign_overdue', sign_by: '2026-07-01T15:30:00Z' } })`,
			"未在 07-01 23:30 前签收", "Not signed for by 07-01 23:30"},
		{"error with a code and a field",
			`M.errorText({ code: 'invalid', field: 'reason', message: 'reason is required' })`,
			"理由：填写的内容不符合要求", "Reason: A value is not valid"},
		{"error with a code of its own for a field",
			`M.errorText({ code: 'out_of_area', field: 'location', message: 'location (1, 2) is outside the service area' })`,
			"位置不在服务范围内，请在地图上重新选取", "The location is outside the service area; pick it again on the map"},
		{"error with a code this page does not know keeps the API's message",
			`M.errorText({ code: 'brand_new', message: 'something new went wrong' })`,
			"something new went wrong", "something new went wrong"},
	}
	run := func(lang string) []string {
		var got []string
		exprs := make([]string, len(cases))
		for i, c := range cases {
			exprs[i] = c.expr
		}
		p.script(t, reference+fmt.Sprintf(`I.setLang(%q); const out = [%s]; I.setLang('zh-CN'); return out;`, lang, strings.Join(exprs, ",\n")), &got)
		return got
	}
	zh, en := run("zh-CN"), run("en")
	for i, c := range cases {
		if zh[i] != c.zh {
			t.Errorf("%s in Chinese: %s = %q, want %q", c.name, c.expr, zh[i], c.zh)
		}
		if en[i] != c.en {
			t.Errorf("%s in English: %s = %q, want %q", c.name, c.expr, en[i], c.en)
		}
	}
}

func TestIdempotencyKeyWithoutRandomUUID(t *testing.T) {
	p := openModulePage(t)
	var keys []string
	// Over plain HTTP by host name the browser has no crypto.randomUUID.
	p.eval(t, `(async () => {
		const { randomKey } = await import('/js/api.js');
		Object.defineProperty(crypto, 'randomUUID', { value: undefined, configurable: true });
		return [randomKey(), randomKey()];
	})()`, &keys)
	for _, k := range keys {
		if len(k) != 36 || k[14] != '4' || !strings.ContainsRune("89ab", rune(k[19])) || strings.Count(k, "-") != 4 {
			t.Errorf("randomKey() without crypto.randomUUID = %q, want a version 4 UUID", k)
		}
	}
	if len(keys) != 2 || keys[0] == keys[1] {
		t.Errorf("two randomKey() = %v, want two different keys", keys)
	}
}

func TestCallFloorLinksUrgentAlertToItsCallByID(t *testing.T) {
	p := openModulePage(t)
	var got struct {
		Before, After, Banner, Row string
	}
	p.script(t, reference+`
		S.state.me = { role: 'agent', name: 'agent', display_name: '话务员 07' };
		S.state.groups = [];
		const until = async (cond) => { for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 25)); return cond(); };
		window.fakeAPI['POST /calls'] = { id: 'c-mine', urgent: true, category: 'waterlogging', lat: 22.27, lon: 113.57,
			address: '凤凰路', received_at: new Date().toISOString() };
		const { renderFloor } = await import('/js/views/floor.js');
		const view = renderFloor(document.getElementById('root'));
		const set = (id, v) => { const el = document.getElementById(id); el.value = v; el.dispatchEvent(new Event('input', { bubbles: true })); };
		set('call-lat', '22.27'); set('call-lon', '113.57'); set('call-category', 'waterlogging'); set('call-address', '凤凰路');
		document.getElementById('call-urgent').checked = true;
		document.getElementById('call-form').requestSubmit();
		await until(() => S.state.calls.has('c-mine'));
		const banner = document.getElementById('urgent-banner');
		// Another seat's urgent call, in the same category and street.
		S.applyEvent({ seq: 100, type: 'alert.raised', at: new Date().toISOString(), data: { kind: 'urgent_call', incident_id: 'i-other',
			call_id: 'c-other', urgent: true, grade: 3, category: 'waterlogging', district: '440402' } });
		const before = banner.className;
		S.applyEvent({ seq: 101, type: 'alert.raised', at: new Date().toISOString(), data: { kind: 'urgent_call', incident_id: 'i-mine',
			call_id: 'c-mine', urgent: true, grade: 3, category: 'waterlogging', district: '440402' } });
		await until(() => banner.classList.contains('confirmed') && document.querySelector('#recent-calls li[data-call-id="c-mine"] .incident-link'));
		const row = document.querySelector('#recent-calls li[data-call-id="c-mine"]')?.textContent || '';
		const out = { before, after: banner.className, banner: banner.textContent, row };
		view.dispose();
		return out;
	`, &got)
	if strings.Contains(got.Before, "confirmed") {
		t.Errorf("banner after another call's urgent alert = %q, want it still pending", got.Before)
	}
	if !strings.Contains(got.After, "confirmed") || got.Banner != "领导小组已收到紧急预警：内涝积水 · 香洲区" {
		t.Errorf("banner after the alert with this seat's call_id = %q %q, want confirmed, naming 内涝积水 · 香洲区", got.After, got.Banner)
	}
	if !strings.Contains(got.Row, "内涝积水 · 香洲区") || !strings.Contains(got.Row, "紧急来电：内涝积水 @ 凤凰路") {
		t.Errorf("the call's row = %q, want its incident 内涝积水 · 香洲区 and the alert 紧急来电：内涝积水 @ 凤凰路", got.Row)
	}
}
