// The page's picture of the world: the signed-in user, reference data, and
// the calls, incidents, tasks, alerts and presence that the REST API loads
// and the live events keep current. Records with a version (incidents,
// tasks) are replaced only by a newer or equal version, so an answer from
// the API that raced a live event never undoes it.

import { api } from './api.js';

export const state = {
  me: null, // {name, display_name, role, dept}
  categories: new Map(), // code -> {code, name_zh, name_en, group}
  groups: [],
  departments: new Map(), // code -> {code, name_zh, name_en, ...}
  districts: null, // GeoJSON FeatureCollection
  districtNames: new Map(), // code -> feature properties
  calls: new Map(), // id -> call
  incidents: new Map(), // id -> incident
  tasks: new Map(), // id -> task
  alerts: [], // newest first: {seq, at, ...alert data}
  unread: 0,
  presence: null,
  callIncident: new Map(), // call id -> incident id (from incidents' call lists and urgent alerts)
  urgentAlerts: new Map(), // incident id -> alert, as the call floor sees them
  notices: new Map(), // task id -> its supervision notices, newest last: {type, at, data}
  seqs: [], // seqs of the events applied, for the page's own checks
  config: { tile_url: '', tile_attribution: '' },
};

const listeners = new Map();

/** on registers fn for a kind of change: call, incident, task, alert, presence, reset. */
export function on(kind, fn) {
  if (!listeners.has(kind)) listeners.set(kind, new Set());
  listeners.get(kind).add(fn);
  return () => listeners.get(kind).delete(fn);
}

function emit(kind, ...args) {
  for (const fn of listeners.get(kind) || []) {
    try { fn(...args); } catch (e) { console.error(e); }
  }
}

/** clearListeners drops every listener (when a view is left). */
export function clearListeners() { listeners.clear(); }

/** resetState forgets everything the signed-in user saw (at sign-out). */
export function resetState() {
  state.me = null;
  for (const m of [state.calls, state.incidents, state.tasks, state.callIncident, state.urgentAlerts, state.notices]) m.clear();
  state.alerts = [];
  state.unread = 0;
  state.presence = null;
  state.seqs = [];
}

const keepCallsMs = 2 * 60 * 60 * 1000;
/** keepIncidentCalls is how many call ids of an incident are kept, newest last (the server keeps 500). */
const keepIncidentCalls = 500;

/** putCall stores a call and remembers which incident it belongs to, if known. */
export function putCall(c) {
  state.calls.set(c.id, c);
}

/** putIncident stores inc unless a newer version is already held; it returns whether it did. */
export function putIncident(inc) {
  const cur = state.incidents.get(inc.id);
  if (cur && cur.version > inc.version) return false;
  // Events carry only an incident's newest call ids: keep the older ones
  // already known (calls stay in their incident).
  if (cur && Array.isArray(cur.calls) && Array.isArray(inc.calls) && inc.calls.length < (inc.call_count ?? 0)) {
    const have = new Set(inc.calls);
    const older = cur.calls.filter((id) => !have.has(id));
    inc = { ...inc, calls: [...older, ...inc.calls].slice(-keepIncidentCalls) };
  }
  inc = keepOlder(cur, inc, 'notes', 'note_count');
  state.incidents.set(inc.id, inc);
  for (const id of inc.calls || []) state.callIncident.set(id, inc.id);
  return true;
}

/**
 * keepOlder returns rec with its list field merged with the older entries cur
 * already holds, when the event carried only the newest of them (rec[count]
 * says how many there are in all). Entries are notes: {at, actor, text}.
 */
function keepOlder(cur, rec, field, count) {
  const list = rec[field];
  if (!cur || !Array.isArray(cur[field]) || !Array.isArray(list) || !(rec[count] > list.length)) return rec;
  const key = (n) => `${n.at}|${n.actor}|${n.text ?? n.comment ?? ''}`;
  const have = new Set(list.map(key));
  const older = cur[field].filter((n) => !have.has(key(n)));
  return { ...rec, [field]: [...older, ...list].slice(-rec[count]) };
}

/** putTask stores t unless a newer version is already held; it returns whether it did. */
export function putTask(t) {
  const cur = state.tasks.get(t.id);
  if (cur && cur.version > t.version) return false;
  // Events carry only a task's newest progress notes and callbacks: keep the
  // older ones already known.
  t = keepOlder(cur, keepOlder(cur, t, 'progress', 'progress_count'), 'callbacks', 'callback_count');
  state.tasks.set(t.id, t);
  return true;
}

/** stripEvent returns an event's record without the fields the event adds. */
function stripEvent(data, extra) {
  const rec = { ...data };
  for (const k of extra) delete rec[k];
  return rec;
}

/** supervisionTypes are the events of a task's supervision timers, which carry a notice. */
export const supervisionTypes = ['task.reminder', 'task.sign_overdue', 'task.overdue', 'task.escalated'];

/** applyEvent folds one live message into the state and tells the listeners. */
export function applyEvent(msg) {
  const { type, data } = msg;
  if (msg.seq > 0) {
    state.seqs.push(msg.seq);
    if (state.seqs.length > 5000) state.seqs.splice(0, state.seqs.length - 5000);
  }
  if (type === 'call.received') {
    putCall(data);
    emit('call', data, msg);
  } else if (type.startsWith('incident.')) {
    const inc = stripEvent(data, ['reason', 'merged', 'note']);
    putIncident(inc);
    for (const id of data.merged || []) {
      const other = state.incidents.get(id);
      if (other) state.incidents.set(id, { ...other, state: 'merged', merged_into: inc.id });
    }
    emit('incident', state.incidents.get(inc.id), msg);
  } else if (type === 'alert.raised') {
    const a = { ...data, seq: msg.seq, at: msg.at, type };
    state.alerts.unshift(a);
    if (state.alerts.length > 300) state.alerts.length = 300;
    state.unread++;
    if (a.urgent && a.incident_id) state.urgentAlerts.set(a.incident_id, a);
    // An urgent call's alert names its call: the call floor links them by id.
    if (a.call_id && a.incident_id) state.callIncident.set(a.call_id, a.incident_id);
    emit('alert', a, msg);
  } else if (type.startsWith('task.') || type === 'callback.recorded') {
    const task = stripEvent(data, ['previous_dept', 'reason', 'note', 'callback', 'timer', 'message', 'notice']);
    if (supervisionTypes.includes(type)) {
      const list = state.notices.get(task.id) || [];
      list.push({ type, at: msg.at, seq: msg.seq, data: { notice: data.notice, message: data.message } });
      state.notices.set(task.id, list.slice(-10));
    }
    // A department that lost a task to a reassignment no longer holds it.
    if (state.me?.role === 'dept' && task.dept !== state.me.dept) {
      state.tasks.delete(task.id);
    } else {
      putTask(task);
    }
    emit('task', state.tasks.get(task.id) || task, msg);
  } else if (type === 'presence.changed') {
    state.presence = data;
    emit('presence', data);
  } else {
    emit('other', msg);
  }
}

/** pruneCalls forgets calls older than two hours. */
export function pruneCalls(now = Date.now()) {
  for (const [id, c] of state.calls) {
    if (now - new Date(c.received_at).getTime() > keepCallsMs) state.calls.delete(id);
  }
}

/** loadReference loads categories, departments, districts and the dashboard's config. */
export async function loadReference() {
  const [cats, deps, districts, config] = await Promise.all([
    api('GET', '/categories'),
    api('GET', '/departments').catch(() => ({ departments: [] })),
    api('GET', '/districts').catch(() => null),
    fetch('config.json', { cache: 'no-store' }).then((r) => r.json()).catch(() => ({})),
  ]);
  state.groups = cats.groups || [];
  state.categories = new Map((cats.categories || []).map((c) => [c.code, c]));
  state.departments = new Map((deps.departments || []).map((d) => [d.code, d]));
  state.districts = districts;
  state.districtNames = new Map((districts?.features || []).map((f) => [f.properties.code, f.properties]));
  state.config = { ...state.config, ...config };
}

/**
 * loadState loads what the signed-in role may see: recent calls (call floor,
 * leaders), active incidents and tasks (leaders, departments), recent alerts
 * and presence (leaders). Changes made while it loads arrive as live events
 * and are kept (see putIncident). fresh forgets the records held first, for
 * a resynchronisation after missed events.
 */
export async function loadState({ fresh = false } = {}) {
  if (fresh) {
    state.calls.clear();
    state.incidents.clear();
    state.tasks.clear();
    state.callIncident.clear();
  }
  const role = state.me.role;
  const leads = role === 'leader' || role === 'admin';
  const jobs = [];
  if (leads || role === 'agent') {
    const from = new Date(Date.now() - keepCallsMs).toISOString();
    jobs.push(api('GET', `/calls?limit=1000&from=${encodeURIComponent(from)}`).then((r) => {
      for (const c of r.calls) putCall(c);
    }));
  }
  if (leads || role === 'dept') {
    jobs.push(api('GET', '/incidents?state=open,confirmed&limit=500').then((r) => {
      for (const inc of r.incidents) putIncident(inc);
    }).catch(ignoreUnavailable));
    jobs.push(api('GET', '/tasks?limit=2000').then((r) => {
      for (const task of r.tasks) putTask(task);
    }).catch(ignoreUnavailable));
  }
  if (leads) {
    jobs.push(api('GET', '/audit?type=alert.&limit=100').then((r) => {
      const seen = new Set(state.alerts.map((a) => a.seq));
      const older = r.entries.filter((e) => !seen.has(e.seq))
        .map((e) => ({ ...e.data, seq: e.seq, at: e.at, type: e.type }));
      state.alerts = [...state.alerts, ...older].sort((a, b) => b.seq - a.seq).slice(0, 300);
    }).catch(ignoreUnavailable));
    jobs.push(api('GET', '/presence').then((p) => { state.presence = p; }).catch(ignoreUnavailable));
  }
  await Promise.all(jobs);
  emit('reset');
}

function ignoreUnavailable(e) {
  if (e.status === 503) return;
  throw e;
}
