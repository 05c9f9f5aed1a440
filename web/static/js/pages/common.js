// Pieces shared by several pages.
import { h, hueOf, safeImageURL, fmtCount } from '../dom.js';

// poster is the stand-in for video: the room title over a gradient whose hue
// is derived from the room id, or the room's cover image when it has one.
export function poster(room, { big = false } = {}) {
  const base = room.base || {};
  const el = h('div', { class: big ? 'poster poster-big' : 'poster', testid: 'poster' });
  el.style.setProperty('--hue', String(hueOf(room.id)));
  const cover = safeImageURL(base.cover);
  if (cover && !big) {
    const img = h('img', { src: cover, alt: '', loading: 'lazy', referrerpolicy: 'no-referrer' });
    img.addEventListener('error', () => img.remove());
    el.append(img);
  }
  el.append(h('span', { class: 'poster-title', testid: 'poster-title', text: base.title || 'Untitled room' }));
  return el;
}

// liveBadge shows "LIVE" or "Preparing"; setLive updates it in place.
export function liveBadge(status) {
  const el = h('span', { class: 'badge', testid: 'live-badge' });
  setLive(el, status);
  return el;
}

export function setLive(el, status) {
  const live = status === 'live';
  el.dataset.status = live ? 'live' : 'preparing';
  el.classList.toggle('badge-live', live);
  el.textContent = live ? 'LIVE' : 'Preparing';
}

// roomCard is one entry of the room list.
export function roomCard(room) {
  const base = room.base || {};
  const anchor = room.anchor || {};
  const stats = room.stats || {};
  const status = room.live && room.live.status;
  return h('a', {
    class: 'room-card',
    href: `#/room/${room.id}`,
    testid: 'room-card',
    dataset: { roomId: String(room.id), status: status === 'live' ? 'live' : 'preparing' },
  },
  h('div', { class: 'room-card-media' }, poster(room), liveBadge(status)),
  h('div', { class: 'room-card-body' },
    h('span', { class: 'room-card-title', testid: 'room-card-title', text: base.title || 'Untitled room' }),
    h('span', { class: 'room-card-meta' },
      h('span', { text: anchor.name || `uid ${base.owner_uid ?? ''}` }),
      h('span', { class: 'muted', text: base.area || '' }),
      h('span', { class: 'muted', text: `${fmtCount(stats.online)} online` }))));
}
