// The inbox's settings: who may message me (in the inbox's head: everyone,
// followers — and the users I follow or have written to — or nobody), and
// below it the alerts: desktop notifications (the browser's permission,
// asked for with a button) and do-not-disturb hours (on/off, from, to and
// the zone they are read in, by default the browser's). The settings come
// with the inbox's one call (GET /api/im/inbox, its settings module, through
// the Inbox's settings and 'settings' event; the Inbox reads
// GET /api/im/settings itself when that did not bring them). A change PUTs
// the whole settings object — the saved allow with the hours, or the saved
// hours with the allow — since the server replaces it whole; the answer is
// handed to the Inbox, whose alerts follow it at once. A refused allow goes
// back to the saved one; refused hours stay as typed, with the reason.
import { h } from '../dom.js';
import { api } from '../api.js';
import { notifySupported } from '../alert.js';

const CHOICES = [[0, 'Everyone'], [1, 'Followers'], [2, 'Nobody']];
// The hours offered before any are saved.
const DEFAULT_FROM = '22:00';
const DEFAULT_TO = '07:00';

// browserZone is the IANA zone the browser runs in.
function browserZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

// zoneNames are the zones the browser knows, for the zone field's choices.
function zoneNames() {
  try {
    return Intl.supportedValuesOf('timeZone');
  } catch {
    return [];
  }
}

// inboxSettings returns the controls: allow (for the inbox's head) and
// alerts (a row below it).
export function inboxSettings({ signal, inbox }) {
  let saved = { allow: 0, dnd: { on: false, from: '', to: '', tz: '' } };

  const select = h('select', { testid: 'allow-select', 'aria-label': 'who may message me', disabled: true },
    CHOICES.map(([v, label]) => h('option', { value: String(v), text: label })));
  const allowNote = h('span', { class: 'muted', testid: 'allow-status', role: 'status' });

  const dndOn = h('input', { type: 'checkbox', testid: 'dnd-on', disabled: true });
  const dndFrom = h('input', { type: 'time', testid: 'dnd-from', 'aria-label': 'quiet from', required: true, disabled: true });
  const dndTo = h('input', { type: 'time', testid: 'dnd-to', 'aria-label': 'quiet until', required: true, disabled: true });
  const zones = h('datalist', { id: 'dnd-zones' }, zoneNames().map((z) => h('option', { value: z })));
  const dndTz = h('input', {
    testid: 'dnd-tz', 'aria-label': 'time zone of the quiet hours', list: 'dnd-zones', maxlength: '64',
    autocomplete: 'off', spellcheck: 'false', disabled: true,
  });
  const dndSave = h('button', { class: 'btn btn-small', type: 'submit', testid: 'dnd-save', text: 'Save', disabled: true });
  const dndNote = h('span', { class: 'muted', testid: 'dnd-status', role: 'status' });

  const permission = h('button', { class: 'btn btn-small btn-ghost', type: 'button', testid: 'notify-permission' });
  const showPermission = () => {
    const state = notifySupported() ? window.Notification.permission : 'unsupported';
    permission.dataset.permission = state;
    permission.textContent = {
      granted: 'Desktop notifications on',
      denied: 'Notifications blocked by the browser',
      unsupported: 'No desktop notifications in this browser',
    }[state] || 'Allow desktop notifications';
    permission.disabled = state !== 'default';
  };
  permission.addEventListener('click', async () => {
    try {
      await window.Notification.requestPermission();
    } catch (err) {
      console.warn('notification permission', err);
    }
    showPermission();
  });
  showPermission();

  const showDnd = (d) => {
    dndOn.checked = d.on === true;
    dndFrom.value = d.from || DEFAULT_FROM;
    dndTo.value = d.to || DEFAULT_TO;
    dndTz.value = d.tz || browserZone();
  };
  const show = (s) => {
    const d = s.dnd && typeof s.dnd === 'object' ? s.dnd : {};
    saved = {
      allow: Number(s.allow) || 0,
      dnd: { on: d.on === true, from: String(d.from || ''), to: String(d.to || ''), tz: String(d.tz || '') },
    };
    select.value = String(saved.allow);
    showDnd(saved.dnd);
    for (const el of [select, dndOn, dndFrom, dndTo, dndTz, dndSave]) el.disabled = false;
  };
  // put stores settings and takes the server's answer as the saved ones.
  const put = async (body) => {
    const s = await api('/api/im/settings', { method: 'PUT', body, signal });
    show(s);
    inbox?.setSettings(s);
  };

  if (inbox?.settings) {
    show(inbox.settings);
  } else if (inbox) {
    // The first settings the Inbox gets; null means it could not read them.
    const onSettings = (ev) => {
      if (!ev.detail) {
        allowNote.textContent = 'settings unavailable';
        return;
      }
      inbox.removeEventListener('settings', onSettings);
      allowNote.textContent = '';
      show(ev.detail);
    };
    inbox.addEventListener('settings', onSettings);
    signal?.addEventListener('abort', () => inbox.removeEventListener('settings', onSettings));
  } else {
    api('/api/im/settings', { signal }).then(show).catch((err) => {
      if (err.name !== 'AbortError') allowNote.textContent = `settings unavailable: ${err.message}`;
    });
  }

  select.addEventListener('change', async () => {
    select.disabled = true;
    allowNote.textContent = 'saving…';
    try {
      await put({ allow: Number(select.value), dnd: saved.dnd });
      allowNote.textContent = 'saved';
    } catch (err) {
      if (err.name === 'AbortError') return;
      select.value = String(saved.allow);
      allowNote.textContent = `not saved: ${err.message}`;
    }
    select.disabled = false;
  });

  const form = h('form', {
    class: 'row dnd-setting',
    testid: 'dnd-setting',
    onsubmit: async (ev) => {
      ev.preventDefault();
      dndSave.disabled = true;
      dndNote.textContent = 'saving…';
      const dnd = { on: dndOn.checked, from: dndFrom.value, to: dndTo.value, tz: dndTz.value.trim() };
      try {
        await put({ allow: saved.allow, dnd });
        dndNote.textContent = 'saved';
      } catch (err) {
        if (err.name === 'AbortError') return;
        dndNote.textContent = `not saved: ${err.message}`; // the fields stay as typed, to be corrected
      }
      dndSave.disabled = false;
    },
  },
  h('label', { class: 'row' }, dndOn, 'Do not disturb'),
  h('label', { class: 'row' }, 'from', dndFrom),
  h('label', { class: 'row' }, 'to', dndTo),
  h('label', { class: 'row' }, 'zone', dndTz),
  zones, dndSave, dndNote);

  return {
    allow: h('label', { class: 'row allow-setting', testid: 'allow-setting' }, 'Who may message me ', select, allowNote),
    alerts: h('div', { class: 'row inbox-alerts', testid: 'inbox-alerts' }, permission, form),
  };
}
