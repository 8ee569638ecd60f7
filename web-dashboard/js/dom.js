// Small helpers: building DOM without innerHTML (so that text from calls and
// notes is never read as markup), and times in Asia/Shanghai.

import { currentLang, t } from './i18n.js';

/**
 * h builds an element: h('div', {class: 'x', onclick: fn}, child, 'text').
 * Attributes starting with "on" become listeners; false/null/undefined ones
 * are left out; children may be nodes, strings, numbers, arrays or null.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'dataset') {
      Object.assign(el.dataset, v);
    } else if (k === 'value' && 'value' in el) {
      el.value = v;
    } else if (k === 'checked' || k === 'selected' || k === 'disabled') {
      el[k] = Boolean(v);
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

/** replace empties el and appends children. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const zone = 'Asia/Shanghai';
const formats = new Map();

function fmt(opts) {
  const key = currentLang() + JSON.stringify(opts);
  let f = formats.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat(currentLang() === 'en' ? 'en-GB' : 'zh-CN', { timeZone: zone, hour12: false, ...opts });
    formats.set(key, f);
  }
  return f;
}

/** time formats an RFC 3339 time (or Date) as HH:MM:SS in Asia/Shanghai. */
export function time(v) {
  if (!v) return '';
  return fmt({ hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(new Date(v));
}

/** dateTime formats as MM-DD HH:MM in Asia/Shanghai. */
export function dateTime(v) {
  if (!v) return '';
  const parts = Object.fromEntries(fmt({ month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' })
    .formatToParts(new Date(v)).map((p) => [p.type, p.value]));
  return `${parts.month}-${parts.day} ${parts.hour}:${parts.minute}`;
}

/** shanghaiInput formats a Date for a datetime-local input in Asia/Shanghai. */
export function shanghaiInput(d) {
  const parts = Object.fromEntries(fmt({ year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' })
    .formatToParts(d).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}

/** fromShanghaiInput reads a datetime-local value as Asia/Shanghai time (UTC+8, no daylight saving). */
export function fromShanghaiInput(v) {
  if (!v) return null;
  const d = new Date(`${v}:00+08:00`);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** duration formats milliseconds as H:MM:SS (or Nd H:MM beyond a day). */
export function duration(ms) {
  const s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86400);
  const hh = Math.floor((s % 86400) / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return d > 0 ? `${d}d ${hh}:${mm}` : `${hh}:${mm}:${ss}`;
}

/**
 * countdown returns an element showing the time left until deadline (or how
 * far past it), refreshed by tickCountdowns; data-deadline keeps the time.
 */
export function countdown(deadline) {
  const el = h('span', { class: 'countdown', dataset: { deadline } });
  paintCountdown(el, Date.now());
  return el;
}

function paintCountdown(el, now) {
  const left = new Date(el.dataset.deadline).getTime() - now;
  el.classList.toggle('overdue', left < 0);
  el.classList.toggle('soon', left >= 0 && left < 30 * 60 * 1000);
  el.textContent = left < 0 ? t('task.overdue', { t: duration(left) }) : t('task.left', { t: duration(left) });
}

/** tickCountdowns repaints every countdown on the page. */
export function tickCountdowns() {
  const now = Date.now();
  for (const el of document.querySelectorAll('.countdown')) paintCountdown(el, now);
}

/** pct formats a ratio as a percentage, or a dash when there is no denominator. */
export function pct(num, den) {
  if (!den) return t('figures.na');
  return `${((100 * num) / den).toFixed(1)}%`;
}

/**
 * throttle returns fn wrapped to run at most once per wait milliseconds, so
 * that a burst of events repaints once (timers also run in a background tab,
 * where animation frames do not).
 */
export function throttle(fn, wait = 60) {
  let queued = false;
  return () => {
    if (queued) return;
    queued = true;
    setTimeout(() => { queued = false; fn(); }, wait);
  };
}
