// LiveClient keeps one room's long connection open: WebSocket /sub on the
// page's own origin, auth, heartbeats, and reconnects with backoff.
import { Op, Ver, encodePacket, unpack, bodyText, bodyUint32 } from './protocol.js';
import { parseJSON, stringifyJSON } from './json.js';

const HEARTBEAT_MS = 30_000;
// A connection that has received nothing for this long is considered dead
// even if the browser has not noticed yet.
const SILENCE_MS = 75_000;
const AUTH_TIMEOUT_MS = 10_000;
const BACKOFF_MIN_MS = 1_000;
const BACKOFF_MAX_MS = 30_000;

// subURL is the WebSocket endpoint on the same origin as the page.
export function subURL(loc = location) {
  return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}/sub`;
}

// LiveClient emits:
//   'state'   detail: 'connecting' | 'connected' | 'disconnected'
//   'online'  detail: popularity from a heartbeat reply
//   'message' detail: one decoded op-5 JSON message ({cmd, ...})
//   'error'   detail: Error (auth refused, protocol error)
export class LiveClient extends EventTarget {
  #roomId;
  #uid;
  #getToken;
  #url;
  #ws = null;
  #stopped = true;
  #attempt = 0;
  #seq = 1;
  #timers = new Set();
  #heartbeat = null;
  #lastRecv = 0;
  #queue = Promise.resolve();

  // getToken fetches a fresh danmu-info token; it is called before every
  // (re)connect because tokens expire.
  constructor({ roomId, uid, getToken, url = subURL() }) {
    super();
    this.#roomId = roomId;
    this.#uid = uid || 0;
    this.#getToken = getToken;
    this.#url = url;
  }

  start() {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#connect();
  }

  stop() {
    this.#stopped = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#stopHeartbeat();
    const ws = this.#ws;
    this.#ws = null;
    if (ws) ws.close(1000, 'bye');
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  #later(fn, ms) {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    this.#timers.add(t);
    return t;
  }

  #scheduleReconnect() {
    if (this.#stopped) return;
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.#attempt);
    this.#attempt = Math.min(this.#attempt + 1, 10);
    // Jitter spreads a room's viewers out after a comet restarts.
    this.#later(() => this.#connect(), base / 2 + Math.random() * (base / 2));
  }

  async #connect() {
    if (this.#stopped) return;
    this.#emit('state', 'connecting');
    let token;
    try {
      token = await this.#getToken();
    } catch (err) {
      this.#emit('error', err);
      this.#emit('state', 'disconnected');
      this.#scheduleReconnect();
      return;
    }
    if (this.#stopped) return;
    let ws;
    try {
      ws = new WebSocket(this.#url);
    } catch (err) {
      this.#emit('error', err);
      this.#scheduleReconnect();
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.#ws = ws;
    this.#queue = Promise.resolve();
    let authed = false;
    const authTimer = this.#later(() => {
      if (!authed && this.#ws === ws) ws.close(4000, 'auth timeout');
    }, AUTH_TIMEOUT_MS);

    ws.onopen = () => {
      const auth = { uid: this.#uid, roomid: this.#roomId, protover: Ver.ZLIB, platform: 'web', type: 2, key: token };
      ws.send(encodePacket(Op.AUTH, stringifyJSON(auth), { ver: Ver.PLAIN, seq: this.#seq++ }));
    };
    ws.onmessage = (ev) => {
      if (this.#ws !== ws || !(ev.data instanceof ArrayBuffer)) return;
      this.#lastRecv = Date.now();
      const bytes = new Uint8Array(ev.data);
      // Decompression is async; chaining keeps messages in arrival order.
      this.#queue = this.#queue
        .then(() => this.#handle(ws, bytes, () => {
          authed = true;
          clearTimeout(authTimer);
          this.#timers.delete(authTimer);
        }))
        .catch((err) => {
          this.#emit('error', err);
          if (this.#ws === ws) ws.close(4001, 'protocol error');
        });
    };
    ws.onclose = () => {
      if (this.#ws !== ws) return;
      this.#ws = null;
      this.#stopHeartbeat();
      this.#emit('state', 'disconnected');
      this.#scheduleReconnect();
    };
  }

  async #handle(ws, bytes, onAuthed) {
    const packets = await unpack(bytes);
    for (const p of packets) {
      if (this.#ws !== ws) return;
      switch (p.op) {
        case Op.AUTH_REPLY: {
          const reply = parseJSON(bodyText(p) || '{}');
          if (reply.code !== 0) {
            this.#emit('error', new Error(`auth refused (code ${reply.code})`));
            ws.close(4002, 'auth refused');
            return;
          }
          onAuthed();
          this.#attempt = 0;
          this.#emit('state', 'connected');
          this.#startHeartbeat(ws);
          break;
        }
        case Op.HEARTBEAT_REPLY:
          this.#emit('online', bodyUint32(p));
          break;
        case Op.MESSAGE:
          if (p.ver === Ver.JSON) this.#emit('message', parseJSON(bodyText(p)));
          break;
        default:
          break;
      }
    }
  }

  #startHeartbeat(ws) {
    this.#stopHeartbeat();
    const beat = () => {
      if (this.#ws !== ws || ws.readyState !== WebSocket.OPEN) return;
      if (Date.now() - this.#lastRecv > SILENCE_MS) {
        ws.close(4003, 'silent');
        return;
      }
      ws.send(encodePacket(Op.HEARTBEAT, '', { ver: Ver.PLAIN, seq: this.#seq++ }));
    };
    // The first beat right away brings the online count without waiting 30 s.
    beat();
    this.#heartbeat = setInterval(beat, HEARTBEAT_MS);
  }

  #stopHeartbeat() {
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = null;
  }
}
