// Short messages at the corner of the screen, read out by screen readers.

import { h } from './dom.js';

/** toast shows text for a few seconds; kind is 'info', 'ok', 'warn' or 'error'. */
export function toast(text, kind = 'info', ms = 6000) {
  const box = document.getElementById('toasts');
  if (!box) return;
  const el = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
  box.append(el);
  setTimeout(() => el.remove(), ms);
}
