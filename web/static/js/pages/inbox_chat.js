// One open chat: history newest at the bottom (older pages on request), the
// send box with an optimistic copy of each sent message reconciled by its
// client id, read receipts, recall and delete for me, all kept current by
// the user's message channel. The chat is marked read while it is on screen.
//
// The pane shows a chat with one user or a group chat: what differs (the
// API paths, which channel events belong to it, read receipts, mute, delete
// for me) is given by a source, peerSource here or groupSource in
// inbox_group.js.
import { h, clear, randomKey, toast, shortTime } from '../dom.js';
import { api } from '../api.js';
import { sameId, cmpId } from '../json.js';
import { save, load } from '../saved.js';

const PAGE_SIZE = 30;
// The server's default recall window (im-chat recall_window); a shorter one
// configured there refuses the recall with a message.
const RECALL_MS = 2 * 60_000;
const RECALL_TICK_MS = 5_000;
// Messages kept in the tab's saved copy of a chat.
const SAVED_MESSAGES = 50;
// A message that arrived live may not be stored yet when it is marked read;
// the mark is tried again until the server's read position reaches it.
const READ_RETRIES = 8;
const READ_RETRY_MS = 250;
const STICK_PX = 48;

// peerSource is the chat of the signed-in user with peer (a uid).
export function peerSource(me, peer, { onMuted } = {}) {
  peer = String(peer);
  const base = `/api/im/conversations/${peer}`;
  return {
    key: `chat.${me.uid}.${peer}`,
    title: `uid ${peer}`,
    dataset: { peer },
    events: { msg: 'msg', recall: 'recall', read: 'read' },
    receipts: true,
    // A message of this chat: from the peer to me, or mine to the peer.
    belongs: (m) => sameId(sameId(m.from, me.uid) ? m.to : m.from, peer),
    async fetch(q, signal) {
      const c = await api(`${base}/messages?${q}`, { signal });
      return { title: c.peer_name, read_id: c.peer_read_id, items: c.items };
    },
    send: (text, clientId) => api('/api/im/messages', { method: 'POST', body: { to: peer, text, client_id: clientId } }),
    recall: (id) => api(`/api/im/messages/${id}/recall`, { method: 'POST' }),
    remove: (id) => api(`/api/im/messages/${id}`, { method: 'DELETE' }),
    async markRead(id, signal) {
      return (await api(`${base}/read`, { method: 'POST', body: { read_id: id }, signal })).read_id;
    },
    // The peer has read my messages up to the id returned.
    peerRead: ({ uid, peer: reader, read_id: readId }) =>
      (sameId(uid, peer) && sameId(reader, me.uid) ? readId : null),
    recalled: ({ id }) => id,
    setOpen(inbox, shown) {
      if (shown) inbox.open = peer;
      else if (sameId(inbox.open, peer)) inbox.open = null;
    },
    async mute(want) {
      await api(`${base}/mute`, { method: 'PUT', body: { muted: want } });
      onMuted?.(want);
    },
  };
}

export class ChatPane {
  el;
  #me;
  #src;
  #inbox;
  #signal;
  #closed = false;
  #peerReadId = '0';
  #readWanted = '0'; // newest peer message asked to be marked read
  #readTimer = null;
  #muted = false;
  #items = new Map(); // id (string) -> {m, li}
  #pending = new Map(); // client_id -> {m, li}
  #oldest = null;
  #off = [];
  #tick = null;
  #errorTimer = null;
  #shownOnce = false;
  #name = h('h2', { testid: 'chat-peer-name' });
  #ul = h('ul', { class: 'msg-list', testid: 'msg-list', 'aria-live': 'polite' });
  #older = h('button', { class: 'btn btn-small', type: 'button', testid: 'msg-older', text: 'Load older', hidden: true });
  #status = h('p', { class: 'muted', testid: 'chat-status', text: 'Loading…' });
  #offline = h('p', { class: 'note-offline', testid: 'chat-offline', role: 'status', hidden: true });
  #muteBtn = h('button', { class: 'btn btn-small btn-ghost', type: 'button', testid: 'chat-mute', text: 'Mute' });
  #sendBtn = h('button', { class: 'btn btn-primary', type: 'submit', testid: 'msg-send', text: 'Send' });
  #input = h('input', {
    class: 'msg-input', testid: 'msg-input', maxlength: '1000', autocomplete: 'off',
    placeholder: 'Write a message…', 'aria-label': 'message',
  });
  #error = h('p', { class: 'form-error', testid: 'msg-error', role: 'alert' });

  // source: what differs between a chat and a group chat (peerSource,
  // groupSource); tools: more elements for the pane's head.
  constructor({ me, source, inbox, signal, tools = [] }) {
    this.#me = me;
    this.#src = source;
    this.#inbox = inbox;
    this.#signal = signal;
    this.#name.textContent = source.title;
    this.el = h('section', { class: 'panel chat-pane', testid: 'chat-pane', dataset: source.dataset },
      h('div', { class: 'panel-head' }, this.#name, source.mute && this.#muteBtn, tools),
      this.#offline,
      h('div', { class: 'center' }, this.#older),
      this.#status,
      this.#ul,
      h('form', {
        class: 'row msg-form',
        onsubmit: (ev) => {
          ev.preventDefault();
          this.#send();
        },
      }, this.#input, this.#sendBtn),
      this.#error);
    this.#older.addEventListener('click', () => this.#loadOlder());
    this.#muteBtn.addEventListener('click', () => this.#toggleMute());
    this.#listen(source.events.msg, (m) => this.#onMsg(m));
    if (source.events.read) this.#listen(source.events.read, (r) => this.#onRead(r));
    this.#listen(source.events.recall, (r) => this.#onRecall(r));
    this.#listen('state', (s) => { if (s === 'connected') this.#reload(); });
    const onVisible = () => this.#visibility();
    document.addEventListener('visibilitychange', onVisible);
    this.#off.push(() => document.removeEventListener('visibilitychange', onVisible));
    this.#visibility();
    this.#tick = setInterval(() => this.#expireRecalls(), RECALL_TICK_MS);
  }

  get #saveKey() { return this.#src.key; }

  #listen(type, fn) {
    if (!this.#inbox) return;
    const handler = (ev) => fn(ev.detail);
    this.#inbox.addEventListener(type, handler);
    this.#off.push(() => this.#inbox.removeEventListener(type, handler));
  }

  destroy() {
    clearInterval(this.#tick);
    clearTimeout(this.#errorTimer); // not #readTimer: a read asked for is seen through (#markRead)
    for (const off of this.#off) off();
    if (this.#inbox) this.#src.setOpen(this.#inbox, false);
  }

  // close ends the chat on screen (the user left the group): what is shown
  // stays, with a note, and nothing more can be sent.
  close(note) {
    this.#closed = true;
    if (this.#inbox) this.#src.setOpen(this.#inbox, false);
    this.#input.disabled = true;
    this.#sendBtn.disabled = true;
    this.#status.textContent = note;
  }

  setTitle(title) {
    if (title) this.#name.textContent = title;
  }

  // #visibility tells the inbox whether this chat is on screen (its messages
  // then do not count as unread) and marks it read when it comes back.
  #visibility() {
    if (!this.#inbox || this.#closed) return;
    const shown = document.visibilityState !== 'hidden';
    this.#src.setOpen(this.#inbox, shown);
    if (shown) this.#markRead();
  }

  setMuted(muted) {
    this.#muted = muted;
    this.#muteBtn.textContent = muted ? 'Unmute' : 'Mute';
    this.#muteBtn.setAttribute('aria-pressed', String(muted));
  }

  async #toggleMute() {
    const want = !this.#muted;
    this.#muteBtn.disabled = true;
    try {
      await this.#src.mute(want);
      this.setMuted(want);
    } catch (err) {
      this.#showError(err.message);
    } finally {
      this.#muteBtn.disabled = false;
    }
  }

  // load shows the newest page of the chat, or the saved copy when it cannot
  // be fetched.
  async load() {
    try {
      const c = await this.#fetch(0);
      this.#offline.hidden = true;
      this.#show(c, { older: false });
      this.#markRead();
    } catch (err) {
      if (err.name === 'AbortError') return;
      const saved = load(this.#saveKey);
      if (saved && Array.isArray(saved.value.items)) {
        this.#show(saved.value, { older: false });
        const at = new Date(saved.at).toLocaleTimeString();
        this.#offline.textContent = `Offline — showing messages saved at ${at} (${err.message})`;
        this.#offline.hidden = false;
      } else {
        this.#status.textContent = `Could not load messages: ${err.message}`;
      }
    }
  }

  // #reload merges the newest page once the channel (re)connects: what
  // arrived while it was down.
  async #reload() {
    if (this.#closed) return;
    try {
      this.#show(await this.#fetch(0), { older: false });
      this.#offline.hidden = true;
      this.#markRead();
    } catch (err) {
      if (err.name !== 'AbortError') console.warn('chat reload', err);
    }
  }

  async #loadOlder() {
    if (!this.#oldest) return;
    this.#older.disabled = true;
    try {
      this.#show(await this.#fetch(this.#oldest), { older: true });
    } catch (err) {
      if (err.name !== 'AbortError') this.#showError(err.message);
    } finally {
      this.#older.disabled = false;
    }
  }

  #fetch(before) {
    const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (before) q.set('before', String(before));
    return this.#src.fetch(q, this.#signal);
  }

  // #show adds a page of history (newest first, as the server sends it).
  #show(c, { older }) {
    this.setTitle(c.title);
    this.#setPeerRead(c.read_id);
    const items = Array.isArray(c.items) ? c.items : [];
    for (const m of items) this.#add(m);
    const last = items[items.length - 1];
    if (last && (!this.#oldest || cmpId(last.id, this.#oldest) < 0)) this.#oldest = String(last.id);
    // Only the first page and older ones tell whether there is more; a
    // reload of the newest page after a reconnect does not.
    if (older || !this.#shownOnce) this.#older.hidden = items.length < PAGE_SIZE;
    this.#shownOnce = true;
    if (!this.#closed) this.#status.textContent = this.#items.size || this.#pending.size ? '' : 'No messages yet. Say hello!';
    if (!older) this.#ul.scrollTop = this.#ul.scrollHeight;
    this.#save();
  }

  #save() {
    const items = [...this.#items.values()].map((x) => x.m)
      .sort((a, b) => cmpId(b.id, a.id)).slice(0, SAVED_MESSAGES);
    save(this.#saveKey, { title: this.#name.textContent, read_id: this.#peerReadId, items });
  }

  // #add shows a stored message in id order, or updates the one shown.
  #add(m) {
    const key = String(m.id);
    const cur = this.#items.get(key);
    if (cur) {
      if (m.recalled && !cur.m.recalled) this.#markRecalled(key);
      return cur.li;
    }
    const li = this.#item(m);
    this.#items.set(key, { m, li });
    this.#insert(li, m.id);
    return li;
  }

  #insert(li, id) {
    const ul = this.#ul;
    const stick = ul.scrollHeight - ul.scrollTop - ul.clientHeight < STICK_PX;
    let before = null;
    for (const other of ul.children) {
      if (!other.dataset.id || cmpId(other.dataset.id, id) > 0) {
        before = other;
        break;
      }
    }
    ul.insertBefore(li, before);
    if (stick) ul.scrollTop = ul.scrollHeight;
  }

  #item(m) {
    const mine = sameId(m.from, this.#me.uid);
    const li = h('li', {
      class: mine ? 'msg self' : 'msg',
      testid: 'msg-item',
      dataset: { from: String(m.from), clientId: m.client_id || '' },
    });
    if (m.id) li.dataset.id = String(m.id);
    this.#fill(li, m);
    return li;
  }

  // #fill (re)draws a message's bubble and actions.
  #fill(li, m) {
    const mine = sameId(m.from, this.#me.uid);
    const state = li.dataset.state || (m.id ? 'sent' : 'pending');
    li.dataset.state = state;
    li.dataset.recalled = String(!!m.recalled);
    const body = m.recalled
      ? h('span', { class: 'msg-recalled', testid: 'msg-recalled', text: 'message recalled' })
      : h('span', { class: 'msg-text', testid: 'msg-text', text: m.text });
    const meta = h('span', { class: 'msg-meta muted' }, h('span', { text: shortTime(m.ts) }));
    if (!mine && this.#src.author) meta.prepend(h('span', { class: 'msg-author', testid: 'msg-author', text: this.#src.author(m) }));
    if (mine && state === 'pending') meta.append(h('span', { testid: 'msg-pending', text: 'sending…' }));
    if (mine && state === 'failed') {
      meta.append(h('button', {
        class: 'link-btn', type: 'button', testid: 'msg-retry', text: 'failed — retry',
        onclick: () => this.#post(m.client_id),
      }));
    }
    const read = this.#src.receipts && mine && m.id && !m.recalled && cmpId(this.#peerReadId, m.id) >= 0;
    li.dataset.read = String(!!read);
    if (read) meta.append(h('span', { class: 'msg-read', testid: 'msg-read', text: 'read' }));
    if (m.id && !m.recalled && mine && Date.now() - Number(m.ts) < RECALL_MS) {
      meta.append(h('button', {
        class: 'link-btn', type: 'button', testid: 'msg-recall', text: 'recall',
        onclick: () => this.#recall(String(m.id)),
      }));
    }
    if (m.id && this.#src.remove) {
      meta.append(h('button', {
        class: 'link-btn', type: 'button', testid: 'msg-delete', text: 'delete for me',
        onclick: () => this.#delete(String(m.id)),
      }));
    }
    clear(li).append(h('div', { class: 'msg-bubble' }, body), meta);
  }

  #setPeerRead(id) {
    if (id == null || cmpId(id, this.#peerReadId) <= 0) return;
    this.#peerReadId = String(id);
    for (const { m, li } of this.#items.values()) {
      if (li.dataset.read !== 'true' && sameId(m.from, this.#me.uid) && cmpId(this.#peerReadId, m.id) >= 0) {
        this.#fill(li, m);
      }
    }
  }

  #expireRecalls() {
    const now = Date.now();
    for (const { m, li } of this.#items.values()) {
      if (li.querySelector('[data-testid="msg-recall"]') && now - Number(m.ts) >= RECALL_MS) this.#fill(li, m);
    }
  }

  #send() {
    const text = this.#input.value.trim();
    if (!text || this.#closed) return;
    const m = { id: null, from: this.#me.uid, text, client_id: randomKey(), ts: Date.now() };
    const li = this.#item(m);
    this.#pending.set(m.client_id, { m, li });
    this.#ul.append(li);
    this.#ul.scrollTop = this.#ul.scrollHeight;
    this.#status.textContent = '';
    this.#input.value = '';
    this.#input.focus();
    this.#post(m.client_id);
  }

  // #post sends (or sends again, with the same client id: the server then
  // answers with the first one) a message shown as pending.
  async #post(clientId) {
    const p = this.#pending.get(clientId);
    if (!p) return;
    p.li.dataset.state = 'pending';
    this.#fill(p.li, p.m);
    try {
      this.#confirm(await this.#src.send(p.m.text, clientId));
    } catch (err) {
      if (!this.#pending.has(clientId)) return; // the channel confirmed it meanwhile
      p.li.dataset.state = 'failed';
      this.#fill(p.li, p.m);
      this.#showError(err.message);
    }
  }

  // #confirm turns the pending copy with m's client id into the stored m.
  #confirm(m) {
    const p = m.client_id ? this.#pending.get(m.client_id) : null;
    if (!p) return this.#add(m);
    this.#pending.delete(m.client_id);
    const key = String(m.id);
    if (this.#items.has(key)) { // shown already: drop the copy
      p.li.remove();
      return this.#items.get(key).li;
    }
    const stored = { ...m };
    delete stored.replay;
    p.li.remove();
    p.li.dataset.id = key;
    p.li.dataset.state = 'sent';
    this.#fill(p.li, stored);
    this.#items.set(key, { m: stored, li: p.li });
    this.#insert(p.li, m.id);
    this.#save();
    return p.li;
  }

  #onMsg(m) {
    if (!this.#src.belongs(m)) return;
    const mine = sameId(m.from, this.#me.uid);
    if (mine) this.#confirm(m);
    else this.#add(m);
    this.#status.textContent = '';
    this.#save();
    if (!mine) this.#markRead();
  }

  #onRead(r) {
    const readId = this.#src.peerRead?.(r);
    if (readId != null) this.#setPeerRead(readId);
  }

  #onRecall(r) {
    const id = this.#src.recalled(r);
    if (id != null && this.#items.has(String(id))) this.#markRecalled(String(id));
  }

  #markRecalled(key) {
    const x = this.#items.get(key);
    x.m = { ...x.m, text: '', recalled: true };
    this.#fill(x.li, x.m);
    this.#save();
  }

  async #recall(key) {
    try {
      await this.#src.recall(key);
      if (this.#items.has(key)) this.#markRecalled(key);
    } catch (err) {
      this.#showError(err.message);
    }
  }

  async #delete(key) {
    try {
      await this.#src.remove(key);
      const x = this.#items.get(key);
      if (x) {
        x.li.remove();
        this.#items.delete(key);
        this.#save();
      }
      toast('Deleted for you');
    } catch (err) {
      this.#showError(err.message);
    }
  }

  // #markRead marks the newest message from the others read while the chat
  // is on screen, again until the server's read position reaches it (it may
  // not have stored a message that arrived live yet).
  #markRead(attempt = 0) {
    // A read already asked for is seen through, its retries included, even when the chat is
    // left meanwhile: its message was on screen, and leaving at once must not leave it unread.
    if (attempt === 0 && (document.visibilityState === 'hidden' || this.#signal.aborted || this.#closed)) return;
    let newest = null;
    for (const { m } of this.#items.values()) {
      if (!sameId(m.from, this.#me.uid) && (!newest || cmpId(m.id, newest) > 0)) newest = String(m.id);
    }
    if (!newest || (attempt === 0 && cmpId(newest, this.#readWanted) <= 0)) return;
    this.#readWanted = newest;
    clearTimeout(this.#readTimer);
    const retry = () => {
      if (attempt + 1 < READ_RETRIES) {
        this.#readTimer = setTimeout(() => this.#markRead(attempt + 1), READ_RETRY_MS * (attempt + 1));
      }
    };
    this.#src.markRead(newest)
      .then((readId) => { if (cmpId(readId, newest) < 0) retry(); })
      .catch((err) => {
        if (err.name === 'AbortError') return;
        if (err.status === 404) retry(); // the conversation is not stored yet
        else console.warn('mark read', err);
      });
  }

  #showError(text) {
    this.#error.textContent = text;
    clearTimeout(this.#errorTimer);
    this.#errorTimer = setTimeout(() => { this.#error.textContent = ''; }, 5000);
  }
}
