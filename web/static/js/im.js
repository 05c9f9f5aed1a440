// The signed-in user's channel: one long connection joined to room 0 with a
// token from GET /api/channel, which carries only what is pushed to the user
// (private messages, read receipts, recalls), and the unread total shown in
// the navigation. The connection, its packets and its reconnects are
// LiveClient's; this only names the events.
import { api } from './api.js';
import { LiveClient } from './live.js';
import { sameId } from './json.js';

// Private-message commands pushed on the channel.
export const Cmd = Object.freeze({ MSG: 'IM_MSG', READ: 'IM_READ', RECALL: 'IM_RECALL' });

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
//   'unread' detail: the unread total
//   'msg'    detail: a message {id, from, to, text, client_id, ts}
//   'read'   detail: {uid, peer, read_id}: uid has read peer's messages up to read_id
//   'recall' detail: {id, from, to}
// Pages may set `open` to the uid of the chat on screen: a message from that
// peer is then not counted as unread (the page marks it read).
export class Inbox extends EventTarget {
  #me;
  #live;
  #unread = 0;
  #state = 'connecting';
  #timer = null;
  #settle = null;
  #stopped = false;
  #everConnected = false;
  open = null;

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
  get unread() { return this.#unread; }
  get state() { return this.#state; }

  start() {
    this.#live.start();
    this.refreshUnread();
  }

  stop() {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#settle);
    this.#live.stop();
  }

  // refreshUnread asks the server for the unread total now.
  async refreshUnread() {
    clearTimeout(this.#timer);
    this.#timer = null;
    try {
      const data = await api('/api/im/unread');
      if (!this.#stopped) this.#setUnread(Number(data.total) || 0);
    } catch (err) {
      if (err.name !== 'AbortError') console.warn('unread total', err);
    }
  }

  #refreshSoon() {
    clearTimeout(this.#timer);
    clearTimeout(this.#settle);
    this.#timer = setTimeout(() => this.refreshUnread(), UNREAD_DEBOUNCE_MS);
    this.#settle = setTimeout(() => this.refreshUnread(), UNREAD_SETTLE_MS);
  }

  #setUnread(n) {
    this.#unread = Math.max(0, n);
    this.#emit('unread', this.#unread);
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
      case Cmd.MSG:
        // A message to me from someone whose chat is not on screen counts
        // at once; the store catches up within milliseconds, so asking the
        // server now could miss it.
        if (sameId(d.to, this.#me.uid) && !sameId(d.from, this.#me.uid) && !sameId(d.from, this.open)) {
          this.#setUnread(this.#unread + 1);
        }
        this.#emit('msg', d);
        break;
      case Cmd.READ:
        // I read something (here or on another device): the server has
        // recounted before it told us.
        if (sameId(d.uid, this.#me.uid)) this.#refreshSoon();
        this.#emit('read', d);
        break;
      case Cmd.RECALL:
        this.#emit('recall', d);
        break;
      default:
        break;
    }
  }
}
