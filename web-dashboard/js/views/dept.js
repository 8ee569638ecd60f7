// A member department's view: its inbox of pushed tasks (new ones announced
// by sound and highlighted), the selected task with the department's
// actions (sign for, report progress, complete, return, ask for an
// extension) and their forms, deadline countdowns, and a map of its tasks.

import { api } from '../api.js';
import { L, createMap, gradeColour, textTip } from '../mapview.js';
import { h, replace, dateTime, countdown, throttle, shanghaiInput, fromShanghaiInput } from '../dom.js';
import { t } from '../i18n.js';
import { state, on, putTask, putIncident, supervisionTypes } from '../state.js';
import { actionForm } from '../forms.js';
import { beep, notify } from '../sound.js';
import { toast } from '../toast.js';
import { deptName, districtName, gradeBadge, taskStateBadge, isOpenTask, isOverdue, taskDeadline } from '../labels.js';
import { errorText, incidentName, noticeText, taskInstructions } from '../messages.js';

export function renderDept(root, arg) {
  // alive is false once the view is left: timers and answers that come
  // later must not touch its removed map.
  let alive = true;
  const later = (fn, wait) => throttle(() => { if (alive) fn(); }, wait);
  const list = h('ul', { class: 'inbox', id: 'inbox' });
  const detail = h('section', { class: 'card task-detail', id: 'task-detail', 'aria-live': 'polite' });
  const mapEl = h('div', { class: 'map', id: 'dept-map', role: 'region' });
  let filter = 'open';
  const fresh = new Set(); // tasks pushed while the page was open and not yet opened
  let selected = arg || '';
  let detailKey = '';

  const filterBtns = ['open', 'all'].map((f) => h('button', {
    type: 'button', class: 'ghost small', 'aria-pressed': String(filter === f),
    onclick: () => { filter = f; filterBtns.forEach((b, i) => b.setAttribute('aria-pressed', String(['open', 'all'][i] === f))); paintList(); },
  }, t(`dept.filter.${f}`)));

  replace(root, h('div', { class: 'dept-grid' },
    h('section', { class: 'card inbox-card', 'aria-labelledby': 'inbox-h' },
      h('div', { class: 'card-head' }, h('h2', { id: 'inbox-h' }, t('dept.inbox'), ' · ', deptName(state.me.dept)), h('div', { role: 'group' }, filterBtns)),
      list),
    detail,
    h('section', { class: 'card map-card', 'aria-labelledby': 'dmap-h' }, h('h2', { id: 'dmap-h' }, t('dept.map')), mapEl)));

  const { map } = createMap(mapEl, { label: t('dept.map') });
  const markers = L.layerGroup().addTo(map);
  const svg = L.svg();

  const mine = () => [...state.tasks.values()].filter((tk) => tk.dept === state.me.dept);

  function paintList() {
    const now = Date.now();
    const tasks = mine().filter((tk) => filter === 'all' || isOpenTask(tk) || tk.id === selected)
      .sort((a, b) => Number(isOverdue(b, now)) - Number(isOverdue(a, now)) || Number(isOpenTask(b)) - Number(isOpenTask(a)) ||
        new Date(taskDeadline(a)) - new Date(taskDeadline(b)));
    replace(list, tasks.length === 0 ? h('li', { class: 'muted' }, t('dept.inbox.none')) : tasks.map((tk) => {
      const inc = state.incidents.get(tk.incident_id);
      return h('li', {
        class: `task-card ${fresh.has(tk.id) ? 'is-new' : ''} ${isOverdue(tk, now) ? 'is-overdue' : ''} ${tk.id === selected ? 'selected' : ''}`,
        dataset: { taskId: tk.id, state: tk.state },
      }, h('a', { href: `#/dept/${encodeURIComponent(tk.id)}`, 'aria-current': tk.id === selected ? 'true' : false },
        h('div', {}, fresh.has(tk.id) ? h('span', { class: 'badge danger' }, t('dept.new')) : null, ' ',
          inc ? gradeBadge(inc.grade) : null, ' ', taskStateBadge(tk), ' ', h('span', { class: 'muted' }, t(`class.${tk.class}`))),
        h('div', { class: 'task-title' }, inc ? incidentName(inc) : tk.incident_id),
        isOpenTask(tk) ? countdown(taskDeadline(tk)) : h('span', { class: 'muted' }, dateTime(tk.completed_at || tk.updated_at))));
    }));
  }

  function paintMap() {
    markers.clearLayers();
    const seen = new Set();
    for (const tk of mine()) {
      const inc = state.incidents.get(tk.incident_id);
      if (!inc || seen.has(inc.id)) continue;
      seen.add(inc.id);
      const colour = gradeColour[inc.grade] || '#666';
      const m = L.circleMarker([inc.centroid[1], inc.centroid[0]], {
        renderer: svg, radius: isOpenTask(tk) ? 10 : 6, color: '#222', weight: tk.id === selected ? 3 : 1, fillColor: colour, fillOpacity: isOpenTask(tk) ? 0.9 : 0.4,
      });
      m.bindTooltip(() => textTip(`${incidentName(inc)} · ${t(`tstate.${tk.state}`)}`));
      m.on('click', () => { location.hash = `#/dept/${encodeURIComponent(tk.id)}`; });
      m.on('add', () => { const el = m.getElement(); if (el) el.dataset.taskId = tk.id; });
      markers.addLayer(m);
    }
  }

  async function ensureIncident(id) {
    if (state.incidents.has(id)) return;
    try { putIncident(await api('GET', `/incidents/${encodeURIComponent(id)}`)); } catch { /* shown without it */ }
  }

  async function act(task, body) {
    const cur = state.tasks.get(task.id) || task;
    try {
      putTask(await api('POST', `/tasks/${encodeURIComponent(task.id)}/actions`, { version: cur.version, ...body }));
    } catch (e) {
      if (e.code === 'version_conflict') {
        putTask(await api('GET', `/tasks/${encodeURIComponent(task.id)}`));
        detailKey = '';
        paintAll();
      }
      throw e;
    }
    detailKey = '';
    paintAll();
  }

  async function paintDetail() {
    if (!selected) {
      detailKey = '';
      replace(detail, h('p', { class: 'muted center' }, t('dept.select')));
      return;
    }
    let tk = state.tasks.get(selected);
    if (!tk && detailKey === `missing:${selected}`) return;
    if (!tk) {
      try {
        tk = await api('GET', `/tasks/${encodeURIComponent(selected)}`);
        putTask(tk);
      } catch (e) {
        if (e.status === 404 || e.status === 403) {
          detailKey = `missing:${selected}`;
          replace(detail, h('div', { class: 'not-found', dataset: { notFound: 'true' } }, h('h2', {}, t('task.notfound')), h('p', { class: 'muted' }, selected)));
          return;
        }
        throw e;
      }
    }
    await ensureIncident(tk.incident_id);
    tk = state.tasks.get(selected) || tk;
    const inc = state.incidents.get(tk.incident_id);
    const notices = [...(state.notices.get(tk.id) || [])].reverse();
    const key = `${tk.id}:${tk.version}:${inc?.version}:${notices.length}`;
    if (key === detailKey) return;
    detailKey = key;
    fresh.delete(tk.id);
    const actions = [];
    const can = (states) => states.includes(tk.state);
    if (can(['dispatched', 'reopened'])) {
      actions.push(actionForm({ label: t('dept.sign'), testid: 'sign', submit: () => act(tk, { action: 'sign' }) }));
    }
    if (can(['signed', 'in_progress'])) {
      actions.push(actionForm({
        label: t('dept.progress'), testid: 'progress', fields: [{ name: 'note', label: t('dept.progress.note'), type: 'textarea', required: true }],
        submit: (v) => act(tk, { action: 'progress', note: v.note }),
      }));
      actions.push(actionForm({
        label: t('dept.complete'), testid: 'complete', fields: [{ name: 'note', label: t('dept.complete.note'), type: 'textarea', required: true }],
        submit: (v) => act(tk, { action: 'complete', note: v.note }),
      }));
    }
    if (can(['dispatched', 'signed'])) {
      actions.push(actionForm({
        label: t('dept.return'), testid: 'return', danger: true, fields: [{ name: 'reason', label: t('dept.return.reason'), type: 'textarea', required: true }],
        submit: (v) => act(tk, { action: 'return', reason: v.reason }),
      }));
    }
    if (isOpenTask(tk) && !(tk.extension && !tk.extension.decision)) {
      const suggested = new Date(new Date(tk.deadline).getTime() + 24 * 3600 * 1000);
      actions.push(actionForm({
        label: t('dept.extend'), testid: 'request_extension',
        fields: [
          { name: 'new_deadline', label: t('dept.extend.until'), type: 'datetime-local', required: true, value: shanghaiInput(suggested) },
          { name: 'reason', label: t('dept.extend.reason'), type: 'textarea', required: true },
        ],
        submit: (v) => {
          const d = fromShanghaiInput(v.new_deadline);
          return act(tk, { action: 'request_extension', reason: v.reason, new_deadline: d ? d.toISOString() : v.new_deadline });
        },
      }));
    }
    const ext = tk.extension;
    replace(detail, h('article', { dataset: { taskId: tk.id, state: tk.state } },
      h('header', {},
        h('div', {}, inc ? gradeBadge(inc.grade, true) : null, ' ', taskStateBadge(tk), ' ', h('span', { class: 'muted' }, t(`class.${tk.class}`))),
        h('h2', {}, inc ? incidentName(inc) : tk.incident_id)),
      h('dl', { class: 'meta' },
        h('dt', {}, t('task.signby')), h('dd', {}, dateTime(tk.sign_by), ' ', tk.signed_at ? h('span', { class: 'muted' }, `✓ ${dateTime(tk.signed_at)}`) : countdown(tk.sign_by)),
        h('dt', {}, t('task.deadline')), h('dd', {}, dateTime(tk.deadline), ' ', isOpenTask(tk) ? countdown(tk.deadline) : null),
        inc ? [h('dt', {}, t('panel.district')), h('dd', {}, districtName(inc.district) || '—')] : null,
        inc?.lead_dept ? [h('dt', {}, t('panel.lead')), h('dd', {}, deptName(inc.lead_dept))] : null),
      h('h3', {}, t('task.instructions')), h('p', { class: 'instructions' }, taskInstructions(tk, inc)),
      notices.length ? [h('h3', {}, t('task.notice')), h('ul', { class: 'notices' }, notices.map((n) => h('li', { dataset: { type: n.type } },
        h('time', {}, dateTime(n.at)), ' ', noticeText(n.data))))] : null,
      ext ? h('p', { class: 'extension' }, h('strong', {}, t('label', { k: t('task.extension') })),
        ext.decision ? t(`task.extension.${ext.decision}`, { t: dateTime(ext.new_deadline) }) : t('task.extension.pending', { t: dateTime(ext.new_deadline), r: ext.reason })) : null,
      tk.result ? [h('h3', {}, t('task.result')), h('p', {}, tk.result)] : null,
      (tk.progress || []).length ? [h('h3', {}, t('task.progress')),
        h('ol', { class: 'timeline' }, tk.progress.map((p) => h('li', {}, h('time', {}, dateTime(p.at)), ' ', p.text)))] : null,
      (tk.callbacks || []).length ? [h('h3', {}, t('task.callbacks')),
        h('ul', {}, tk.callbacks.map((cb) => h('li', {}, dateTime(cb.at), ' ', cb.satisfaction ? t(`sat.${cb.satisfaction}`) : '—', cb.comment ? ` · ${cb.comment}` : '')))] : null,
      actions.length ? h('div', { class: 'action-list' }, actions) : null));
  }

  function paintAll() {
    if (!alive) return;
    paintList();
    paintMap();
    paintDetail().catch((e) => toast(t('err.generic', { m: errorText(e) }), 'error'));
  }

  const repaint = later(paintAll);
  on('task', (tk, msg) => {
    if (tk.dept === state.me.dept && (msg.type === 'task.dispatched' || msg.type === 'task.reassigned' || msg.type === 'task.reopened')) {
      fresh.add(tk.id);
      beep(tk.class === 'emergency');
      ensureIncident(tk.incident_id).then(() => {
        const inc = state.incidents.get(tk.incident_id);
        const title = inc ? incidentName(inc) : tk.incident_id;
        toast(t('toast.newtask', { title }), 'warn');
        notify(t('toast.newtask', { title }), taskInstructions(tk, inc), `task-${tk.id}`);
        repaint();
      });
    }
    if (tk.dept === state.me.dept && supervisionTypes.includes(msg.type)) {
      const inc = state.incidents.get(tk.incident_id);
      toast(t('toast.notice', { title: inc ? incidentName(inc) : tk.incident_id, notice: noticeText(msg.data) }), 'warn', 10000);
    }
    if (tk.id === selected) detailKey = '';
    repaint();
  });
  on('incident', () => repaint());
  on('reset', () => { detailKey = ''; paintAll(); });

  paintAll();
  const resize = new ResizeObserver(later(() => map.invalidateSize(), 200));
  resize.observe(mapEl);

  return {
    route(id) {
      selected = id || '';
      detailKey = '';
      paintAll();
    },
    dispose() {
      alive = false;
      resize.disconnect();
      map.remove();
    },
  };
}
