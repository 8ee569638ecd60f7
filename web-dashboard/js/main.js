// The dashboard's entry: sign-in, the header (views, connection indicator,
// clock, language), the live connection and the hash routes:
//   #/leader[/<incident id>]  leadership command map (leaders, admins)
//   #/dept[/<task id>]        a department's task inbox (departments)
//   #/floor                   call-floor intake (agents, admins)

import { api, setCSRF, setUnauthorizedHandler } from './api.js';
import { Live } from './live.js';
import { t, setLang, currentLang, onLang } from './i18n.js';
import { h, replace, time, tickCountdowns, throttle } from './dom.js';
import { state, applyEvent, loadReference, loadState, clearListeners, pruneCalls, resetState } from './state.js';
import { renderSignIn } from './views/signin.js';
import { renderLeader } from './views/leader.js';
import { renderDept } from './views/dept.js';
import { renderFloor } from './views/floor.js';
import { toast } from './toast.js';
import { deptName } from './labels.js';

const app = document.getElementById('app');
const header = document.getElementById('topbar');
let live = null;
let view = null; // {name, dispose, route}
let loaded = false;

/** viewsFor lists the views a role may open, the first being its home. */
function viewsFor(role) {
  switch (role) {
    case 'leader': return ['leader'];
    case 'admin': return ['leader', 'floor'];
    case 'agent': return ['floor'];
    case 'dept': return ['dept'];
    default: return [];
  }
}

function parseRoute() {
  const [, name = '', arg = ''] = location.hash.match(/^#\/([a-z]*)\/?([^/]*)$/) || [];
  return { name, arg: decodeURIComponent(arg) };
}

function renderHeader() {
  const me = state.me;
  const views = me ? viewsFor(me.role) : [];
  const current = parseRoute().name;
  replace(header,
    h('div', { class: 'brand' },
      h('span', { class: 'logo', 'aria-hidden': 'true' }, '12345'),
      h('div', {},
        h('h1', {}, t('app.title')),
        h('span', { class: 'subtitle' }, t('app.subtitle')))),
    h('nav', { 'aria-label': 'views' },
      views.map((v) => h('a', {
        href: `#/${v}`, class: v === current ? 'active' : '', 'aria-current': v === current ? 'page' : false,
      }, t(`nav.${v}`)))),
    h('div', { class: 'spacer' }),
    me && h('div', { id: 'conn', class: 'conn', role: 'status', 'aria-live': 'polite', title: t('conn.title') }),
    h('time', { id: 'clock', class: 'clock', 'aria-label': 'Asia/Shanghai' }, time(new Date())),
    h('button', {
      type: 'button', class: 'ghost', id: 'lang', 'aria-label': t('lang.switch.label'),
      onclick: () => setLang(currentLang() === 'en' ? 'zh-CN' : 'en'),
    }, t('lang.switch')),
    me && h('span', { class: 'who' }, `${me.display_name} · ${t(`role.${me.role}`)}${me.dept ? ` · ${deptName(me.dept)}` : ''}`),
    me && h('button', { type: 'button', class: 'ghost', id: 'signout', onclick: signOut }, t('signout')),
  );
  paintStatus(lastStatus);
}

let lastStatus = { state: 'connecting', lastSeq: -1 };

function paintStatus(s) {
  lastStatus = s;
  const el = document.getElementById('conn');
  if (!el) return;
  const label = {
    connecting: t('conn.connecting'),
    live: t('conn.live'),
    resync: t('conn.resync'),
    offline: t('conn.offline'),
    reconnecting: t('conn.reconnecting', { s: s.retryIn ?? 0 }),
  }[s.state] || s.state;
  el.className = `conn conn-${s.state}`;
  el.dataset.state = s.state;
  el.dataset.lastSeq = String(s.lastSeq ?? -1);
  replace(el, h('span', { class: 'dot', 'aria-hidden': 'true' }), h('span', { class: 'label' }, label),
    s.lastSeq > 0 ? h('span', { class: 'seq' }, t('conn.last', { seq: s.lastSeq })) : null);
}

// paintSeq shows the last event's seq in the connection indicator.
const paintSeq = throttle(() => {
  if (live && lastStatus.state === 'live') paintStatus({ ...lastStatus, lastSeq: live.lastSeq });
}, 500);

async function signOut() {
  try { await api('DELETE', '/session'); } catch { /* cleared below anyway */ }
  signedOut();
}

function signedOut(expired = false) {
  if (live) { live.stop(); live = null; }
  if (view) { view.dispose?.(); view = null; }
  clearListeners();
  resetState();
  loaded = false;
  remember(false);
  setCSRF('');
  renderHeader();
  renderSignIn(app, { expired, onSignedIn: start });
}

setUnauthorizedHandler(() => { if (state.me) signedOut(true); });

/** start runs once the user is signed in: load reference data, connect, route. */
async function start(session) {
  state.me = session.user;
  remember(true);
  setCSRF(session.csrf_token);
  await loadReference();
  renderHeader();
  live = new Live({
    onEvent: (msg) => {
      applyEvent(msg);
      if (msg.seq > 0) paintSeq();
    },
    onResync: async () => {
      await loadState({ fresh: loaded });
      loaded = true;
      route();
    },
    onStatus: paintStatus,
    stillSignedIn: async () => {
      try {
        const s = await api('GET', '/session', undefined, { quiet401: true });
        if (s?.signed_in === false) { signedOut(true); return false; }
        return true;
      } catch (e) {
        if (e.status === 401) { signedOut(true); return false; }
        throw e;
      }
    },
  });
  // For diagnostics from the browser's console (and the browser tests).
  window.flareLive = live;
  window.flareState = state;
  live.start();
  if (!location.hash || !viewsFor(state.me.role).includes(parseRoute().name)) {
    location.hash = `#/${viewsFor(state.me.role)[0]}`;
  }
}

function route() {
  if (!state.me || !loaded) return;
  const r = parseRoute();
  const allowed = viewsFor(state.me.role);
  if (!allowed.includes(r.name)) {
    location.hash = `#/${allowed[0]}`;
    return;
  }
  if (view && view.name === r.name) {
    view.route?.(r.arg);
    renderHeader();
    return;
  }
  if (view) view.dispose?.();
  clearListeners();
  app.replaceChildren();
  const render = { leader: renderLeader, dept: renderDept, floor: renderFloor }[r.name];
  view = { name: r.name, ...render(app, r.arg) };
  renderHeader();
}

window.addEventListener('hashchange', route);
onLang(() => {
  // Messages shown in the other language go; the views are drawn anew.
  document.getElementById('toasts')?.replaceChildren();
  document.title = t('app.title');
  renderHeader();
  if (!state.me) {
    renderSignIn(app, { onSignedIn: start });
    return;
  }
  if (view) {
    view.dispose?.();
    view = null;
    clearListeners();
    app.replaceChildren();
  }
  route();
});

setInterval(() => {
  const c = document.getElementById('clock');
  if (c) c.textContent = time(new Date());
  tickCountdowns();
}, 1000);
setInterval(() => pruneCalls(), 60 * 1000);

window.addEventListener('error', (e) => toast(t('err.generic', { m: e.message }), 'error'));

document.documentElement.lang = currentLang();
document.title = t('app.title');

// The browser logs every 401 answer as an error in its console, and a page
// opened while signed out would get one from GET /api/v1/session. The page
// therefore remembers whether it signed in (the cookie itself is HttpOnly)
// and asks the server only then; a session that ended meanwhile answers 401
// once and the hint is dropped.
const signedInHint = 'flare.signed-in';

function remember(on) {
  try {
    if (on) localStorage.setItem(signedInHint, '1');
    else localStorage.removeItem(signedInHint);
  } catch { /* storage unavailable: the page asks the server every time */ }
}

function mayBeSignedIn() {
  try { return localStorage.getItem(signedInHint) !== null; } catch { return true; }
}

(async function boot() {
  renderHeader();
  if (!mayBeSignedIn()) {
    renderSignIn(app, { onSignedIn: start });
    return;
  }
  try {
    const session = await api('GET', '/session', undefined, { quiet401: true });
    if (session?.signed_in === false) {
      remember(false);
      renderSignIn(app, { onSignedIn: start });
      return;
    }
    await start(session);
  } catch (e) {
    if (e.status === 401) {
      remember(false);
      renderSignIn(app, { onSignedIn: start });
    } else {
      toast(t('err.network'), 'error');
      setTimeout(boot, 3000);
    }
  }
})();
