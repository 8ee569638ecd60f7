// Words for what the server sends as kinds and parameters (docs/MESSAGES.md):
// incident names, alerts, grade and plan reasons, task instructions,
// supervision notices and API errors, in the page's language, with the names
// of departments, categories and districts rather than their codes.
//
// A server of the previous release still sends sentences (an alert's
// message and title, a task's generated instructions, a notice's message,
// reasons as strings): they are shown when the new fields are absent, and
// the new fields win when present.

import { t, hasKey, currentLang } from './i18n.js';
import { state } from './state.js';
import { categoryName, deptName, districtName } from './labels.js';
import { dateTime } from './dom.js';

const grade = (g) => (g ? t(`grade.short.${g}`) : '');

/** mainCategory is the category most of an incident's calls are about. */
function mainCategory(categories) {
  let main = '';
  let most = -1;
  for (const [c, n] of Object.entries(categories || {})) {
    if (n > most || (n === most && c < main)) { main = c; most = n; }
  }
  return main;
}

/** placeName names a district by its code, or the city outside every district. */
function placeName(district) {
  return district ? districtName(district) : t('place.city');
}

/** composeName names an incident from its category and district codes. */
export function composeName(category, district) {
  if (!category) return '';
  return t('incident.name', { category: categoryName(category), place: placeName(district) });
}

/**
 * incidentName names an incident: a leader's own title as typed, else its
 * main category and district ("内涝积水 · 香洲区"). An incident of the
 * previous release has no category field and a title the server wrote in
 * Chinese: in English it is named from its categories instead.
 */
export function incidentName(inc) {
  if (!inc) return '';
  if ('category' in inc) return inc.title || composeName(inc.category, inc.district) || inc.id;
  if (inc.title && (inc.source === 'manual' || !inc.categories)) return inc.title;
  return composeName(mainCategory(inc.categories), inc.district) || inc.title || inc.id;
}

/** alertTitle names the incident of an alert, from the incident held or the alert's own fields. */
export function alertTitle(a) {
  const inc = state.incidents.get(a.incident_id);
  if (inc) return incidentName(inc);
  return composeName(a.category, a.district) || legacyTitle(a.title) || a.incident_id || '';
}

/**
 * legacyTitle names again an incident titled by the previous release
 * ("内涝积水 · 香洲区", from the Chinese names of its category and district);
 * any other title is shown as it is.
 */
function legacyTitle(title) {
  const [cat, place, ...rest] = (title || '').split(' · ');
  if (!place || rest.length) return title || '';
  const category = [...state.categories.values()].find((c) => c.name_zh === cat);
  const district = place === '珠海市' ? { code: '' } : [...state.districtNames.values()].find((d) => d.name === place);
  return category && district ? composeName(category.code, district.code) : title;
}

/**
 * alertText says what an alert is about: new incident (its calls), grade
 * raised (with the reason), urgent call (its category and address when the
 * call is known), escalation (the late department and the attempt).
 */
export function alertText(a) {
  switch (a.kind) {
    case 'incident_opened':
      if (a.calls !== undefined) return t('alert.msg.incident_opened', { n: a.calls });
      break;
    case 'grade_raised':
      if (a.reason !== undefined && typeof a.reason === 'object') {
        return t('alert.msg.grade_raised', { grade: grade(a.grade), reason: gradeReason(a.reason) });
      }
      if (a.message === undefined) return t('alert.msg.grade_raised.plain', { grade: grade(a.grade) });
      break;
    case 'urgent_call':
      if (a.call_id !== undefined) {
        const c = state.calls.get(a.call_id);
        const category = categoryName(c?.category || a.category);
        return c?.address ? t('alert.msg.urgent_call.address', { category, address: c.address })
          : t('alert.msg.urgent_call', { category });
      }
      break;
    case 'escalation':
      if (a.attempt !== undefined || a.message === undefined) {
        const dept = deptName(a.dept);
        return a.attempt > 0 ? t('alert.msg.escalation', { dept, n: a.attempt }) : t('alert.msg.escalation.sign', { dept });
      }
      break;
    default:
  }
  return typeof a.message === 'string' ? legacyAlertText(a) : '';
}

const romans = { I: 1, II: 2, III: 3, IV: 4 };

/**
 * legacyAlertText words an alert of the previous release from its Chinese
 * message, whose forms are known; any other message is shown as it is.
 */
function legacyAlertText(a) {
  const msg = a.message;
  let m;
  if ((m = /^紧急来电：(\S+?)(?: @ (.*))?$/.exec(msg))) {
    const category = categoryName(m[1]);
    return m[2] ? t('alert.msg.urgent_call.address', { category, address: m[2] }) : t('alert.msg.urgent_call', { category });
  }
  if ((m = /^(\d+) 起来电聚集$/.exec(msg))) return t('alert.msg.incident_opened', { n: m[1] });
  if ((m = /^升级为 (I|II|III|IV) 级[:：] ?(.*)$/.exec(msg))) {
    return t('alert.msg.grade_raised', { grade: grade(romans[m[1]]), reason: gradeReason(m[2]) });
  }
  if ((m = /^([\w-]+): (.*)$/.exec(msg)) && a.kind === 'escalation') {
    const dept = deptName(m[1]);
    const n = /^督办（第 (\d+) 次）/.exec(m[2]);
    if (n) return t('alert.msg.escalation', { dept, n: n[1] });
    if (/前签收$/.test(m[2])) return t('alert.msg.escalation.sign', { dept });
  }
  return msg;
}

/** legacyNotice words a supervision notice of the previous release from its Chinese message. */
function legacyNotice(msg) {
  let m;
  if ((m = /^未在 (.+) 前签收$/.exec(msg))) return t('notice.sign_overdue', { t: m[1] });
  if ((m = /^催办：请于 (.+) 前办结$/.exec(msg))) return t('notice.reminder', { t: m[1] });
  if ((m = /^已超过办结时限 (.+)$/.exec(msg))) return t('notice.overdue', { t: m[1] });
  if ((m = /^督办（第 (\d+) 次）：超期 (.+) 未办结$/.exec(msg))) return t('notice.escalated', { n: m[1], late: m[2] });
  return msg;
}

/** alertKind is the short label of an alert's kind. */
export function alertKind(a) {
  return hasKey(`alert.kind.${a.kind}`) ? t(`alert.kind.${a.kind}`) : a.kind;
}

/**
 * gradeReason words why an incident has its grade: {kind: calls | surge |
 * urgent_call | manual}. A string (the previous release's English, or a
 * leader's typed reason) is translated where it is the server's own and
 * shown as it is otherwise.
 */
export function gradeReason(r) {
  if (!r) return '';
  if (typeof r === 'string') return oldGradeReason(r);
  switch (r.kind) {
    case 'calls': {
      const parts = [t('reason.calls', { n: r.calls, min: r.min_calls })];
      if (r.hazard) parts.push(t('reason.hazard'));
      if (r.recent) parts.push(t('reason.recent', { n: r.recent }));
      if (r.urgent_calls) parts.push(t('reason.urgent_calls', { n: r.urgent_calls }));
      return parts.join(t('list.sep'));
    }
    case 'surge': {
      const parts = [t('reason.surge', {
        n: r.observed ?? 0, window: Math.round((r.window_s || 0) / 60),
        expected: surgeNumber(r.expected), days: surgeNumber(r.recurrence_days),
      })];
      if (r.urgent_calls) parts.push(t('reason.urgent_calls', { n: r.urgent_calls }));
      return parts.join(t('list.sep'));
    }
    case 'urgent_call':
      return t('reason.urgent_call');
    case 'manual':
      return r.note ? t('reason.manual.note', { actor: r.actor || '', note: r.note }) : t('reason.manual', { actor: r.actor || '' });
    default:
      return r.note || r.kind || '';
  }
}

function oldGradeReason(s) {
  if (s === 'urgent call from the call floor') return t('reason.urgent_call');
  const m = /^(\d+) calls \(rule needs (\d+)\)((?:, .+)*)$/.exec(s);
  if (!m) return s;
  const parts = [t('reason.calls', { n: m[1], min: m[2] })];
  for (const extra of m[3].split(', ').filter(Boolean)) {
    let x;
    if (extra === 'hazard category weighs double') parts.push(t('reason.hazard'));
    else if ((x = /^(\d+) calls in the last minutes$/.exec(extra))) parts.push(t('reason.recent', { n: x[1] }));
    else if ((x = /^(\d+) urgent calls$/.exec(extra))) parts.push(t('reason.urgent_calls', { n: x[1] }));
    else if (extra === 'urgent call') parts.push(t('reason.urgent'));
    else parts.push(extra);
  }
  return parts.join(t('list.sep'));
}

/** planReason words why a plan names a department: {kind: owns_category | district | chosen}. */
export function planReason(r) {
  if (!r) return '';
  if (typeof r === 'string') {
    let m = /^owns (\S+)$/.exec(r);
    if (m) return t('plan.owns', { c: categoryName(m[1]) });
    m = /^district government of (\S+)$/.exec(r);
    if (m) return t('plan.district', { d: districtName(m[1]) });
    m = /^chosen by (\S+)$/.exec(r);
    if (m) return t('plan.chosen', { actor: m[1] });
    return r;
  }
  switch (r.kind) {
    case 'owns_category': return t('plan.owns', { c: categoryName(r.category) });
    case 'district': return t('plan.district', { d: districtName(r.district) });
    case 'chosen': return t('plan.chosen', { actor: r.actor || '' });
    default: return r.kind || '';
  }
}

/** generatedInstructions matches the instructions the previous release wrote for a task. */
const generatedInstructions = /请.+于 \d\d-\d\d \d\d:\d\d 前签收，\d\d-\d\d \d\d:\d\d 前办结。$/;

/**
 * taskInstructions writes a task's instruction from its incident's name,
 * grade and calls, its department and deadlines; what a leader typed
 * follows it. inc is the task's incident when held.
 */
export function taskInstructions(tk, inc) {
  const fresh = 'category' in tk || 'grade' in tk || 'calls' in tk;
  const typed = fresh ? (tk.instructions || '') : (generatedInstructions.test(tk.instructions || '') ? '' : (tk.instructions || ''));
  if (!fresh && typed) return typed;
  const name = inc ? incidentName(inc) : composeName(tk.category, tk.district);
  const g = tk.grade ?? inc?.grade;
  const n = tk.calls ?? inc?.call_count;
  const line = t('task.instr', {
    name: name || tk.incident_id, grade: grade(g), n: n ?? '—', dept: deptName(tk.dept),
    sign: dateTime(tk.sign_by), deadline: dateTime(tk.deadline),
  });
  return typed ? `${line}\n${typed}` : line;
}

/** lateText words a lateness in seconds as hours and minutes. */
function lateText(s) {
  const m = Math.max(0, Math.round(Number(s) / 60));
  if (m < 60) return t('dur.m', { m });
  return t('dur.hm', { h: Math.floor(m / 60), m: m % 60 });
}

/**
 * noticeText words a supervision notice ({kind: sign_overdue | reminder |
 * overdue | escalated}), or the message of the previous release. data is
 * the event's data.
 */
export function noticeText(data) {
  const n = data?.notice;
  if (!n || typeof n !== 'object') return data?.message ? legacyNotice(data.message) : '';
  switch (n.kind) {
    case 'sign_overdue': return t('notice.sign_overdue', { t: dateTime(n.sign_by) });
    case 'reminder': return t('notice.reminder', { t: dateTime(n.deadline) });
    case 'overdue': return t('notice.overdue', { t: dateTime(n.deadline) });
    case 'escalated': return t('notice.escalated', { n: n.attempt, late: lateText(n.late_s), t: dateTime(n.deadline) });
    default: return data.message || n.kind || '';
  }
}

/** fieldName names an input the API named (its JSON field), or '' when unknown. */
function fieldName(field) {
  return field && hasKey(`field.${field}`) ? t(`field.${field}`) : '';
}

/**
 * errorText words a failed request: its code (and field) through the
 * tables, the network's failure, or, for a code this page does not know,
 * the API's English message.
 */
export function errorText(e) {
  if (e instanceof TypeError) return t('err.network');
  const code = e?.code || '';
  if (code && hasKey(`err.${code}.${e.field}`)) return t(`err.${code}.${e.field}`);
  if (code && hasKey(`err.code.${code}`)) {
    const msg = t(`err.code.${code}`);
    const f = fieldName(e.field);
    return f ? t('err.field', { field: f, msg }) : msg;
  }
  return e?.message || String(e);
}

/**
 * surgeNumber shows a surge's expected calls or recurrence in days: one
 * decimal below 10, whole numbers above, grouped by the language's habit.
 */
export function surgeNumber(v) {
  const x = Number(v) || 0;
  return x < 10 ? x.toFixed(x < 0.1 && x > 0 ? 2 : 1) : Math.round(x).toLocaleString(currentLang());
}
