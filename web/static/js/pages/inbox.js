// The inbox, in three tabs: Chats (the conversation list, newest first,
// paged with the server's cursor, beside the open chat), Groups
// (inbox_group.js) and Notices (inbox_notices.js), all kept current by the
// user's message channel. The Chats and Groups tabs' first lists come from
// the inbox's one call (GET /api/im/inbox, Inbox.opening); later pages and
// reloads from the list's own route. A list that cannot be fetched is
// replaced by the last one saved in this tab, marked as saved, rather than by
// a blank page.
import { h, clear, shortTime } from '../dom.js';
import { session } from '../api.js';
import { sameId, cmpId } from '../json.js';
import { save } from '../saved.js';
import { INBOX_CHATS } from '../im.js';
import { ChatPane, peerSource } from './inbox_chat.js';
import { InboxList } from './inbox_list.js';
import { groupsView } from './inbox_group.js';
import { noticesView } from './inbox_notices.js';
import { inboxSettings } from './inbox_settings.js';

const PAGE_SIZE = INBOX_CHATS; // the first page comes with GET /api/im/inbox
// A conversation that appears live without a name (a new peer) is fetched
// again after this long, once the store has it.
const NAME_REFRESH_MS = 400;

// TABS are the inbox's tabs: their path and the part of the unread total
// (Inbox.parts) each one counts.
const TABS = [
  { id: 'chats', label: 'Chats', path: '/inbox' },
  { id: 'groups', label: 'Groups', path: '/inbox/groups' },
  { id: 'notices', label: 'Notices', path: '/inbox/notices' },
];

export async function inboxPage(view, { tab = 'chats', peer, group }, ctx) {
  const me = session.get();
  const { inbox } = ctx;
  const badges = {};
  const tabs = h('nav', { class: 'tabs', testid: 'inbox-tabs', 'aria-label': 'inbox' }, TABS.map((t) => {
    badges[t.id] = h('span', { class: 'nav-badge', testid: 'tab-unread', dataset: { count: '0' }, hidden: true });
    return h('a', {
      class: t.id === tab ? 'tab active' : 'tab', href: `#${t.path}`, testid: `inbox-tab-${t.id}`,
      'aria-current': t.id === tab ? 'page' : null,
    }, t.label, ' ', badges[t.id]);
  }));
  const showCounts = () => {
    const parts = inbox ? inbox.parts : {};
    for (const [id, b] of Object.entries(badges)) {
      const n = Number(parts[id]) || 0;
      b.dataset.count = String(n);
      b.textContent = n > 99 ? '99+' : String(n);
      b.hidden = n <= 0;
    }
  };
  inbox?.addEventListener('unread', showCounts);
  showCounts();
  const settings = inboxSettings(ctx);
  const head = h('div', { class: 'page-head' },
    h('h1', { text: 'Messages' }),
    h('span', { class: 'muted', testid: 'my-uid', text: `Your user id: ${me.uid}` }),
    settings.allow);
  const section = h('section', { class: 'page inbox-page', testid: 'inbox-page', dataset: { tab } },
    head, settings.alerts, tabs);
  view.append(section);
  let cleanup;
  try {
    if (tab === 'groups') cleanup = await groupsView(section, { me, group }, ctx);
    else if (tab === 'notices') cleanup = await noticesView(section, { me }, ctx);
    else cleanup = await chatsView(section, { me, peer }, ctx);
  } catch (err) {
    inbox?.removeEventListener('unread', showCounts);
    throw err;
  }
  return () => {
    inbox?.removeEventListener('unread', showCounts);
    cleanup?.();
  };
}

// chatsView is the Chats tab: the conversation list beside the open chat.
async function chatsView(section, { me, peer }, { signal, navigate, inbox }) {
  const list = new ConversationList({ me, inbox, signal, active: peer || null });
  const chat = peer ? new ChatPane({
    me, inbox, signal, source: peerSource(me, peer, {
      onMuted: (v) => {
        list.setMuted(peer, v);
        inbox?.noteMuted(peer, v);
      },
    }),
  }) : null;

  const uidInput = h('input', {
    testid: 'start-uid', inputmode: 'numeric', pattern: '[0-9]*', maxlength: '20',
    placeholder: 'user id', 'aria-label': 'user id to message', autocomplete: 'off',
  });
  const startError = h('p', { class: 'form-error', testid: 'start-error', role: 'alert' });
  const start = h('form', {
    class: 'row inbox-start',
    testid: 'start-form',
    onsubmit: (ev) => {
      ev.preventDefault();
      const uid = uidInput.value.trim();
      if (!/^\d{1,20}$/.test(uid) || /^0+$/.test(uid)) {
        startError.textContent = 'enter a user id (a number)';
        return;
      }
      if (sameId(uid, me.uid)) {
        startError.textContent = 'that is you';
        return;
      }
      navigate(`/inbox/${uid}`);
    },
  }, uidInput, h('button', { class: 'btn', type: 'submit', testid: 'start-chat', text: 'Message' }));

  section.append(h('div', { class: 'inbox-layout' },
    h('aside', { class: 'panel inbox-list-panel' }, start, startError, list.el),
    chat ? chat.el : h('div', { class: 'panel inbox-empty muted', testid: 'chat-none',
      text: 'Pick a conversation, or enter a user id to start one.' })));

  // The list's first page comes with the inbox's one call (Inbox.opening).
  await Promise.all([list.load({ opening: inbox?.opening() }), chat?.load()]);
  if (chat && !signal.aborted) chat.setMuted(list.row(peer)?.muted === true);
  return () => {
    list.destroy();
    chat?.destroy();
  };
}

// ConversationList shows the signed-in user's conversations and keeps them
// current from the channel's events.
class ConversationList extends InboxList {
  el;
  #me;
  #inbox;
  #active;
  #ul = h('ul', { class: 'conv-list', testid: 'conv-list' });
  #nameTimer = null;

  constructor({ me, inbox, signal, active }) {
    super({
      inbox, signal, noun: 'conversations', module: 'chats', route: '/api/im/conversations', pageSize: PAGE_SIZE,
      status: h('p', { class: 'muted', testid: 'conv-status', text: 'Loading conversations…' }),
      offline: h('p', { class: 'note-offline', testid: 'inbox-offline', role: 'status', hidden: true }),
      more: h('button', { class: 'btn btn-small', type: 'button', testid: 'conv-more', text: 'Load more', hidden: true }),
    });
    this.#me = me;
    this.#inbox = inbox;
    this.#active = active;
    this.el = h('div', { class: 'conv-box' }, this.offline, this.status, this.#ul,
      h('div', { class: 'center' }, this.more));
    this.listen('msg', (m) => this.#onMsg(m));
    this.listen('read', (r) => this.#onRead(r));
    this.listen('recall', (r) => this.#onRecall(r));
    this.listen('state', (s) => { if (s === 'connected' && this.loaded) this.load(); });
  }

  get saveKey() { return `inbox.${this.#me.uid}`; }

  destroy() {
    clearTimeout(this.#nameTimer);
    super.destroy();
  }

  // merge takes a conversation from the server unless the one shown is newer
  // (a live message the store had not written when the page was read).
  merge(c) {
    this.#inbox?.noteMuted(c.peer, c.muted); // what the Inbox's alerts leave out
    const key = String(c.peer);
    const cur = this.rows.get(key);
    if (cur && cmpId(cur.last_id, c.last_id) > 0) {
      if (!cur.peer_name) cur.peer_name = c.peer_name;
      return;
    }
    this.rows.set(key, { ...c });
  }

  setMuted(peer, muted) {
    const r = this.row(peer);
    if (!r) return;
    r.muted = muted;
    this.render();
  }

  #onMsg(m) {
    const mine = sameId(m.from, this.#me.uid);
    const peer = String(mine ? m.to : m.from);
    let r = this.rows.get(peer);
    if (r && cmpId(m.id, r.last_id) <= 0) return;
    if (!r) {
      r = { peer, peer_name: '', unread: 0, read_id: 0, muted: false };
      this.rows.set(peer, r);
      clearTimeout(this.#nameTimer);
      this.#nameTimer = setTimeout(() => this.load(), NAME_REFRESH_MS);
    }
    Object.assign(r, { last: m, last_id: m.id, mtime: m.ts });
    if (!mine && !sameId(peer, this.#active)) r.unread = (Number(r.unread) || 0) + 1;
    this.status.textContent = '';
    this.render();
  }

  #onRead({ uid, peer, read_id: readId }) {
    if (!sameId(uid, this.#me.uid)) return;
    const r = this.row(peer);
    if (!r) return;
    r.read_id = readId;
    if (cmpId(readId, r.last_id) >= 0) r.unread = 0;
    else this.load(); // read up to a message before the last: let the server count
    this.render();
  }

  #onRecall({ id }) {
    for (const r of this.rows.values()) {
      if (r.last && sameId(r.last.id, id)) {
        r.last = { ...r.last, text: '', recalled: true };
        this.render();
      }
    }
  }

  render() {
    const rows = [...this.rows.values()].sort((a, b) =>
      (Number(b.mtime) - Number(a.mtime)) || cmpId(b.peer, a.peer));
    clear(this.#ul).append(...rows.map((r) => this.#item(r)));
    if (rows.length === 0 && this.loaded) this.status.textContent = 'No conversations yet.';
    this.more.hidden = !this.next;
    // What is shown is what a failed fetch shows later.
    if (this.loaded) save(this.saveKey, { items: rows, next: this.next });
  }

  #item(r) {
    const unread = Number(r.unread) || 0;
    const last = r.last;
    let preview = '';
    if (last) {
      const text = last.recalled ? 'message recalled' : last.text;
      preview = sameId(last.from, this.#me.uid) ? `You: ${text}` : text;
    }
    return h('li', {},
      h('a', {
        class: sameId(r.peer, this.#active) ? 'conv active' : 'conv',
        href: `#/inbox/${r.peer}`,
        testid: 'conv-item',
        dataset: { peer: String(r.peer), unread: String(unread), muted: String(!!r.muted) },
      },
      h('span', { class: 'conv-top' },
        h('span', { class: 'conv-name', testid: 'conv-name', text: r.peer_name || `uid ${r.peer}` }),
        r.muted && h('span', { class: 'conv-muted', testid: 'conv-muted', title: 'muted', text: 'muted' }),
        h('span', { class: 'conv-time muted', text: r.mtime ? shortTime(r.mtime) : '' }),
        h('span', { class: 'nav-badge', testid: 'conv-unread', hidden: unread <= 0, text: unread > 99 ? '99+' : String(unread) })),
      h('span', { class: 'conv-preview muted', testid: 'conv-preview', text: preview })));
  }
}
