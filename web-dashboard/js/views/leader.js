// The leadership group's command view, made for a wall screen: the live map
// (recent calls fading with age, incidents coloured by grade, district
// outlines), the alert feed with sound and notifications, the incidents, the
// cross-department task board, the departments online and the assessment
// figures. Selecting an incident opens its panel.

import uPlot from '../../vendor/uplot/uPlot.esm.js';
import { L, createMap, incidentShape, categoryColour, gradeColour, textTip } from '../mapview.js';
import { baselineLayer } from '../baselinelayer.js';
import { h, replace, time, dateTime, countdown, pct, throttle } from '../dom.js';
import { t } from '../i18n.js';
import { state, on } from '../state.js';
import { beep, enableSound, soundAllowed, askNotify, notify, notifyState } from '../sound.js';
import { incidentPanel } from './incident.js';
import {
  categoryName, deptName, districtName, gradeBadge, taskStateBadge, isOpenTask, isOverdue, taskDeadline,
} from '../labels.js';
import { alertKind, alertText, alertTitle, incidentName } from '../messages.js';

const callWindowMin = 60;

export function renderLeader(root, arg) {
  // alive is false once the view is left: timers and answers that come
  // later must not touch its removed map.
  let alive = true;
  const later = (fn, wait) => throttle(() => { if (alive) fn(); }, wait);
  const mapEl = h('div', { class: 'map', id: 'leader-map', role: 'region' });
  const legend = h('div', { class: 'legend', 'aria-label': t('map.legend') });
  const alertList = h('ol', { class: 'alert-list', id: 'alert-list' });
  const unreadBadge = h('span', { class: 'badge danger', id: 'unread', 'aria-live': 'polite' });
  const soundBtn = h('button', { type: 'button', class: 'ghost small', id: 'sound-btn' });
  const notifyBtn = h('button', { type: 'button', class: 'ghost small', id: 'notify-btn' });
  const incidentList = h('ul', { class: 'incident-list', id: 'incident-list' });
  const board = h('div', { class: 'board', id: 'task-board' });
  const boardCount = h('span', { class: 'badge danger', id: 'overdue-count' });
  const online = h('ul', { class: 'online', id: 'online' });
  const onlineCount = h('span', { class: 'muted' });
  const figures = h('dl', { class: 'figures', id: 'figures' });
  const chartEl = h('div', { class: 'chart', id: 'calls-chart' });
  const panel = incidentPanel({ onClose: () => { location.hash = '#/leader'; } });

  replace(root, h('div', { class: 'leader-grid' },
    h('section', { class: 'card map-card', 'aria-labelledby': 'map-h' },
      h('h2', { id: 'map-h' }, t('map.title'), ' ', h('span', { class: 'muted', id: 'map-count' })), mapEl, legend),
    h('section', { class: 'card alerts-card', 'aria-labelledby': 'alerts-h' },
      h('div', { class: 'card-head' }, h('h2', { id: 'alerts-h' }, t('alerts.title'), ' ', unreadBadge),
        h('button', { type: 'button', class: 'ghost small', id: 'mark-read', onclick: markRead }, t('alerts.markread'))),
      h('div', { class: 'alert-tools' }, soundBtn, notifyBtn),
      alertList),
    h('section', { class: 'card incidents-card', 'aria-labelledby': 'inc-h' },
      h('h2', { id: 'inc-h' }, t('incidents.title')), incidentList),
    h('section', { class: 'card board-card', 'aria-labelledby': 'board-h' },
      h('h2', { id: 'board-h' }, t('board.title'), ' ', boardCount), board),
    h('section', { class: 'card figures-card', 'aria-labelledby': 'fig-h' },
      h('h2', { id: 'fig-h' }, t('figures.title')), figures,
      h('h3', { class: 'chart-title' }, t('figures.chart')), chartEl),
    h('section', { class: 'card online-card', 'aria-labelledby': 'online-h' },
      h('h2', { id: 'online-h' }, t('online.title'), ' ', onlineCount), online),
    panel.el));

  // ---- map ----
  const { map } = createMap(mapEl, { label: t('map.title') });
  const baseline = baselineLayer(map);
  const svg = L.svg({ padding: 0.2 });
  const callLayer = L.layerGroup().addTo(map);
  const incidentLayer = L.layerGroup().addTo(map);
  const callMarkers = new Map(); // id -> marker
  const incidentShapes = new Map(); // id -> {layer, key}

  function addCall(c) {
    if (callMarkers.has(c.id)) return;
    const m = L.circleMarker([c.lat, c.lon], {
      renderer: svg, radius: c.urgent ? 8 : 5, weight: c.urgent ? 2 : 1, color: c.urgent ? '#b00020' : '#fff',
      fillColor: categoryColour(c.category), fillOpacity: 0.9,
    });
    m.bindTooltip(() => textTip(`${time(c.received_at)} ${categoryName(c.category)}${c.urgent ? ` · ${t('calls.urgent')}` : ''}${c.address ? ` · ${c.address}` : ''}`));
    m.on('add', () => {
      const el = m.getElement();
      if (el) { el.dataset.callId = c.id; el.classList.add('call-marker'); }
    });
    m.addTo(callLayer);
    callMarkers.set(c.id, m);
    fade(c, m, Date.now());
  }

  function fade(c, m, now) {
    const age = (now - new Date(c.received_at).getTime()) / 60000;
    if (age > callWindowMin) {
      callLayer.removeLayer(m);
      callMarkers.delete(c.id);
      return;
    }
    const o = Math.max(0.15, 1 - age / callWindowMin);
    m.setStyle({ fillOpacity: 0.9 * o, opacity: o });
  }

  function paintCalls() {
    const now = Date.now();
    for (const c of state.calls.values()) {
      if (now - new Date(c.received_at).getTime() <= callWindowMin * 60000) addCall(c);
    }
    for (const [id, m] of callMarkers) {
      const c = state.calls.get(id);
      if (!c) { callLayer.removeLayer(m); callMarkers.delete(id); continue; }
      fade(c, m, now);
    }
    const count = document.getElementById('map-count');
    if (count) count.textContent = `${callMarkers.size} ${t('map.calls', { n: callWindowMin })}`;
    mapEl.dataset.calls = String(callMarkers.size);
  }

  function paintIncidents() {
    const active = new Set();
    for (const inc of state.incidents.values()) {
      if (!['open', 'confirmed'].includes(inc.state)) continue;
      active.add(inc.id);
      const key = `${inc.version}:${inc.grade}:${inc.state}`;
      const cur = incidentShapes.get(inc.id);
      if (cur && cur.key === key) continue;
      if (cur) incidentLayer.removeLayer(cur.layer);
      const layer = incidentShape(inc, svg);
      layer.on('click', () => { location.hash = `#/leader/${encodeURIComponent(inc.id)}`; });
      layer.bindTooltip(() => textTip(`${t(`grade.short.${inc.grade}`)} · ${incidentName(inc)}`));
      layer.on('add', () => {
        const parts = layer.getElement ? [layer] : layer.getLayers();
        for (const p of parts) {
          const el = p.getElement?.();
          if (el) { el.dataset.incidentId = inc.id; el.classList.add('incident-shape', `grade-${inc.grade}`); }
        }
      });
      // A marker of fixed size at the centroid keeps a small incident
      // visible at any zoom.
      const dot = L.circleMarker([inc.centroid[1], inc.centroid[0]], {
        renderer: svg, radius: 11, color: '#111', weight: 2, fillColor: gradeColour[inc.grade] || '#666', fillOpacity: 0.95,
      });
      dot.on('click', () => { location.hash = `#/leader/${encodeURIComponent(inc.id)}`; });
      dot.bindTooltip(() => textTip(`${t(`grade.short.${inc.grade}`)} · ${incidentName(inc)}`));
      dot.on('add', () => { const el = dot.getElement(); if (el) { el.dataset.incidentId = inc.id; el.classList.add('incident-marker'); } });
      const group = L.featureGroup([layer, dot]);
      group.addTo(incidentLayer);
      incidentShapes.set(inc.id, { layer: group, shape: layer, key });
    }
    for (const [id, cur] of incidentShapes) {
      if (!active.has(id)) { incidentLayer.removeLayer(cur.layer); incidentShapes.delete(id); }
    }
  }

  function paintLegend() {
    replace(legend,
      [1, 2, 3, 4].map((g) => h('span', { class: 'legend-item' },
        h('span', { class: 'swatch', style: `background:${gradeColour[g]}`, 'aria-hidden': 'true' }), t(`grade.${g}`))),
      [...state.categories.keys()].map((c) => h('span', { class: 'legend-item' },
        h('span', { class: 'dot-swatch', style: `background:${categoryColour(c)}`, 'aria-hidden': 'true' }), categoryName(c))));
  }

  // ---- alerts ----
  function paintAlerts() {
    replace(alertList, state.alerts.length === 0 ? h('li', { class: 'muted' }, t('alerts.none')) :
      state.alerts.slice(0, 80).map((a, i) => h('li', {
        class: `alert alert-${a.colour || 'none'} ${i < state.unread ? 'unread' : ''}`, dataset: { seq: a.seq, incidentId: a.incident_id || '' },
      }, h('button', {
        type: 'button', class: 'alert-btn',
        onclick: () => { if (a.incident_id) location.hash = `#/leader/${encodeURIComponent(a.incident_id)}`; },
      },
      h('div', { class: 'alert-line' },
        a.grade ? gradeBadge(a.grade) : null, ' ',
        h('strong', {}, alertKind(a)), ' ',
        a.urgent ? h('span', { class: 'badge danger' }, t('calls.urgent')) : null,
        h('time', {}, time(a.at))),
      h('div', { class: 'alert-title' }, alertTitle(a)),
      h('div', { class: 'alert-msg muted' }, alertText(a))))));
    unreadBadge.textContent = state.unread > 0 ? t('alerts.unread', { n: state.unread }) : '';
    unreadBadge.hidden = state.unread === 0;
    document.title = state.unread > 0 ? `(${state.unread}) ${t('app.title')}` : t('app.title');
  }

  function markRead() {
    state.unread = 0;
    paintAlerts();
  }

  function paintTools() {
    soundBtn.textContent = soundAllowed() ? t('alerts.sound.off') : t('alerts.sound.on');
    soundBtn.setAttribute('aria-pressed', String(soundAllowed()));
    soundBtn.onclick = async () => { await enableSound(); beep(); paintTools(); };
    const ns = notifyState();
    notifyBtn.hidden = ns === 'unsupported';
    notifyBtn.textContent = ns === 'granted' ? t('alerts.notify.on') : ns === 'denied' ? t('alerts.notify.denied') : t('alerts.notify');
    notifyBtn.disabled = ns !== 'default';
    notifyBtn.onclick = async () => { await askNotify(); paintTools(); };
  }

  // ---- incidents ----
  function paintIncidentList() {
    const list = [...state.incidents.values()].filter((i) => ['open', 'confirmed'].includes(i.state))
      .sort((a, b) => a.grade - b.grade || new Date(b.updated_at) - new Date(a.updated_at));
    replace(incidentList, list.length === 0 ? h('li', { class: 'muted' }, t('incidents.none')) : list.map((inc) => h('li', {
      class: `incident-item ${panel.id === inc.id ? 'selected' : ''}`, dataset: { incidentId: inc.id, grade: inc.grade },
    }, h('a', { href: `#/leader/${encodeURIComponent(inc.id)}` },
      gradeBadge(inc.grade), ' ',
      h('span', { class: 'incident-title' }, incidentName(inc)), ' ',
      h('span', { class: `istate istate-${inc.state}` }, t(`istate.${inc.state}`)),
      h('div', { class: 'muted' }, t('incidents.calls', { n: inc.call_count ?? inc.calls.length }), ' · ', districtName(inc.district), ' · ', time(inc.last_call_at))))));
  }

  // ---- task board ----
  const columns = [
    ['todo', (tk) => tk.state === 'dispatched' || tk.state === 'reopened'],
    ['doing', (tk) => tk.state === 'signed' || tk.state === 'in_progress'],
    ['done', (tk) => tk.state === 'completed'],
    ['returned', (tk) => tk.state === 'returned'],
    ['closed', (tk) => tk.state === 'verified'],
  ];

  function paintBoard() {
    const now = Date.now();
    const tasks = [...state.tasks.values()];
    const overdue = tasks.filter((tk) => isOverdue(tk, now)).length;
    boardCount.textContent = overdue ? t('board.overdue', { n: overdue }) : '';
    boardCount.hidden = overdue === 0;
    replace(board, columns.map(([name, match]) => {
      const items = tasks.filter(match).sort((a, b) => Number(isOverdue(b, now)) - Number(isOverdue(a, now)) ||
        new Date(taskDeadline(a)) - new Date(taskDeadline(b)));
      return h('section', { class: `column column-${name}`, 'aria-label': t(`board.col.${name}`), dataset: { column: name } },
        h('h3', {}, t(`board.col.${name}`), ' ', h('span', { class: 'muted' }, String(items.length))),
        h('ul', {}, items.slice(0, 40).map((tk) => {
          const inc = state.incidents.get(tk.incident_id);
          return h('li', { class: `task-card ${isOverdue(tk, now) ? 'is-overdue' : ''}`, dataset: { taskId: tk.id, state: tk.state, dept: tk.dept } },
            h('a', { href: `#/leader/${encodeURIComponent(tk.incident_id)}` },
              h('div', {}, h('strong', {}, deptName(tk.dept)), ' ', taskStateBadge(tk)),
              h('div', { class: 'muted' }, inc ? incidentName(inc) : tk.incident_id),
              isOpenTask(tk) ? countdown(taskDeadline(tk)) : h('span', { class: 'muted' }, dateTime(tk.completed_at || tk.updated_at))));
        }),
        items.length > 40 ? h('li', { class: 'muted' }, `+${items.length - 40}`) : null));
    }));
  }

  // ---- departments online ----
  function paintOnline() {
    const on = new Map((state.presence?.departments || []).map((d) => [d.dept, d]));
    const depts = [...state.departments.values()];
    onlineCount.textContent = t('online.count', { n: depts.filter((d) => on.has(d.code)).length, m: depts.length });
    replace(online, depts.sort((a, b) => Number(on.has(b.code)) - Number(on.has(a.code)))
      .map((d) => h('li', { class: on.has(d.code) ? 'is-online' : 'is-offline', dataset: { dept: d.code } },
        h('span', { class: 'dot', 'aria-hidden': 'true' }), deptName(d.code),
        on.has(d.code) ? h('span', { class: 'muted' }, ` ×${on.get(d.code).users}`) : null)));
  }

  // ---- assessment figures ----
  let plot = null;
  function paintFigures() {
    const now = Date.now();
    const tasks = [...state.tasks.values()];
    const completed = tasks.filter((tk) => tk.completed_at);
    const onTime = completed.filter((tk) => new Date(tk.completed_at) <= new Date(tk.deadline)).length;
    const signed = tasks.filter((tk) => tk.signed_at);
    const signedOnTime = signed.filter((tk) => new Date(tk.signed_at) <= new Date(tk.sign_by)).length;
    const finished = tasks.filter((tk) => tk.state === 'completed' || tk.state === 'verified');
    const calledBack = finished.filter((tk) => (tk.callbacks || []).length > 0).length;
    const reached = tasks.flatMap((tk) => (tk.callbacks || []).filter((cb) => cb.reached));
    const content = reached.filter((cb) => cb.satisfaction === 'satisfied' || cb.satisfaction === 'basically_satisfied').length;
    const overdue = tasks.filter((tk) => isOverdue(tk, now)).length;
    const row = (k, v, sub, id) => h('div', { class: 'figure', dataset: { figure: id } }, h('dt', {}, k), h('dd', {}, v, sub ? h('small', {}, ` ${sub}`) : null));
    replace(figures,
      row(t('figures.ontime'), pct(onTime, completed.length), `${onTime}/${completed.length}`, 'ontime'),
      row(t('figures.signontime'), pct(signedOnTime, signed.length), `${signedOnTime}/${signed.length}`, 'signontime'),
      row(t('figures.callback'), pct(calledBack, finished.length), `${calledBack}/${finished.length}`, 'callback'),
      row(t('figures.satisfaction'), pct(content, reached.length), `${content}/${reached.length}`, 'satisfaction'),
      row(t('figures.overdue'), String(overdue), '', 'overdue'),
      row(t('figures.calls'), String(state.calls.size), '', 'calls'),
      h('p', { class: 'note muted' }, t('figures.note', { n: tasks.length })));
    paintChart(now);
  }

  function paintChart(now) {
    const bin = 5 * 60;
    const end = Math.ceil(now / 1000 / bin) * bin;
    const xs = [];
    for (let x = end - 24 * bin; x < end; x += bin) xs.push(x);
    const all = xs.map(() => 0);
    const urgent = xs.map(() => 0);
    for (const c of state.calls.values()) {
      const i = Math.floor((new Date(c.received_at).getTime() / 1000 - xs[0]) / bin);
      if (i >= 0 && i < xs.length) { all[i]++; if (c.urgent) urgent[i]++; }
    }
    const data = [xs, all, urgent];
    const width = Math.max(200, chartEl.clientWidth || 300);
    if (!plot) {
      plot = new uPlot({
        width, height: 110,
        scales: { x: { time: true } },
        axes: [{ values: (u, vals) => vals.map((v) => time(v * 1000).slice(0, 5)) }, {}],
        series: [{ label: t('figures.chart.time') }, { label: t('figures.chart.all'), stroke: '#2b7bd6', width: 2 },
          { label: t('figures.chart.urgent'), stroke: '#d7191c', width: 2 }],
      }, data, chartEl);
    } else {
      plot.setData(data);
      if (Math.abs(plot.width - width) > 10) plot.setSize({ width, height: 110 });
    }
  }

  // ---- live ----
  const repaintCalls = later(() => { paintCalls(); });
  const repaintIncidents = later(() => { paintIncidents(); paintIncidentList(); });
  const repaintBoard = later(() => { paintBoard(); paintFigures(); });
  const repaintAll = () => { paintCalls(); paintIncidents(); paintIncidentList(); paintAlerts(); paintBoard(); paintOnline(); paintFigures(); paintLegend(); paintTools(); };

  on('call', () => repaintCalls());
  on('incident', () => repaintIncidents());
  on('task', () => repaintBoard());
  on('presence', () => paintOnline());
  on('reset', repaintAll);
  on('alert', (a) => {
    paintAlerts();
    beep(a.urgent || a.grade <= 2);
    notify(`${alertKind(a)} · ${alertTitle(a)}`, alertText(a), `alert-${a.seq}`);
    const item = alertList.querySelector(`[data-seq="${a.seq}"]`);
    if (item) item.classList.add('flash');
  });

  repaintAll();
  const timers = [
    setInterval(paintCalls, 15000),
    setInterval(() => { paintBoard(); paintFigures(); }, 30000),
  ];
  const resize = new ResizeObserver(later(() => { map.invalidateSize(); if (plot) paintChart(Date.now()); }, 200));
  resize.observe(mapEl);
  resize.observe(chartEl);

  function routeTo(id) {
    panel.show(id);
    root.querySelector('.leader-grid')?.classList.toggle('with-panel', Boolean(id));
    paintIncidentList();
    setTimeout(() => {
      if (!alive) return;
      map.invalidateSize();
      focusIncident(id);
    }, 50);
  }

  // focusIncident shows the incident on the map, beside the panel.
  function focusIncident(id) {
    const shape = incidentShapes.get(id);
    if (!shape) return;
    const b = shape.shape.getBounds();
    if (!b.isValid()) return;
    const covered = Math.min(panel.el.offsetWidth || 0, mapEl.clientWidth / 2);
    // Without tiles, stay far enough out that the districts give the place.
    map.fitBounds(b.pad(0.6), { paddingBottomRight: [covered, 0], maxZoom: state.config.tile_url ? 16 : 12.5, animate: false });
  }
  routeTo(arg);

  return {
    route: routeTo,
    dispose() {
      alive = false;
      timers.forEach(clearInterval);
      baseline.dispose();
      resize.disconnect();
      map.remove();
      if (plot) plot.destroy();
    },
  };
}
