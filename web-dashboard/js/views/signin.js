// The sign-in form.

import { api } from '../api.js';
import { h, replace } from '../dom.js';
import { t } from '../i18n.js';
import { errorText } from '../messages.js';

/** renderSignIn shows the sign-in form in el; onSignedIn gets the session. */
export function renderSignIn(el, { expired = false, onSignedIn }) {
  const error = h('p', { class: 'form-error', role: 'alert', id: 'signin-error' }, expired ? t('signin.expired') : '');
  const name = h('input', { id: 'signin-name', name: 'name', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const password = h('input', { id: 'signin-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'signin-submit' }, t('signin.submit'));
  const form = h('form', {
    class: 'signin card', 'aria-labelledby': 'signin-title', method: 'post', action: '#',
    onsubmit: async (ev) => {
      ev.preventDefault();
      submit.disabled = true;
      error.textContent = '';
      try {
        const session = await api('POST', '/session', { name: name.value.trim(), password: password.value }, { quiet401: true });
        password.value = '';
        await onSignedIn(session);
      } catch (e) {
        if (e.status === 401) error.textContent = t('signin.failed');
        else if (e.status === 429) error.textContent = t('signin.limited');
        else error.textContent = t('err.generic', { m: errorText(e) });
        password.select();
      } finally {
        submit.disabled = false;
      }
    },
  },
  h('h2', { id: 'signin-title' }, t('signin.title')),
  h('label', { for: 'signin-name' }, t('signin.name')), name,
  h('label', { for: 'signin-password' }, t('signin.password')), password,
  error,
  submit);
  replace(el, h('section', { class: 'signin-page' }, form));
  name.focus();
}
