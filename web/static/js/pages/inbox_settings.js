// Who may message me, in the inbox's head: everyone, followers (and the
// users I follow or have written to), or nobody — GET and PUT
// /api/im/settings. The choice is shown once the server has answered, and
// goes back to the saved one when a change is refused.
import { h } from '../dom.js';
import { api } from '../api.js';

const CHOICES = [[0, 'Everyone'], [1, 'Followers'], [2, 'Nobody']];

export function whoMayMessage({ signal }) {
  const select = h('select', { testid: 'allow-select', 'aria-label': 'who may message me', disabled: true },
    CHOICES.map(([v, label]) => h('option', { value: String(v), text: label })));
  const note = h('span', { class: 'muted', testid: 'allow-status', role: 'status' });
  let saved = '0';
  api('/api/im/settings', { signal }).then((s) => {
    saved = String(Number(s.allow) || 0);
    select.value = saved;
    select.disabled = false;
  }).catch((err) => {
    if (err.name !== 'AbortError') note.textContent = `settings unavailable: ${err.message}`;
  });
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
