// Action forms: a labelled, keyboard-friendly form behind a disclosure
// button, which sends one API request and reports the outcome.

import { h } from './dom.js';
import { t } from './i18n.js';
import { toast } from './toast.js';
import { errorText } from './messages.js';

let formSeq = 0;

/**
 * field builds a labelled input. spec: {name, label, type: 'text' |
 * 'textarea' | 'select' | 'checkbox' | 'datetime-local' | 'number',
 * options: [[value, label]], value, required, min, max}.
 */
export function field(spec, idPrefix) {
  const id = `${idPrefix}-${spec.name}`;
  let input;
  switch (spec.type) {
    case 'textarea':
      input = h('textarea', { id, name: spec.name, rows: 3, required: spec.required, maxlength: spec.maxlength || 2000 });
      if (spec.value) input.value = spec.value;
      break;
    case 'select':
      input = h('select', { id, name: spec.name, required: spec.required },
        spec.options.map(([v, label]) => h('option', { value: v, selected: v === spec.value }, label)));
      break;
    case 'checkbox':
      return h('div', { class: 'check' },
        h('input', { id, name: spec.name, type: 'checkbox', checked: spec.value }),
        h('label', { for: id }, spec.label));
    default:
      input = h('input', {
        id, name: spec.name, type: spec.type || 'text', required: spec.required, value: spec.value,
        min: spec.min, max: spec.max, step: spec.step, autocomplete: 'off',
      });
  }
  return h('div', { class: 'field' }, h('label', { for: id }, spec.label), input);
}

/** readForm returns the form's values by name (checkboxes as booleans). */
export function readForm(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    if (el.type === 'checkbox') {
      if (el.dataset.group) {
        (out[el.dataset.group] ||= []);
        if (el.checked) out[el.dataset.group].push(el.name);
      } else {
        out[el.name] = el.checked;
      }
    } else {
      out[el.name] = el.value;
    }
  }
  return out;
}

/**
 * actionForm returns a disclosure with a form. submit(values) sends the
 * request; its errors are shown on the form (the field at fault marked) and
 * as a message. When submit needs no input, pass fields [] and the button
 * acts at once.
 */
export function actionForm({ label, fields = [], submitLabel, submit, className = '', danger = false, testid }) {
  const id = `f${++formSeq}`;
  const error = h('p', { class: 'form-error', role: 'alert' });
  const button = h('button', { type: 'submit', class: danger ? 'danger' : 'primary' }, submitLabel || label);
  let details = null;
  const form = h('form', {
    class: `action-form ${className}`,
    'data-action': testid || '',
    onsubmit: async (ev) => {
      ev.preventDefault();
      error.textContent = '';
      for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
      button.disabled = true;
      try {
        await submit(readForm(form), form);
        toast(t('act.done'), 'ok', 2500);
        if (details) details.open = false;
        form.reset();
      } catch (e) {
        showError(form, error, e);
      } finally {
        button.disabled = false;
      }
    },
  }, fields.map((f) => (f instanceof Node ? f : field(f, id))), error, button);
  if (fields.length === 0) {
    form.classList.add('inline');
    return form;
  }
  details = h('details', { class: `action ${className}` }, h('summary', {}, label), form);
  return details;
}

/**
 * showError explains a failed request on a form, in the page's language
 * (see errorText), and marks the input at fault; aliases maps an API field
 * to the form's input that holds it (location -> lat).
 */
export function showError(form, errorEl, e, aliases = {}) {
  const msg = errorText(e);
  errorEl.textContent = msg;
  const name = aliases[e.field] || e.field;
  if (name && form) {
    const el = form.querySelector(`[name="${CSS.escape(name)}"]`);
    if (el) { el.setAttribute('aria-invalid', 'true'); el.focus(); }
  }
  toast(t('err.generic', { m: msg }), 'error');
}
