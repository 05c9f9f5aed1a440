// The Notices tab: the signed-in user's notices of one kind at a time —
// system, mentions in bullet comments, replies to their bullet comments, likes
// of their live room, follows — newest first (older ones on request), each
// marked "new" when it was unread as it came on screen. While a list is on
// screen every notice shown is marked read; a notice pushed on the channel is
// added at the top, or, for a like notice already shown, updated with its new
// count. A list that cannot be fetched is replaced by the copy saved in this
// tab, marked as saved.
import { h, clear, shortTime } from '../dom.js';
import { api } from '../api.js';
import { cmpId } from '../json.js';
import { save, load } from '../saved.js';
import { NOTICE_KINDS } from '../im.js';

const PAGE_SIZE = 20;

export async function noticesView(section, { me }, { signal, inbox }) {
  const panel = h('div', { class: 'panel notices-panel' });
  const kinds = h('div', { class: 'notice-kinds', role: 'group', 'aria-label': 'Notice kind' });
  section.append(kinds, panel);
  let list = null;
  const show = async (k) => {
    list?.destroy();
    for (const b of kinds.children) b.setAttribute('aria-pressed', String(b.dataset.kind === k.name));
    list = new NoticeList({ me, inbox, signal, kind: k });
    clear(panel).append(list.el);
    await list.load();
  };
  for (const k of NOTICE_KINDS) {
    const b = h('button', { class: 'btn btn-small', type: 'button', testid: `notice-kind-${k.name}`, text: k.label, dataset: { kind: k.name } });
    b.addEventListener('click', () => show(k));
    kinds.append(b);
  }
  await show(NOTICE_KINDS[0]);
  return () => list?.destroy();
}

class NoticeList {
  el;
  #me;
  #inbox;
  #signal;
  #kind; // {kind, name, label}
  #items = new Map(); // id (string) -> notice (with read: as it was when shown)
  #readWanted = '0';
  #readUpTo = '0'; // the server has them read up to here
  #loaded = false;
  #ul = h('ul', { class: 'notice-list', testid: 'notice-list', 'aria-live': 'polite' });
  #status = h('p', { class: 'muted', testid: 'notice-status', text: 'Loading notices…' });
  #offline = h('p', { class: 'note-offline', testid: 'notices-offline', role: 'status', hidden: true });
  #older = h('button', { class: 'btn btn-small', type: 'button', testid: 'notice-older', text: 'Load older', hidden: true });
  #off = [];

  constructor({ me, inbox, signal, kind }) {
    this.#me = me;
    this.#kind = kind;
    this.#inbox = inbox;
    this.#signal = signal;
    this.el = h('div', { class: 'conv-box' }, this.#offline, this.#status, this.#ul,
      h('div', { class: 'center' }, this.#older));
    this.#older.addEventListener('click', () => this.load({ older: true }));
    this.#listen('notice', (n) => this.#onNotice(n));
    this.#listen('state', (s) => { if (s === 'connected' && this.#loaded) this.load(); });
    const onVisible = () => this.#markRead();
    document.addEventListener('visibilitychange', onVisible);
    this.#off.push(() => document.removeEventListener('visibilitychange', onVisible));
  }

  get #saveKey() { return this.#kind.name === 'system' ? `notices.${this.#me.uid}` : `notices.${this.#kind.name}.${this.#me.uid}`; }

  #listen(type, fn) {
    if (!this.#inbox) return;
    const handler = (ev) => fn(ev.detail);
    this.#inbox.addEventListener(type, handler);
    this.#off.push(() => this.#inbox.removeEventListener(type, handler));
  }

  destroy() {
    for (const off of this.#off) off();
  }

  #oldest() {
    let oldest = null;
    for (const k of this.#items.keys()) if (!oldest || cmpId(k, oldest) < 0) oldest = k;
    return oldest;
  }

  // load fetches the newest page (or, with older, the page before the
  // oldest notice shown) and marks what it shows read.
  async load({ older = false } = {}) {
    this.#older.disabled = true;
    try {
      const q = new URLSearchParams({ kind: this.#kind.name, limit: String(PAGE_SIZE) });
      const oldest = this.#oldest();
      if (older && oldest) q.set('before', oldest);
      const page = await api(`/api/im/notices?${q}`, { signal: this.#signal });
      const items = page.items || [];
      for (const n of items) if (!this.#items.has(String(n.id))) this.#items.set(String(n.id), n);
      // Only the first page and older ones tell whether there is more.
      if (older || !this.#loaded) this.#older.hidden = items.length < PAGE_SIZE;
      this.#loaded = true;
      this.#offline.hidden = true;
      this.#render();
      this.#markRead();
    } catch (err) {
      if (err.name === 'AbortError') return;
      this.#failed(err);
    } finally {
      this.#older.disabled = false;
    }
  }

  #failed(err) {
    let note = `Offline — showing the notices loaded before (${err.message})`;
    if (this.#items.size === 0) {
      const saved = load(this.#saveKey);
      if (saved && Array.isArray(saved.value.items)) {
        for (const n of saved.value.items) this.#items.set(String(n.id), n);
        const at = new Date(saved.at).toLocaleTimeString();
        note = `Offline — showing saved notices from ${at} (${err.message})`;
      }
    }
    if (this.#items.size === 0) {
      this.#status.textContent = `Could not load notices: ${err.message}`;
      this.#offline.hidden = true;
      return;
    }
    this.#offline.textContent = note;
    this.#offline.hidden = false;
    this.#render();
  }

  #onNotice(n) {
    if (Number(n.kind) !== this.#kind.kind) return;
    const shown = this.#items.get(String(n.id));
    if (shown && n.new !== false) return;
    // A like notice's new count keeps the notice as read as it was.
    this.#items.set(String(n.id), { ...n, read: shown ? shown.read : false });
    this.#render();
    this.#markRead();
  }

  // #markRead marks every notice up to the newest shown read while the tab
  // is on screen, and hands the server's count of those left to the inbox.
  #markRead() {
    if (document.visibilityState === 'hidden' || this.#signal.aborted) return;
    let newest = null;
    for (const [k, n] of this.#items) if (!n.read && (!newest || cmpId(k, newest) > 0)) newest = k;
    if (!newest || cmpId(newest, this.#readWanted) <= 0) return;
    this.#readWanted = newest;
    api('/api/im/notices/read', { method: 'POST', body: { kind: this.#kind.name, read_id: newest }, signal: this.#signal })
      .then((res) => {
        if (cmpId(newest, this.#readUpTo) > 0) this.#readUpTo = newest;
        this.#save();
        this.#inbox?.noticesRead(this.#kind.name, res.unread);
      })
      .catch((err) => {
        if (err.name === 'AbortError') return;
        this.#readWanted = '0'; // try again on the next notice or visit
        console.warn('mark notices read', err);
      });
  }

  #render() {
    const items = [...this.#items.values()].sort((a, b) => cmpId(b.id, a.id));
    clear(this.#ul).append(...items.map((n) => this.#item(n)));
    this.#status.textContent = items.length === 0 && this.#loaded ? 'No notices.' : '';
    this.#save();
  }

  // #save keeps what is shown, as read where the server has it read, for a
  // failed fetch to show later.
  #save() {
    if (!this.#loaded) return;
    const items = [...this.#items.values()].sort((a, b) => cmpId(b.id, a.id)).slice(0, PAGE_SIZE)
      .map((n) => ({ ...n, read: n.read || cmpId(n.id, this.#readUpTo) <= 0 }));
    save(this.#saveKey, { items });
  }

  #item(n) {
    return h('li', { class: 'notice', testid: 'notice-item', dataset: { id: String(n.id), new: String(!n.read) } },
      h('div', { class: 'notice-top' },
        !n.read && h('span', { class: 'notice-new', testid: 'notice-new', text: 'new' }),
        h('span', { class: 'notice-title', testid: 'notice-title', text: n.title }),
        h('span', { class: 'muted', testid: 'notice-time', text: shortTime(n.ts) })),
      n.body ? h('div', { class: 'notice-body', testid: 'notice-body', text: n.body }) : null,
      n.room_id ? h('a', { class: 'muted', href: `/room/${n.room_id}`, text: `in room ${n.room_id}` }) : null,
      Number(n.kind) === 4 && n.sender
        ? h('a', { class: 'muted', href: `#/inbox/${n.sender}`, testid: 'notice-message', text: 'Message them' }) : null);
  }
}
