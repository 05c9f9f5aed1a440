// The signed-in user's channel: one long connection joined to room 0 with a
// token from GET /api/channel, which carries only what is pushed to the user
// (private and group messages, read receipts, recalls, system notices), and
// the unread total shown in the navigation: unread chat messages, unread
// group messages and unread system notices. The counts are read at start with
// the inbox's one call (GET /api/im/inbox), which also gives the inbox's
// first lists (opening), and with each count's own call after. The same
// call brings the user's settings (who may message them, their
// do-not-disturb hours), which a page's save replaces (setSettings). The
// Inbox also says which arrivals deserve an alert ('alert'; alert.js shows
// them). The connection, its packets and its reconnects are LiveClient's;
// this only names the events.
import { api } from './api.js';
import { LiveClient } from './live.js';
import { sameId } from './json.js';

// Private-message commands pushed on the channel.
export const Cmd = Object.freeze({
  MSG: 'IM_MSG', READ: 'IM_READ', RECALL: 'IM_RECALL',
  GROUP_MSG: 'IM_GROUP_MSG', GROUP_JOIN: 'IM_GROUP_JOIN', GROUP_LEAVE: 'IM_GROUP_LEAVE',
  GROUP_READ: 'IM_GROUP_READ', GROUP_RECALL: 'IM_GROUP_RECALL', NOTICE: 'IM_NOTICE',
});

// NOTICE_KINDS are im-notice's kinds (notice.Kinds): system notices, mentions
// in bullet comments, replies to the user's bullet comments, likes of the
// user's live room and new followers.
export const NOTICE_KINDS = [
  { kind: 1, name: 'system', label: 'System' },
  { kind: 2, name: 'mention', label: 'Mentions' },
  { kind: 5, name: 'reply', label: 'Replies' },
  { kind: 3, name: 'like', label: 'Likes' },
  { kind: 4, name: 'follow', label: 'Follows' },
];
// Groups read for the unread total: the server's largest page. Unread
// messages of groups beyond it (the least recently active) are not counted.
const GROUP_PAGE = 200;
// INBOX_CHATS is the first page of the conversation list the inbox opens with
// (the Chats tab's page size).
export const INBOX_CHATS = 20;
// An opening fetched this recently (the one made at start, say) is what a
// page opening the inbox gets, rather than a fetch of its own.
const OPENING_FRESH_MS = 2_000;

// A refresh of the unread total right after an event waits this long, so a
// burst of read receipts costs one request.
const UNREAD_DEBOUNCE_MS = 150;
// Messages are stored a few ms after they are pushed, so a total read at the
// same time may miss one that was just counted here; it is read once more
// after this long.
const UNREAD_SETTLE_MS = 1_000;

// Inbox emits:
//   'state'  detail: 'connecting' | 'connected' | 'disconnected' (the channel);
//            a page that sees 'connected' reads again what it shows: pushes
//            sent while the channel was down are not sent again
//   'unread' detail: the unread total (its parts are in `parts`)
//   'msg'    detail: a message {id, from, to, text, client_id, ts}
//   'read'   detail: {uid, peer, read_id}: uid has read peer's messages up to read_id
//   'recall' detail: {id, from, to}
//   'group-msg'    detail: a group message {id, group_id, from, text, client_id, ts}
//   'group-join'   detail: {group_id, name?, uids}: uids joined the group
//   'group-leave'  detail: {group_id, uid}: uid left or was removed
//   'group-read'   detail: {group_id, read_id}: I read the group up to read_id
//   'group-recall' detail: {group_id, id}
//   'notice'       detail: a notice {id, business, kind, lane, title, body, sender, ts}
//   'settings'     detail: the user's settings {allow, dnd}, or null when
//                  they could not be read and none were before
//   'alert'        detail: {kind: 'msg' | 'group' | 'notice', data}: a new
//                  message or notice for the user, not their own, not in a
//                  conversation or group they muted, and not in the chat
//                  open on screen while the window has the focus
// Pages may set `open` to the uid of the chat on screen, or `openGroup` to
// the id of the group on screen: its messages are then not counted as unread
// (the page marks them read). A message in a conversation the Inbox knows is
// muted (from the lists it or a page read since it started, and the mutes
// made here: noteMuted) is not counted either — the server's total leaves it
// out — and alerts nobody; one in a conversation it has not seen counts as
// not muted.
export class Inbox extends EventTarget {
  #me;
  #live;
  #parts = { chats: 0, groups: 0, notices: 0 };
  #noticeKinds = { system: 0, mention: 0, like: 0 }; // unread notices by kind
  #state = 'connecting';
  #timer = null;
  #settle = null;
  #stopped = false;
  #everConnected = false;
  #opening = null; // {at, promise}: the last GET /api/im/inbox not yet taken by a page
  #settings = null; // {allow, dnd}, as last read or saved (null: not known)
  #settingsRead = null; // the GET /api/im/settings under way
  #mutedChats = new Map(); // peer (string) -> muted, for the conversations seen
  #mutedGroups = new Map(); // group id (string) -> muted, for the groups seen
  open = null;
  openGroup = null;

  constructor(me) {
    super();
    this.#me = me;
    this.#live = new LiveClient({
      roomId: 0,
      uid: me.uid,
      getToken: async () => (await api('/api/channel')).token,
    });
    this.#live.addEventListener('state', (ev) => this.#onState(ev.detail));
    this.#live.addEventListener('message', (ev) => this.#onMessage(ev.detail));
    this.#live.addEventListener('error', (ev) => console.warn('message channel', ev.detail));
  }

  get me() { return this.#me; }
  get unread() { return this.#parts.chats + this.#parts.groups + this.#parts.notices; }
  // parts is the unread total by tab: {chats, groups, notices}.
  get parts() { return { ...this.#parts }; }
  get state() { return this.#state; }
  // settings are the user's settings as last read or saved ({allow, dnd}),
  // or null before they are known.
  get settings() { return this.#settings; }

  // setSettings takes the settings the server answered (a page's save).
  setSettings(s) {
    if (this.#stopped || !s || typeof s !== 'object') return;
    this.#settings = { allow: Number(s.allow) || 0, dnd: s.dnd && typeof s.dnd === 'object' ? { ...s.dnd } : null };
    this.#emit('settings', this.#settings);
  }

  // readSettings reads the settings with their own call
  // (GET /api/im/settings), one at a time, and resolves to them.
  readSettings() {
    this.#settingsRead ??= api('/api/im/settings').then((s) => {
      this.setSettings(s);
      return this.#settings;
    }, (err) => {
      if (err.name !== 'AbortError') console.warn('settings', err);
      if (!this.#stopped) this.#emit('settings', this.#settings);
      throw err;
    }).finally(() => { this.#settingsRead = null; });
    return this.#settingsRead;
  }

  // #settingsMissing is an inbox read that did not bring the settings: the
  // ones known stand, else they are read with their own call.
  #settingsMissing() {
    if (this.#settings) this.#emit('settings', this.#settings);
    else this.readSettings().catch(() => {});
  }

  // noteMuted records whether the conversation with peer is muted (a list
  // page read, a mute made).
  noteMuted(peer, muted) {
    if (peer != null) this.#mutedChats.set(String(peer), muted === true);
  }

  start() {
    this.#live.start();
    this.readInbox().catch(() => {});
  }

  // readInbox reads the inbox in one call (GET /api/im/inbox): the first page
  // of conversations, the unread total, the groups and the unread notices. It
  // takes the unread counts from it; a count whose module is degraded (or
  // null: no component serves it) is read with its own call, and a failed
  // call leaves every count as it was. It resolves to the inbox's data, for a
  // page to show; it rejects when the call fails.
  readInbox() {
    const promise = this.#fetchInbox();
    this.#opening = { at: Date.now(), promise };
    return promise;
  }

  // opening is what a page opening the inbox shows first: the data of the
  // last readInbox() if it started within OPENING_FRESH_MS and no page took
  // it yet, else of a new readInbox(). Pages treat a module that is degraded,
  // or a rejection, by fetching their list themselves.
  opening() {
    const o = this.#opening;
    this.#opening = null;
    if (o && Date.now() - o.at <= OPENING_FRESH_MS) return o.promise;
    const p = this.readInbox();
    this.#opening = null;
    return p;
  }

  async #fetchInbox() {
    let data;
    try {
      data = await api(`/api/im/inbox?limit=${INBOX_CHATS}&group_limit=${GROUP_PAGE}`);
    } catch (err) {
      if (err.name !== 'AbortError') console.warn('inbox', err);
      if (!this.#stopped) this.#settingsMissing();
      throw err;
    }
    if (this.#stopped) return data;
    const ok = (m) => m !== null && m !== undefined && !(typeof m === 'object' && m.degraded);
    if (ok(data.settings)) this.setSettings(data.settings);
    else this.#settingsMissing();
    if (ok(data.chats)) for (const c of data.chats.items || []) this.noteMuted(c.peer, c.muted);
    const missing = [];
    if (ok(data.unread)) this.#parts.chats = Math.max(0, Number(data.unread) || 0);
    else missing.push('chats');
    if (ok(data.groups)) {
      this.#parts.groups = groupsUnread(data.groups);
      this.#noteGroups(data.groups);
    } else missing.push('groups');
    if (ok(data.notices)) this.#parts.notices = this.#takeNoticeKinds(data.notices);
    else missing.push('notices');
    this.#emitUnread();
    if (missing.length > 0) this.#readParts(missing);
    return data;
  }

  // #takeNoticeKinds keeps the unread notices by kind of an answer of
  // /api/im/notices/unread (or the inbox's notices) and returns their sum.
  #takeNoticeKinds(n) {
    for (const k of NOTICE_KINDS) this.#noticeKinds[k.name] = Math.max(0, Number(n[k.name]) || 0);
    return Object.values(this.#noticeKinds).reduce((a, b) => a + b, 0);
  }

  stop() {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#settle);
    this.#live.stop();
  }

  // refreshUnread asks the server for the unread counts now. A count that
  // cannot be read keeps its last value.
  async refreshUnread() {
    clearTimeout(this.#timer);
    this.#timer = null;
    await this.#readParts(['chats', 'groups', 'notices']);
  }

  // #readParts reads the named parts of the unread total, each with its own
  // call.
  async #readParts(parts) {
    const readers = {
      chats: async () => Number((await api('/api/im/unread')).total) || 0,
      groups: async () => {
        const page = await api(`/api/im/groups?limit=${GROUP_PAGE}`);
        this.#noteGroups(page);
        return groupsUnread(page);
      },
      notices: async () => this.#takeNoticeKinds(await api('/api/im/notices/unread')),
    };
    await Promise.all(parts.map(async (part) => {
      try {
        const n = await readers[part]();
        if (!this.#stopped) this.#parts[part] = Math.max(0, n);
      } catch (err) {
        if (err.name !== 'AbortError') console.warn(`unread ${part}`, err);
      }
    }));
    if (!this.#stopped) this.#emitUnread();
  }

  // noticesRead takes the unread notices of a kind left after the page marked
  // them read (the server sends no event for it).
  noticesRead(kind, unread) {
    this.#noticeKinds[kind] = Math.max(0, Number(unread) || 0);
    this.#parts.notices = Object.values(this.#noticeKinds).reduce((a, b) => a + b, 0);
    this.#emitUnread();
  }

  #refreshSoon() {
    clearTimeout(this.#timer);
    clearTimeout(this.#settle);
    this.#timer = setTimeout(() => this.refreshUnread(), UNREAD_DEBOUNCE_MS);
    this.#settle = setTimeout(() => this.refreshUnread(), UNREAD_SETTLE_MS);
  }

  #bump(part) {
    this.#parts[part] += 1;
    this.#emitUnread();
  }

  // #noteGroups records which groups of a page are muted.
  #noteGroups(page) {
    for (const g of page.items || []) this.#mutedGroups.set(String(g.id), g.muted === true);
  }

  // #onScreen says whether the chat shown (open or openGroup) is id and the
  // window has the focus: its messages are being read.
  #onScreen(open, id) {
    return sameId(id, open) && document.hasFocus();
  }

  #emitUnread() {
    this.#emit('unread', this.unread);
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  #onState(state) {
    this.#state = state;
    if (state === 'connected') {
      // Whatever changed while the channel was down shows in the total.
      if (this.#everConnected) this.#refreshSoon();
      this.#everConnected = true;
    }
    this.#emit('state', state);
  }

  #onMessage(msg) {
    if (!msg || typeof msg !== 'object' || !msg.data) return;
    const d = msg.data;
    switch (msg.cmd) {
      case Cmd.MSG: {
        // A message to me from someone whose chat is not on screen counts
        // at once; the store catches up within milliseconds, so asking the
        // server now could miss it. A muted conversation's messages do not
        // count (the server's total leaves them out).
        const incoming = sameId(d.to, this.#me.uid) && !sameId(d.from, this.#me.uid);
        const muted = this.#mutedChats.get(String(d.from)) === true;
        if (incoming && !muted && !sameId(d.from, this.open)) this.#bump('chats');
        if (incoming && !muted && !this.#onScreen(this.open, d.from)) this.#emit('alert', { kind: 'msg', data: d });
        this.#emit('msg', d);
        break;
      }
      case Cmd.READ:
        // I read something (here or on another device): the server has
        // recounted before it told us.
        if (sameId(d.uid, this.#me.uid)) this.#refreshSoon();
        this.#emit('read', d);
        break;
      case Cmd.RECALL:
        this.#emit('recall', d);
        break;
      case Cmd.GROUP_MSG: {
        // Counted at once for the same reason as a chat message.
        const mine = sameId(d.from, this.#me.uid);
        if (!mine && !sameId(d.group_id, this.openGroup)) this.#bump('groups');
        if (!mine && this.#mutedGroups.get(String(d.group_id)) !== true && !this.#onScreen(this.openGroup, d.group_id)) {
          this.#emit('alert', { kind: 'group', data: d });
        }
        this.#emit('group-msg', d);
        break;
      }
      case Cmd.GROUP_JOIN:
        this.#emit('group-join', d);
        break;
      case Cmd.GROUP_LEAVE:
        // Leaving a group drops its unread messages from the total.
        if (sameId(d.uid, this.#me.uid)) this.#refreshSoon();
        this.#emit('group-leave', d);
        break;
      case Cmd.GROUP_READ:
        this.#refreshSoon();
        this.#emit('group-read', d);
        break;
      case Cmd.GROUP_RECALL:
        this.#emit('group-recall', d);
        break;
      case Cmd.NOTICE:
        // Pushed once the notice is in the inbox and counted; a like notice's
        // new count (new: false) is no new unread.
        if (Number(d.kind) === 1 || d.new === true) {
          const k = NOTICE_KINDS.find((x) => x.kind === Number(d.kind));
          if (k) this.#noticeKinds[k.name]++;
          this.#bump('notices');
          this.#emit('alert', { kind: 'notice', data: d });
        }
        this.#emit('notice', d);
        break;
      default:
        break;
    }
  }
}

// groupsUnread is the unread messages of a page of groups.
function groupsUnread(page) {
  return (page.items || []).reduce((n, g) => n + (Number(g.unread) || 0), 0);
}
