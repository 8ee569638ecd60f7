// The incident panel of the leadership view: what the incident is (grade,
// state, place, categories), its calls' timeline, the dispatch plan with
// one-click dispatch, every task with its department, state and deadline
// countdown (and the actions leaders take on tasks), and the leadership
// actions on the incident.

import { api } from '../api.js';
import { h, replace, time, dateTime, countdown } from '../dom.js';
import { t } from '../i18n.js';
import { state, putIncident, putTask, on } from '../state.js';
import { actionForm } from '../forms.js';
import {
  deptName, districtName, gradeBadge, taskStateBadge, categoryChip, isOverdue, taskDeadline,
} from '../labels.js';
import { gradeReason, incidentName, noticeText, planReason } from '../messages.js';

/**
 * incidentPanel returns {el, show(id), hide()}: a panel that follows the
 * incident shown and its tasks live. onClose runs when the user closes it.
 */
export function incidentPanel({ onClose }) {
  const el = h('aside', { class: 'panel incident-panel', id: 'incident-panel', 'aria-label': t('incidents.title'), hidden: true });
  let id = '';
  let sections = null;
  let shownKey = {};
  const fetchedCalls = new Set();

  const latest = () => state.incidents.get(id);
  const tasksOf = () => [...state.tasks.values()].filter((tk) => tk.incident_id === id)
    .sort((a, b) => a.dept.localeCompare(b.dept));

  async function act(body) {
    const inc = latest();
    const out = await api('POST', `/incidents/${encodeURIComponent(id)}/actions`, { version: inc.version, ...body });
    putIncident(out);
    paint();
  }

  async function taskAct(task, body) {
    const cur = state.tasks.get(task.id) || task;
    const out = await api('POST', `/tasks/${encodeURIComponent(task.id)}/actions`, { version: cur.version, ...body });
    putTask(out);
    paint();
  }

  function show(newID) {
    if (!newID) { hide(); return; }
    if (newID !== id) {
      id = newID;
      shownKey = {};
      sections = {
        head: h('header', { class: 'panel-head' }),
        meta: h('dl', { class: 'meta' }),
        cats: h('div', { class: 'chips' }),
        plan: h('section', { class: 'plan', 'aria-labelledby': 'plan-h' }),
        tasks: h('section', { class: 'tasks', 'aria-labelledby': 'tasks-h' }),
        notes: h('section', { class: 'notes' }),
        actions: h('section', { class: 'actions', 'aria-labelledby': 'actions-h' }),
        calls: h('section', { class: 'calls', 'aria-labelledby': 'calls-h' }),
      };
      replace(el, sections.head, h('div', { class: 'panel-body' }, sections.meta, sections.cats, sections.plan,
        sections.tasks, sections.actions, sections.notes, sections.calls));
      el.dataset.incidentId = id;
      el.hidden = false;
      if (!state.incidents.has(id)) load();
      else loadTasks();
    }
    paint();
  }

  async function load() {
    try {
      putIncident(await api('GET', `/incidents/${encodeURIComponent(id)}`));
      await loadTasks();
    } catch (e) {
      if (e.status === 404 || e.status === 403) {
        replace(el, h('header', { class: 'panel-head' }, h('h2', {}, t('panel.notfound')), closeButton()));
        el.dataset.notFound = 'true';
        return;
      }
      throw e;
    }
    paint();
  }

  async function loadTasks() {
    const r = await api('GET', `/incidents/${encodeURIComponent(id)}/tasks`).catch(() => null);
    for (const task of r?.tasks || []) putTask(task);
    paint();
  }

  function hide() {
    id = '';
    el.hidden = true;
    el.replaceChildren();
    delete el.dataset.incidentId;
  }

  function closeButton() {
    return h('button', { type: 'button', class: 'ghost close', 'aria-label': t('panel.close'), onclick: () => onClose() }, '×');
  }

  /** paint repaints the sections whose data changed, leaving open forms alone. */
  function paint() {
    const inc = latest();
    if (!inc || !sections) return;
    const tasks = tasksOf();
    const key = (name, v) => {
      const k = JSON.stringify(v);
      if (shownKey[name] === k) return false;
      shownKey[name] = k;
      return true;
    };
    if (key('head', [inc.version, inc.grade, inc.state, incidentName(inc)])) {
      replace(sections.head,
        h('div', {}, gradeBadge(inc.grade, true), ' ', h('span', { class: `istate istate-${inc.state}` }, t(`istate.${inc.state}`))),
        h('h2', { id: 'incident-title' }, incidentName(inc)),
        closeButton());
    }
    if (key('meta', [inc.version])) {
      const row = (k, v) => [h('dt', {}, k), h('dd', {}, v || '—')];
      replace(sections.meta,
        row(t('panel.district'), districtName(inc.district)),
        row(t('panel.lead'), inc.lead_dept ? deptName(inc.lead_dept) : ''),
        row(t('panel.opened'), dateTime(inc.opened_at)),
        row(t('incidents.calls', { n: inc.call_count ?? inc.calls.length }), `${time(inc.first_call_at)} – ${time(inc.last_call_at)}`),
        inc.grade_reason ? row(t('panel.gradereason'), gradeReason(inc.grade_reason)) : null);
      replace(sections.cats, Object.entries(inc.categories || {}).sort((a, b) => b[1] - a[1])
        .map(([c, n]) => categoryChip(c, n)));
    }
    if (key('plan', [inc.plan, inc.state])) paintPlan(inc);
    if (key('tasks', tasks.map((tk) => [tk.id, tk.version]))) paintTasks(inc, tasks);
    if (key('actions', [inc.state, id])) paintActions(inc);
    if (key('notes', [inc.notes?.length || 0])) {
      replace(sections.notes, (inc.notes || []).length ? [h('h3', {}, t('panel.notes')),
        h('ul', {}, inc.notes.map((n) => h('li', {}, h('time', {}, dateTime(n.at)), ' ', n.text, h('span', { class: 'muted' }, ` · ${n.actor}`))))] : []);
    }
    if (key('calls', [inc.call_count ?? inc.calls.length, inc.calls.at(-1), state.calls.size])) paintCalls(inc);
  }

  function paintPlan(inc) {
    const plan = inc.plan;
    if (!plan) { sections.plan.replaceChildren(); return; }
    const items = h('ul', { class: 'plan-items' }, plan.items.map((it) => h('li', {},
      h('strong', {}, deptName(it.dept)), h('span', { class: 'muted' }, ` — ${planReason(it.reason)}`))));
    let form = null;
    if (!plan.dispatched && ['open', 'confirmed'].includes(inc.state)) {
      const boxes = plan.items.map((it) => h('div', { class: 'check' },
        h('input', { type: 'checkbox', id: `plan-${it.dept}`, name: it.dept, 'data-group': 'depts', checked: true }),
        h('label', { for: `plan-${it.dept}` }, deptName(it.dept))));
      form = actionForm({
        label: t('panel.plan.dispatch'),
        submitLabel: t('panel.plan.dispatch'),
        testid: 'dispatch',
        fields: [...boxes, {
          name: 'class', label: t('panel.plan.class'), type: 'select', value: plan.class,
          options: ['emergency', 'utility', 'general', 'complex'].map((c) => [c, t(`class.${c}`)]),
        }],
        submit: (v) => act({ action: 'dispatch', depts: v.depts, class: v.class }),
      });
      form.open = true;
    }
    replace(sections.plan,
      h('h3', { id: 'plan-h' }, t('panel.plan'), ' ',
        h('span', { class: plan.dispatched ? 'badge ok' : 'badge warn' }, plan.dispatched ? t('panel.plan.dispatched') : t('panel.plan.waiting')),
        ' ', h('span', { class: 'muted' }, t(`class.${plan.class}`))),
      items, form);
  }

  function paintTasks(inc, tasks) {
    replace(sections.tasks, h('h3', { id: 'tasks-h' }, t('panel.tasks')),
      tasks.length === 0 ? h('p', { class: 'muted' }, t('panel.tasks.none')) :
        h('ul', { class: 'task-rows' }, tasks.map((tk) => taskRow(tk))));
  }

  function taskRow(tk) {
    const ext = tk.extension;
    const actions = [];
    if (tk.state === 'completed') {
      actions.push(actionForm({ label: t('act.verify'), testid: 'verify', submit: () => taskAct(tk, { action: 'verify' }) }));
      actions.push(actionForm({
        label: t('act.reject'), testid: 'reject_result', fields: [{ name: 'reason', label: t('act.reason'), type: 'textarea', required: true }],
        submit: (v) => taskAct(tk, { action: 'reject_result', reason: v.reason }),
      }));
    }
    if (tk.state === 'returned') {
      actions.push(actionForm({
        label: t('act.reassign'), testid: 'reassign',
        fields: [{
          name: 'dept', label: t('act.reassign.dept'), type: 'select', required: true,
          options: [...state.departments.values()].filter((d) => d.code !== tk.dept).map((d) => [d.code, deptName(d.code)]),
        }],
        submit: (v) => taskAct(tk, { action: 'reassign', dept: v.dept }),
      }));
    }
    if (ext && !ext.decision) {
      actions.push(actionForm({ label: t('act.ext.approve'), testid: 'approve', submit: () => taskAct(tk, { action: 'decide_extension', approve: true }) }));
      actions.push(actionForm({ label: t('act.ext.deny'), testid: 'deny', danger: true, submit: () => taskAct(tk, { action: 'decide_extension', approve: false }) }));
    }
    if (tk.state === 'completed' || tk.state === 'verified') {
      actions.push(actionForm({
        label: t('act.callback'), testid: 'callback',
        fields: [
          { name: 'reached', label: t('act.callback.reached'), type: 'checkbox', value: true },
          { name: 'satisfaction', label: t('act.callback.satisfaction'), type: 'select', options: ['satisfied', 'basically_satisfied', 'unsatisfied'].map((s) => [s, t(`sat.${s}`)]) },
          { name: 'comment', label: t('act.callback.comment'), type: 'textarea' },
        ],
        submit: async (v) => {
          const body = { reached: v.reached, comment: v.comment || undefined };
          if (v.reached) body.satisfaction = v.satisfaction;
          putTask(await api('POST', `/tasks/${encodeURIComponent(tk.id)}/callbacks`, body));
          paint();
        },
      }));
    }
    const open = ['dispatched', 'signed', 'in_progress', 'reopened'].includes(tk.state);
    const notice = open ? state.notices.get(tk.id)?.at(-1) : null;
    return h('li', { class: `task-row ${isOverdue(tk) ? 'is-overdue' : ''}`, dataset: { taskId: tk.id, state: tk.state } },
      h('div', { class: 'task-line' },
        h('strong', {}, deptName(tk.dept)), ' ', taskStateBadge(tk), ' ',
        open ? countdown(taskDeadline(tk)) : h('span', { class: 'muted' }, dateTime(tk.completed_at || tk.updated_at)),
        tk.escalations ? h('span', { class: 'badge danger' }, t('task.escalations', { n: tk.escalations })) : null),
      notice ? h('div', { class: 'task-notice', dataset: { type: notice.type } }, noticeText(notice.data)) : null,
      ext ? h('div', { class: 'muted' }, ext.decision ? t(`task.extension.${ext.decision}`, { t: dateTime(ext.new_deadline) })
        : t('task.extension.pending', { t: dateTime(ext.new_deadline), r: ext.reason })) : null,
      tk.result ? h('div', {}, h('span', { class: 'muted' }, t('label', { k: t('task.result') })), tk.result) : null,
      (tk.progress || []).length ? h('div', { class: 'muted' }, t('label', { k: t('task.progress') }), tk.progress[tk.progress.length - 1].text) : null,
      actions.length ? h('div', { class: 'row-actions' }, actions) : null);
  }

  function paintActions(inc) {
    if (!['open', 'confirmed'].includes(inc.state)) { sections.actions.replaceChildren(); return; }
    const grades = [1, 2, 3, 4].map((g) => [String(g), t(`grade.${g}`)]);
    const depts = [...state.departments.values()].map((d) => [d.code, deptName(d.code)]);
    const others = [...state.incidents.values()]
      .filter((o) => o.id !== inc.id && ['open', 'confirmed'].includes(o.state))
      .map((o) => [o.id, `${incidentName(o)} (${o.id.slice(0, 10)})`]);
    replace(sections.actions,
      h('h3', { id: 'actions-h' }, t('panel.actions')),
      h('div', { class: 'action-list' },
        inc.state === 'open' ? actionForm({ label: t('act.confirm'), testid: 'confirm', submit: () => act({ action: 'confirm' }) }) : null,
        actionForm({
          label: t('act.regrade'), testid: 'regrade',
          fields: [
            { name: 'grade', label: t('panel.grade'), type: 'select', options: grades, value: String(inc.grade) },
            { name: 'reason', label: t('act.reason'), type: 'textarea', required: true },
          ],
          submit: (v) => act({ action: 'regrade', grade: Number(v.grade), reason: v.reason }),
        }),
        actionForm({
          label: t('act.lead'), testid: 'lead_dept',
          fields: [{ name: 'dept', label: t('act.lead'), type: 'select', options: depts, value: inc.lead_dept || inc.plan?.items?.[0]?.dept }],
          submit: (v) => act({ action: 'lead_dept', dept: v.dept }),
        }),
        actionForm({
          label: t('act.note'), testid: 'note',
          fields: [{ name: 'text', label: t('act.note.text'), type: 'textarea', required: true }],
          submit: (v) => act({ action: 'note', text: v.text }),
        }),
        others.length ? actionForm({
          label: t('act.merge'), testid: 'merge',
          fields: [
            { name: 'other', label: t('act.merge.other'), type: 'select', options: others },
            { name: 'reason', label: t('act.reason'), type: 'textarea', required: true },
          ],
          submit: async (v) => {
            putIncident(await api('POST', `/incidents/${encodeURIComponent(id)}/merge`, { other: v.other, reason: v.reason }));
            paint();
          },
        }) : null,
        actionForm({
          label: t('act.close'), testid: 'close', danger: true,
          fields: [{ name: 'summary', label: t('act.close.summary'), type: 'textarea', required: true }],
          submit: (v) => act({ action: 'close', summary: v.summary }),
        })));
  }

  function paintCalls(inc) {
    const shown = [];
    const missing = [];
    for (const cid of inc.calls) {
      const c = state.calls.get(cid);
      if (c) shown.push(c);
      else missing.push(cid);
    }
    // Fetch the latest missing calls (older than the page's two hours).
    const want = missing.slice(-20).filter((cid) => !fetchedCalls.has(cid));
    for (const cid of want) {
      fetchedCalls.add(cid);
      api('GET', `/calls/${encodeURIComponent(cid)}`).then((c) => { state.calls.set(c.id, c); shownKey.calls = ''; paint(); }).catch(() => {});
    }
    shown.sort((a, b) => new Date(b.received_at) - new Date(a.received_at));
    replace(sections.calls,
      h('h3', { id: 'calls-h' }, t('panel.calls'), ' ', h('span', { class: 'muted' }, t('incidents.calls', { n: inc.call_count ?? inc.calls.length }))),
      h('ol', { class: 'timeline' }, shown.slice(0, 60).map((c) => h('li', { dataset: { callId: c.id } },
        h('time', {}, time(c.received_at)), ' ',
        categoryChip(c.category), ' ',
        c.urgent ? h('span', { class: 'badge danger' }, t('calls.urgent')) : null, ' ',
        h('span', {}, c.address || `${c.lat.toFixed(4)}, ${c.lon.toFixed(4)}`),
        c.description ? h('div', { class: 'muted' }, c.description) : null))),
      (inc.call_count ?? inc.calls.length) > shown.slice(0, 60).length ? h('p', { class: 'muted' }, t('panel.calls.more', { n: (inc.call_count ?? inc.calls.length) - Math.min(60, shown.length) })) : null);
  }

  on('incident', (inc) => { if (inc && inc.id === id) paint(); });
  on('task', (tk) => { if (tk && tk.incident_id === id) paint(); });
  on('reset', () => { shownKey = {}; paint(); });

  return { el, show, hide, get id() { return id; } };
}
