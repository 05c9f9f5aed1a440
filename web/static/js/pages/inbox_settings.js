// Who may message me, in the inbox's head: everyone, followers (and the
// users I follow or have written to), or nobody. The choice comes with the
// inbox's one call (GET /api/im/inbox, its settings module, through the
// Inbox's 'settings' event); only when that did not bring it is it read with
// GET /api/im/settings. A change is PUT there, and goes back to the saved
// one when it is refused.
import { h } from '../dom.js';
import { api } from '../api.js';

const CHOICES = [[0, 'Everyone'], [1, 'Followers'], [2, 'Nobody']];

export function whoMayMessage({ signal, inbox }) {
  const select = h('select', { testid: 'allow-select', 'aria-label': 'who may message me', disabled: true },
    CHOICES.map(([v, label]) => h('option', { value: String(v), text: label })));
  const note = h('span', { class: 'muted', testid: 'allow-status', role: 'status' });
  let saved = '0';
  const show = (s) => {
    saved = String(Number(s.allow) || 0);
    select.value = saved;
    select.disabled = false;
  };
  const read = () => api('/api/im/settings', { signal }).then(show).catch((err) => {
    if (err.name !== 'AbortError') note.textContent = `settings unavailable: ${err.message}`;
  });
  if (inbox?.settings) {
    show(inbox.settings);
  } else if (inbox) {
    const once = (ev) => {
      inbox.removeEventListener('settings', once);
      if (ev.detail) show(ev.detail);
      else read();
    };
    inbox.addEventListener('settings', once);
    signal?.addEventListener('abort', () => inbox.removeEventListener('settings', once));
  } else {
    read();
  }
  select.addEventListener('change', async () => {
    select.disabled = true;
    try {
      await api('/api/im/settings', { method: 'PUT', body: { allow: Number(select.value) }, signal });
      saved = select.value;
      note.textContent = 'saved';
    } catch (err) {
      if (err.name === 'AbortError') return;
      select.value = saved;
      note.textContent = `not saved: ${err.message}`;
    }
    select.disabled = false;
  });
  return h('label', { class: 'row allow-setting', testid: 'allow-setting' }, 'Who may message me ', select, note);
}
