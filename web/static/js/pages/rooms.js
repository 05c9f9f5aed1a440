// The home page: the room list, live rooms first, one call per page
// (GET /api/home) paged with the server's cursor.
import { h } from '../dom.js';
import { api, session } from '../api.js';
import { roomCard } from './common.js';

const PAGE_SIZE = 24;

export async function roomsPage(view, params, { signal }) {
  const grid = h('div', { class: 'room-grid', testid: 'room-list' });
  const more = h('button', { class: 'btn', type: 'button', testid: 'rooms-more', text: 'Load more', hidden: true });
  const status = h('p', { class: 'muted', testid: 'rooms-status', text: 'Loading rooms…' });
  const create = h('a', {
    class: 'btn btn-primary',
    href: '#/me/room',
    testid: 'create-room',
    text: session.get() ? 'My room / create room' : 'Log in to create a room',
  });
  view.append(h('section', { class: 'page' },
    h('div', { class: 'page-head' }, h('h1', { text: 'Live rooms' }), create),
    status, grid, h('div', { class: 'center' }, more)));

  const seen = new Set();
  let cursor = '';
  const live = [];
  const idle = [];

  async function load() {
    more.disabled = true;
    try {
      const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
      if (cursor) q.set('cursor', cursor);
      const data = await api(`/api/home?${q}`, { signal });
      for (const room of data.rooms || []) {
        if (seen.has(String(room.id))) continue;
        seen.add(String(room.id));
        (room.live && room.live.status === 'live' ? live : idle).push(room);
      }
      cursor = data.next_cursor || '';
      // The server may already order live rooms first; sorting the loaded
      // rooms again keeps that true across pages too.
      grid.replaceChildren(...live.map(roomCard), ...idle.map(roomCard));
      status.textContent = seen.size ? '' : 'No rooms yet. Be the first to go live!';
      more.hidden = !cursor;
    } catch (err) {
      if (err.name === 'AbortError') return;
      status.textContent = `Could not load rooms: ${err.message}`;
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener('click', load);
  await load();
}
