// Login and registration: one form, two buttons.
import { h } from '../dom.js';
import { api, session } from '../api.js';

export function loginPage(view, params, { navigate }) {
  const next = safeNext(params.query.get('next'));
  const name = h('input', {
    id: 'login-name', name: 'name', testid: 'login-name', autocomplete: 'username',
    required: true, maxlength: '32', placeholder: 'name',
  });
  const password = h('input', {
    id: 'login-password', name: 'password', type: 'password', testid: 'login-password',
    autocomplete: 'current-password', required: true, maxlength: '128', placeholder: 'password',
  });
  const error = h('p', { class: 'form-error', testid: 'login-error', role: 'alert' });
  const loginBtn = h('button', { class: 'btn btn-primary', type: 'submit', testid: 'login-submit', text: 'Log in' });
  const registerBtn = h('button', { class: 'btn', type: 'button', testid: 'register-submit', text: 'Register' });

  async function submit(kind) {
    error.textContent = '';
    if (!name.value.trim() || !password.value) {
      error.textContent = 'enter a name and a password';
      return;
    }
    loginBtn.disabled = registerBtn.disabled = true;
    try {
      const data = await api(`/api/auth/${kind}`, {
        method: 'POST',
        body: { name: name.value.trim(), password: password.value },
      });
      session.set({ uid: data.uid, name: data.name || name.value.trim(), token: data.token });
      navigate(next);
    } catch (err) {
      error.textContent = err.message;
    } finally {
      loginBtn.disabled = registerBtn.disabled = false;
    }
  }

  const form = h('form', {
    class: 'panel auth-form',
    testid: 'login-form',
    novalidate: true,
    onsubmit: (ev) => {
      ev.preventDefault();
      submit('login');
    },
  },
  h('h1', { text: 'Welcome to zhibo' }),
  h('p', { class: 'muted', text: 'Log in, or pick a name and password to register.' }),
  h('label', { for: 'login-name', text: 'Name' }), name,
  h('label', { for: 'login-password', text: 'Password' }), password,
  error,
  h('div', { class: 'row' }, loginBtn, registerBtn));
  registerBtn.addEventListener('click', () => submit('register'));

  view.append(h('section', { class: 'center' }, form));
  name.focus();
}

// safeNext only follows in-app hash paths, never another site.
function safeNext(next) {
  return next && /^\/[a-z0-9/]*$/i.test(next) && next !== '/login' ? next : '/rooms';
}
