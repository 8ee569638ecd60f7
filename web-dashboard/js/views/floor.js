// The call floor's view: register a call (place picked on the map or typed,
// category, urgent switch, description), keyboard-first (Ctrl+Enter
// registers), and the recent calls with the incidents they joined. An
// urgent call is confirmed twice: when it is stored, and when the
// leadership group's alert about it comes back.

import { api, randomKey } from '../api.js';
import { L, createMap, categoryColour } from '../mapview.js';
import { h, replace, time, throttle } from '../dom.js';
import { t, localName } from '../i18n.js';
import { state, on } from '../state.js';
import { field, showError } from '../forms.js';
import { toast } from '../toast.js';
import { categoryName, gradeBadge } from '../labels.js';
import { alertText, alertTitle, incidentName } from '../messages.js';

export function renderFloor(root) {
  // alive is false once the view is left: timers and answers that come
  // later must not touch its removed map.
  let alive = true;
  const later = (fn, wait) => throttle(() => { if (alive) fn(); }, wait);
  const mapEl = h('div', { class: 'map', id: 'floor-map', role: 'region' });
  const recent = h('ol', { class: 'recent-calls', id: 'recent-calls' });
  const banner = h('div', { class: 'urgent-banner', id: 'urgent-banner', role: 'alert', hidden: true });
  const error = h('p', { class: 'form-error', role: 'alert' });
  const mine = new Map(); // call id -> {urgent, confirmed alert}
  const canOpenIncidents = state.me.role === 'admin' || state.me.role === 'leader';

  const groups = state.groups.length ? state.groups : [{ code: '', name_zh: '', name_en: '' }];
  const category = h('select', { id: 'call-category', name: 'category', required: true },
    h('option', { value: '' }, '—'),
    groups.map((g) => {
      const cats = [...state.categories.values()].filter((c) => !g.code || c.group === g.code);
      const opts = cats.map((c) => h('option', { value: c.code }, localName(c)));
      return g.code ? h('optgroup', { label: localName(g) }, opts) : opts;
    }));
  const lat = h('input', { id: 'call-lat', name: 'lat', type: 'number', step: 'any', min: -90, max: 90, required: true, inputmode: 'decimal' });
  const lon = h('input', { id: 'call-lon', name: 'lon', type: 'number', step: 'any', min: -180, max: 180, required: true, inputmode: 'decimal' });
  const urgent = h('input', { id: 'call-urgent', name: 'urgent', type: 'checkbox', role: 'switch' });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'call-submit' }, t('floor.submit'));
  let idemKey = '';

  const form = h('form', {
    class: 'call-form', id: 'call-form', 'aria-labelledby': 'floor-h', novalidate: false,
    onsubmit: (ev) => { ev.preventDefault(); register(); },
    onkeydown: (ev) => {
      if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); register(); }
    },
    oninput: () => { idemKey = ''; },
  },
  h('fieldset', {},
    h('legend', {}, t('floor.location')),
    h('p', { class: 'hint muted', id: 'loc-hint' }, t('floor.location.hint')),
    h('div', { class: 'row' },
      h('div', { class: 'field' }, h('label', { for: 'call-lat' }, t('floor.lat')), lat),
      h('div', { class: 'field' }, h('label', { for: 'call-lon' }, t('floor.lon')), lon)),
    field({ name: 'address', label: t('floor.address'), maxlength: 500 }, 'call')),
  h('div', { class: 'field' }, h('label', { for: 'call-category' }, t('floor.category')), category),
  h('div', { class: 'switch-field' }, urgent, h('label', { for: 'call-urgent' }, t('floor.urgent'))),
  field({ name: 'description', label: t('floor.description'), type: 'textarea', maxlength: 4000 }, 'call'),
  field({ name: 'caller', label: t('floor.caller') }, 'call'),
  error,
  submit);

  replace(root, h('div', { class: 'floor-grid' },
    h('section', { class: 'card form-card' }, h('h2', { id: 'floor-h' }, t('floor.title')), banner, form),
    h('section', { class: 'card map-card', 'aria-label': t('floor.location') }, mapEl),
    h('section', { class: 'card recent-card', 'aria-labelledby': 'recent-h' }, h('h2', { id: 'recent-h' }, t('floor.recent')), recent)));

  const { map } = createMap(mapEl, { label: t('floor.location.hint') });
  const svg = L.svg();
  const callLayer = L.layerGroup().addTo(map);
  let pin = null;

  function setPin(la, lo, pan = false) {
    if (pin) pin.setLatLng([la, lo]);
    else pin = L.circleMarker([la, lo], { renderer: svg, radius: 10, color: '#111', weight: 3, fillColor: '#fff', fillOpacity: 0.8 }).addTo(map);
    if (pan) map.panTo([la, lo]);
  }
  map.on('click', (ev) => {
    lat.value = ev.latlng.lat.toFixed(6);
    lon.value = ev.latlng.lng.toFixed(6);
    idemKey = '';
    setPin(ev.latlng.lat, ev.latlng.lng);
    toast(t('floor.pick'), 'info', 1500);
    category.focus();
  });
  const typed = () => {
    const la = Number(lat.value);
    const lo = Number(lon.value);
    if (lat.value && lon.value && Number.isFinite(la) && Number.isFinite(lo)) setPin(la, lo, true);
  };
  lat.addEventListener('change', typed);
  lon.addEventListener('change', typed);

  async function register() {
    error.textContent = '';
    for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
    if (!lat.value || !lon.value) {
      error.textContent = t('floor.nolocation');
      lat.setAttribute('aria-invalid', 'true');
      lat.focus();
      return;
    }
    const v = Object.fromEntries(new FormData(form).entries());
    const body = {
      lat: Number(lat.value), lon: Number(lon.value), category: category.value, urgent: urgent.checked,
    };
    for (const k of ['address', 'description', 'caller']) if (v[k]) body[k] = v[k];
    // The same key for retries of this call, so that a timeout never stores it twice.
    if (!idemKey) idemKey = randomKey();
    submit.disabled = true;
    try {
      const data = await api('POST', '/calls', body, { headers: { 'Idempotency-Key': idemKey } });
      idemKey = '';
      mine.set(data.id, { urgent: data.urgent });
      state.calls.set(data.id, data);
      toast(data.urgent ? t('floor.saved.urgent', { id: data.id }) : t('floor.saved', { id: data.id }), data.urgent ? 'warn' : 'ok');
      if (data.urgent) {
        showBanner(t('floor.saved.urgent', { id: data.id }), false);
        matchAlerts();
      }
      for (const k of ['description', 'caller']) form.elements[k].value = '';
      urgent.checked = false;
      paintRecent();
      category.focus();
    } catch (e) {
      showError(form, error, e, { location: 'lat' });
    } finally {
      submit.disabled = false;
    }
  }

  function showBanner(text, confirmed) {
    banner.hidden = false;
    banner.className = `urgent-banner ${confirmed ? 'confirmed' : 'pending'}`;
    banner.textContent = text;
  }

  // An urgent call's alert names it by call_id. The alert may arrive
  // before the answer to the call's POST, so alerts for calls this seat
  // does not know yet wait a while for their call.
  const pendingAlerts = [];
  function matchAlerts() {
    for (let i = pendingAlerts.length - 1; i >= 0; i--) {
      const a = pendingAlerts[i];
      const id = a.call_id ?? legacyCallOf(a);
      const m = id && mine.get(id);
      if (!m || !m.urgent || m.alert) continue;
      pendingAlerts.splice(i, 1);
      m.alert = a;
      state.callIncident.set(id, a.incident_id);
      showBanner(t('floor.urgent.confirmed', { title: alertTitle(a) || a.incident_id }), true);
    }
    if (pendingAlerts.length > 20) pendingAlerts.splice(0, pendingAlerts.length - 20);
  }
  // legacyCallOf finds the call of an alert from a server of the previous
  // release, which sends no call_id: its message ends with the call's
  // category and address. To be removed with that release.
  function legacyCallOf(a) {
    if (typeof a.message !== 'string') return '';
    const calls = [...mine.entries()].filter(([, m]) => m.urgent && !m.alert)
      .map(([id]) => state.calls.get(id)).filter(Boolean)
      .sort((x, y) => new Date(y.received_at) - new Date(x.received_at));
    return calls.find((c) => a.message.endsWith(c.address ? `${c.category} @ ${c.address}` : `：${c.category}`))?.id || '';
  }
  on('alert', (a) => {
    if (a.kind !== 'urgent_call') return;
    pendingAlerts.push(a);
    matchAlerts();
    paintRecent();
  });

  function incidentLink(c) {
    const incID = state.callIncident.get(c.id);
    if (!incID) return null;
    const inc = state.incidents.get(incID);
    const alert = state.urgentAlerts.get(incID);
    const title = inc ? incidentName(inc) : (alert ? alertTitle(alert) : incID);
    const grade = inc?.grade || alert?.grade;
    if (canOpenIncidents) {
      return h('a', { class: 'incident-link', href: `#/leader/${encodeURIComponent(incID)}` }, grade ? gradeBadge(grade) : null, ' ', title);
    }
    return h('details', { class: 'incident-link' }, h('summary', {}, grade ? gradeBadge(grade) : null, ' ', t('floor.incident'), ' ', title),
      h('p', { class: 'muted' }, alert ? alertText(alert) : ''), h('p', { class: 'muted' }, incID));
  }

  function paintRecent() {
    if (!alive) return;
    const calls = [...state.calls.values()].sort((a, b) => new Date(b.received_at) - new Date(a.received_at)).slice(0, 50);
    replace(recent, calls.length === 0 ? h('li', { class: 'muted' }, t('floor.recent.none')) : calls.map((c) => {
      const m = mine.get(c.id);
      return h('li', { class: `${c.urgent ? 'is-urgent' : ''} ${m ? 'is-mine' : ''}`, dataset: { callId: c.id, seq: c.seq } },
        h('time', {}, time(c.received_at)), ' ',
        h('span', { class: 'swatch', style: `background:${categoryColour(c.category)}`, 'aria-hidden': 'true' }), ' ',
        h('strong', {}, categoryName(c.category)), ' ',
        c.urgent ? h('span', { class: `badge danger ${m?.alert ? 'confirmed' : ''}` }, m?.alert ? `✓ ${t('calls.urgent')}` : t('calls.urgent')) : null, ' ',
        h('span', {}, c.address || `${c.lat.toFixed(4)}, ${c.lon.toFixed(4)}`),
        c.description ? h('div', { class: 'muted' }, c.description) : null,
        incidentLink(c));
    }));
    paintMapCalls(calls);
  }

  function paintMapCalls(calls) {
    callLayer.clearLayers();
    for (const c of calls) {
      L.circleMarker([c.lat, c.lon], { renderer: svg, radius: c.urgent ? 7 : 4, weight: 1, color: '#fff', fillColor: categoryColour(c.category), fillOpacity: 0.8, interactive: false }).addTo(callLayer);
    }
  }

  const repaint = later(paintRecent);
  on('call', repaint);
  on('incident', repaint);
  on('reset', paintRecent);
  paintRecent();
  lat.focus();
  const resize = new ResizeObserver(later(() => map.invalidateSize(), 200));
  resize.observe(mapEl);

  return {
    dispose() {
      alive = false;
      resize.disconnect();
      map.remove();
    },
  };
}
