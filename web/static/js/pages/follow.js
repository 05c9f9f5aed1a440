// The follow button of a user shown on a page (the room's anchor): "Follow"
// or "Following", with the user's follower count. Guests see the count only,
// and a user sees no button for themself. The relation comes with the page
// when it has it (`relation`, the room page's anchor module), else it is read
// (GET /api/users/{uid}/follow). A click follows or unfollows (PUT / DELETE,
// both idempotent) and shows the relation the server answers.
import { h, fmtCount, toast } from '../dom.js';
import { api } from '../api.js';
import { sameId } from '../json.js';

export function followButton(uid, me, { signal, relation } = {}) {
  if (!uid) return null;
  const path = `/api/users/${encodeURIComponent(String(uid))}/follow`;
  const count = h('span', { class: 'muted', testid: 'follower-count' });
  const btn = me && !sameId(uid, me.uid)
    ? h('button', { class: 'btn btn-small', type: 'button', testid: 'follow-btn', text: 'Follow', disabled: true })
    : null;
  let followed = false;
  const show = (rel) => {
    followed = rel.followed === true;
    const n = Number(rel.followers) || 0;
    count.textContent = `${fmtCount(n)} ${n === 1 ? 'follower' : 'followers'}`;
    if (!btn) return;
    btn.textContent = followed ? 'Following' : 'Follow';
    btn.setAttribute('aria-pressed', String(followed));
    btn.disabled = false;
  };
  if (relation) {
    show(relation);
  } else {
    api(path, { signal }).then(show).catch((err) => {
      if (err.name === 'AbortError') return;
      if (btn) btn.disabled = false; // the click still tries
    });
  }
  btn?.addEventListener('click', async () => {
    btn.disabled = true;
    const method = followed ? 'DELETE' : 'PUT';
    try {
      show(await api(path, { method, signal }));
    } catch (err) {
      if (err.name === 'AbortError') return;
      toast(`Could not ${method === 'PUT' ? 'follow' : 'unfollow'}: ${err.message}`);
      btn.disabled = false;
    }
  });
  return h('span', { class: 'follow', testid: 'follow' }, btn, count);
}
