// "My room": create the caller's room, edit it, upload its cover, go live or
// stop, show and rotate the stream key, stream from OBS (server, settings,
// preview), mute and unmute viewers.
import { h, toast, safeImageURL } from '../dom.js';
import { api, roomPath, ApiError } from '../api.js';
import { liveBadge, setLive } from './common.js';
import { ingestPanel } from './my_room_ingest.js';

export async function myRoomPage(view, params, { signal, navigate }) {
  let room;
  try {
    room = await api('/api/me/room', { signal });
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 404) throw err;
    view.append(createForm(() => navigate('/me/room')));
    return;
  }
  const id = room.id;
  // /api/me/room may return fewer modules than the owner view needs.
  if (!room.base || !room.live) room = await api(`${roomPath(id)}?mask=base,live,anchor,stats,tags`, { signal });

  view.append(h('section', { class: 'page my-room', testid: 'my-room', dataset: { roomId: String(id) } },
    h('div', { class: 'page-head' },
      h('h1', { text: 'My room' }),
      h('a', { class: 'btn', href: `#/room/${id}`, testid: 'open-my-room', text: 'Open room page' })),
    h('div', { class: 'grid-2' },
      editPanel(id, room.base || {}),
      coverPanel(id, room.base || {}),
      livePanel(id, room.live || {}),
      ingestPanel(id, { signal }),
      mutePanel(id))));
}

function field(label, input) {
  return h('label', { class: 'field' }, h('span', { text: label }), input);
}

function feedback(testid) {
  return h('p', { class: 'form-error', testid, role: 'status' });
}

function createForm(done) {
  const title = h('input', { testid: 'new-room-title', maxlength: '60', required: true, placeholder: 'e.g. Late night coding' });
  const msg = feedback('create-room-error');
  const btn = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'create-room-submit', text: 'Create room' });
  return h('section', { class: 'center' }, h('form', {
    class: 'panel auth-form',
    testid: 'create-room-form',
    onsubmit: async (ev) => {
      ev.preventDefault();
      msg.textContent = '';
      if (!title.value.trim()) return void (msg.textContent = 'give the room a title');
      btn.disabled = true;
      try {
        await api('/api/rooms', { method: 'POST', body: { title: title.value.trim() } });
        toast('Room created', 'ok');
        done();
      } catch (err) {
        msg.textContent = err.message;
      } finally {
        btn.disabled = false;
      }
    },
  },
  h('h1', { text: 'Create your room' }),
  h('p', { class: 'muted', text: 'You have no room yet. Name it; you can change everything later.' }),
  field('Title', title), msg, btn));
}

function editPanel(id, base) {
  const title = h('input', { testid: 'room-edit-title', maxlength: '60', value: base.title || '' });
  const area = h('input', { testid: 'room-edit-area', maxlength: '32', value: base.area || '', placeholder: 'e.g. Games' });
  const msg = feedback('room-edit-msg');
  const btn = h('button', { type: 'submit', class: 'btn btn-primary', testid: 'room-edit-save', text: 'Save' });
  return h('form', {
    class: 'panel',
    testid: 'room-edit',
    onsubmit: async (ev) => {
      ev.preventDefault();
      btn.disabled = true;
      msg.textContent = '';
      const body = {};
      if (title.value.trim() !== (base.title || '')) body.title = title.value.trim();
      if (area.value.trim() !== (base.area || '')) body.area = area.value.trim();
      try {
        if (Object.keys(body).length) {
          await api(roomPath(id), { method: 'PATCH', body });
          Object.assign(base, body);
        }
        msg.textContent = 'Saved.';
      } catch (err) {
        msg.textContent = err.message;
      } finally {
        btn.disabled = false;
      }
    },
  }, h('h2', { text: 'Room' }), field('Title', title), field('Area', area), msg, btn);
}

// coverPanel uploads the room's cover image. zhibo stores and serves it
// itself (PNG or JPEG, re-encoded), so viewers' browsers never fetch a cover
// from a host the owner picked.
function coverPanel(id, base) {
  const preview = h('img', { class: 'cover-preview', testid: 'room-cover-preview', alt: 'room cover' });
  const none = h('p', { class: 'muted', testid: 'room-cover-none', text: 'No cover yet: the room shows a coloured poster.' });
  const file = h('input', { type: 'file', testid: 'room-cover-file', accept: 'image/png,image/jpeg', 'aria-label': 'cover image file' });
  const upload = h('button', { type: 'button', class: 'btn btn-primary', testid: 'room-cover-upload', text: 'Upload cover' });
  const remove = h('button', { type: 'button', class: 'btn btn-small', testid: 'room-cover-remove', text: 'Remove' });
  const msg = feedback('room-cover-msg');
  const show = (cover) => {
    const url = safeImageURL(cover);
    preview.hidden = !url;
    none.hidden = !!url;
    remove.hidden = !url;
    if (url) preview.src = url;
    else preview.removeAttribute('src');
    base.cover = cover || '';
  };
  show(base.cover);

  upload.addEventListener('click', async () => {
    const f = file.files && file.files[0];
    msg.textContent = '';
    if (!f) return void (msg.textContent = 'choose a PNG or JPEG image first');
    upload.disabled = true;
    try {
      const room = await api(roomPath(id, '/cover'), { method: 'PUT', file: f });
      show(room && room.base ? room.base.cover : '');
      file.value = '';
      msg.textContent = 'Cover uploaded.';
    } catch (err) {
      msg.textContent = err.message;
    } finally {
      upload.disabled = false;
    }
  });
  remove.addEventListener('click', async () => {
    msg.textContent = '';
    remove.disabled = true;
    try {
      await api(roomPath(id), { method: 'PATCH', body: { cover: '' } });
      show('');
      msg.textContent = 'Cover removed.';
    } catch (err) {
      msg.textContent = err.message;
    } finally {
      remove.disabled = false;
    }
  });
  return h('section', { class: 'panel', testid: 'room-cover' },
    h('h2', { text: 'Cover' }), preview, none,
    h('label', { class: 'field' }, h('span', { text: 'PNG or JPEG image' }), file),
    h('div', { class: 'row' }, upload, remove),
    h('p', { class: 'muted', text: 'The image is re-encoded: its metadata (camera, location) is removed.' }),
    msg);
}

function livePanel(id, live) {
  const badge = liveBadge(live.status);
  const toggle = h('button', { type: 'button', class: 'btn btn-primary', testid: 'live-toggle' });
  const key = h('input', { testid: 'stream-key', readonly: true, type: 'password', value: live.stream_key || '', 'aria-label': 'stream key' });
  const show = h('button', { type: 'button', class: 'btn btn-small', testid: 'stream-key-show', text: 'Show' });
  const copy = h('button', { type: 'button', class: 'btn btn-small', testid: 'stream-key-copy', text: 'Copy' });
  const rotate = h('button', { type: 'button', class: 'btn btn-small btn-danger', testid: 'stream-key-rotate', text: 'Rotate' });
  const msg = feedback('live-msg');
  let isLive = live.status === 'live';
  const paint = () => {
    setLive(badge, isLive ? 'live' : 'preparing');
    toggle.textContent = isLive ? 'Stop live' : 'Go live';
  };
  paint();

  toggle.addEventListener('click', async () => {
    toggle.disabled = true;
    msg.textContent = '';
    try {
      const res = await api(roomPath(id, '/live'), { method: 'POST', body: { on: !isLive } });
      isLive = res && res.status ? res.status === 'live' : !isLive;
      if (res && res.stream_key) key.value = res.stream_key;
      paint();
    } catch (err) {
      msg.textContent = err.message;
    } finally {
      toggle.disabled = false;
    }
  });
  show.addEventListener('click', () => {
    const hidden = key.type === 'password';
    key.type = hidden ? 'text' : 'password';
    show.textContent = hidden ? 'Hide' : 'Show';
  });
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(key.value);
      toast('Stream key copied', 'ok');
    } catch {
      key.type = 'text';
      key.select();
      msg.textContent = 'Copy it from the field (clipboard not available here).';
    }
  });
  rotate.addEventListener('click', async () => {
    if (!confirm('Rotate the stream key? Encoders using the old key will be cut off.')) return;
    rotate.disabled = true;
    msg.textContent = '';
    try {
      const res = await api(roomPath(id, '/stream-key'), { method: 'POST' });
      const next = res && (res.stream_key || (res.live && res.live.stream_key));
      if (next) key.value = next;
      else {
        const fresh = await api(`${roomPath(id)}?mask=live`);
        key.value = (fresh.live && fresh.live.stream_key) || '';
      }
      msg.textContent = 'New stream key ready.';
    } catch (err) {
      msg.textContent = err.message;
    } finally {
      rotate.disabled = false;
    }
  });

  return h('section', { class: 'panel', testid: 'live-panel' },
    h('div', { class: 'panel-head' }, h('h2', { text: 'Live' }), badge),
    toggle,
    h('label', { class: 'field' }, h('span', { text: 'Stream key' }),
      h('div', { class: 'row' }, key, show, copy, rotate)),
    h('p', { class: 'muted', text: 'Keep the key secret: anyone with it can stream to your room.' }),
    msg);
}

function mutePanel(id) {
  const uid = h('input', { testid: 'mute-uid', inputmode: 'numeric', pattern: '[0-9]+', maxlength: '20', placeholder: 'uid' });
  const msg = feedback('mute-msg');
  const act = (mute) => async () => {
    const v = uid.value.trim();
    msg.textContent = '';
    if (!/^\d{1,20}$/.test(v)) return void (msg.textContent = 'enter a numeric uid');
    try {
      if (mute) await api(roomPath(id, '/mutes'), { method: 'POST', body: { uid: v } });
      else await api(roomPath(id, `/mutes/${encodeURIComponent(v)}`), { method: 'DELETE' });
      msg.textContent = mute ? `uid ${v} muted.` : `uid ${v} unmuted.`;
    } catch (err) {
      msg.textContent = err.message;
    }
  };
  return h('section', { class: 'panel', testid: 'mute-panel' },
    h('h2', { text: 'Mute viewers' }),
    h('p', { class: 'muted', text: 'Muted viewers cannot send comments in your room.' }),
    h('div', { class: 'row' }, uid,
      h('button', { type: 'button', class: 'btn btn-danger', testid: 'mute-submit', text: 'Mute', onclick: act(true) }),
      h('button', { type: 'button', class: 'btn', testid: 'unmute-submit', text: 'Unmute', onclick: act(false) })),
    msg);
}
