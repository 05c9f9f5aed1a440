// The room page: stage with the video (or the poster) under bullet comments,
// chat, input, gifts, rank, and the room's long connection. It loads with one
// call, GET /api/room/enter, then opens the WebSocket (and, while the room is
// live, the video); modules the room's switches turn off are not shown and cost
// no request. A comment in the chat can be replied to: the next comment sent
// names it (reply_to), and replies show whom they answer.
import { h, fmtCount, toast } from '../dom.js';
import { api, roomPath, session } from '../api.js';
import { sameId } from '../json.js';
import { LiveClient } from '../live.js';
import { Stage } from '../stage.js';
import { ChatList } from '../chat.js';
import { GiftPanel, RankList } from './room_gifts.js';
import { poster, liveBadge, setLive } from './common.js';
import { commandHandler } from './room_commands.js';
import { roomVideo } from './room_video.js';
import { followButton } from './follow.js';

// An own comment shown on send is matched with its echo from the long
// connection for this long; the echo then only marks it confirmed.
const ECHO_MS = 15_000;
const COLORS = [
  ['White', 0xffffff], ['Red', 0xfe0302], ['Orange', 0xff7204], ['Yellow', 0xffe133],
  ['Green', 0x00cd00], ['Cyan', 0x00a2ff], ['Pink', 0xff88c7],
];
const MODES = [['Scroll', 1], ['Top', 5], ['Bottom', 4]];

// messageAnchor links a signed-in viewer to a private chat with the room's
// owner (nothing for guests and for the owner themself).
function messageAnchor(room, me) {
  const owner = room.base?.owner_uid;
  if (!me || !owner || sameId(owner, me.uid)) return null;
  return h('a', { class: 'btn btn-small btn-ghost', href: `#/inbox/${owner}`, testid: 'message-anchor', text: 'Message' });
}

// usable reports whether a module of the room page came with data: not
// {degraded: true} (its component failed) nor {off: true} (switched off).
const usable = (m) => !!m && m.degraded !== true && m.off !== true;

export async function roomPage(view, { id }, { signal }) {
  const me = session.get();
  let enter;
  try {
    enter = await api(`/api/room/enter?id=${encodeURIComponent(id)}`, { signal });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    view.append(h('section', { class: 'panel empty', testid: 'room-error' },
      h('h1', { text: err.status === 404 ? 'Room not found' : 'Could not open the room' }),
      h('p', { class: 'muted', text: err.message }),
      h('a', { class: 'btn', href: '#/rooms', text: 'Back to rooms' })));
    return undefined;
  }
  let room = enter.room;
  const on = enter.switches || {};
  const commentsOn = on.comments !== false;
  const muted = usable(enter.viewer) && enter.viewer.muted === true;
  const canChat = !!me && commentsOn && !muted;
  let placeholder = 'Say something…';
  if (!commentsOn) placeholder = 'Comments are switched off in this room';
  else if (!me) placeholder = 'Log in to chat';
  else if (muted) placeholder = 'You are muted in this room';

  // Header.
  const title = h('h1', { class: 'room-title', testid: 'room-title', text: room.base?.title || 'Untitled room' });
  const area = h('span', { class: 'muted', testid: 'room-area', text: room.base?.area || '' });
  const badge = liveBadge(room.live?.status);
  const online = h('span', { class: 'stat', testid: 'online-count', text: fmtCount(room.stats?.online || 0) });
  const watched = h('span', { class: 'stat', testid: 'watched-count', text: fmtCount(room.stats?.watched || 0) });
  // Viewers of the video, counted by media apart from the danmaku connections (at load).
  const videoViewers = room.stats?.video_viewers;
  const videoCount = videoViewers == null ? null
    : h('span', { class: 'stat', testid: 'video-viewers', dataset: { value: String(videoViewers) }, text: fmtCount(videoViewers) });
  const conn = h('span', { class: 'conn', testid: 'conn-status', dataset: { state: 'connecting' }, title: 'connecting' });

  // Stage and chat.
  const stageEl = h('div', { class: 'stage', testid: 'stage' });
  let posterEl = poster(room, { big: true });
  stageEl.append(posterEl);
  const chatEl = h('ul', { class: 'chat-list', testid: 'chat-list', 'aria-live': 'polite' });
  const chat = new ChatList(chatEl, { onReply: canChat ? (c) => setReply(c) : undefined });
  // The comment the next send replies to, shown above the input until sent or cancelled.
  let replying = null; // {id, uid, uname}
  const replyName = h('span', { testid: 'reply-target-name' });
  const replyCancel = h('button', { type: 'button', class: 'btn btn-small btn-ghost', testid: 'reply-cancel', text: '×', 'aria-label': 'cancel reply' });
  const replyBar = h('div', { class: 'reply-target', testid: 'reply-target', hidden: true }, 'Replying to ', replyName, replyCancel);
  const input = h('input', {
    class: 'danmaku-input', testid: 'danmaku-input', maxlength: '100', autocomplete: 'off',
    placeholder, disabled: !canChat, 'aria-label': 'comment',
  });
  const sendBtn = h('button', { type: 'button', class: 'btn btn-primary', testid: 'danmaku-send', text: 'Send', disabled: !canChat });
  const color = h('select', { class: 'danmaku-color', testid: 'danmaku-color', 'aria-label': 'colour' },
    COLORS.map(([name, v]) => h('option', { value: String(v), text: name })));
  const mode = h('select', { class: 'danmaku-mode', testid: 'danmaku-mode', 'aria-label': 'position' },
    MODES.map(([name, v]) => h('option', { value: String(v), text: name })));
  const sendError = h('p', { class: 'form-error', testid: 'danmaku-error', role: 'alert' });

  // A switched-off module gets no panel, so nothing asks for it later either.
  const rank = on.rank !== false ? new RankList({ roomId: id, signal }) : null;
  const gifts = on.gifts !== false ? new GiftPanel({
    roomId: id,
    onSent: () => {
      if (!rank) return;
      rank.refresh(0);
      // Scores are folded over a short window; look again once it closed.
      setTimeout(() => !signal.aborted && rank.refresh(0), 1500);
    },
  }) : null;
  gifts?.show(enter.gifts, enter.wallet);
  rank?.show(enter.rank);

  view.append(h('section', { class: 'room-page', testid: 'room-page', dataset: { roomId: String(id) } },
    h('div', { class: 'room-head' },
      h('div', { class: 'room-head-main' }, badge, title),
      h('div', { class: 'room-head-meta' },
        h('span', { testid: 'anchor-name', text: room.anchor?.name || '' }),
        followButton(room.base?.owner_uid, me, { signal, relation: usable(enter.anchor) ? enter.anchor : null }), messageAnchor(room, me), area,
        h('span', { class: 'muted' }, online, ' online'),
        h('span', { class: 'muted' }, watched, ' watched'),
        videoCount && h('span', { class: 'muted' }, videoCount, ' watching the video'), conn)),
    h('div', { class: 'room-layout' },
      h('div', { class: 'room-main' }, stageEl,
        h('div', { class: 'room-extras' }, ...[gifts?.el, rank?.el].filter(Boolean))),
      h('aside', { class: 'panel chat-panel', testid: 'chat-panel' },
        h('div', { class: 'panel-head' }, h('h2', { text: 'Chat' })),
        chatEl,
        h('form', { class: 'danmaku-form', onsubmit: (ev) => ev.preventDefault() },
          replyBar, input, h('div', { class: 'row' }, color, mode, sendBtn)),
        sendError))));

  const stage = new Stage(stageEl);
  const video = roomVideo(stageEl, {
    id,
    live: { status: room.live?.status, playback: enter.playback },
    getPoster: () => posterEl,
  });
  sendBtn.addEventListener('click', send);
  // Enter sends, except while an input method is still composing the text;
  // Escape drops the reply.
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.isComposing) {
      ev.preventDefault();
      send();
    } else if (ev.key === 'Escape' && replying) {
      setReply(null);
    }
  });
  replyCancel.addEventListener('click', () => setReply(null));

  // setReply makes the next comment a reply to c (null: to none).
  function setReply(c) {
    replying = c ? { id: c.id, uid: c.uid, uname: c.uname } : null;
    replyBar.hidden = !replying;
    replyName.textContent = replying ? `@${replying.uname || `uid ${replying.uid}`}` : '';
    if (canChat) input.focus();
  }

  // Own comments waiting for their echo, and echoes that beat the response.
  const awaitingEcho = new Map(); // text -> [{li, at}]
  const earlyEcho = new Map(); // text -> [at]
  const take = (map, text) => {
    const now = Date.now();
    const list = (map.get(text) || []).filter((e) => now - (e.at ?? e) < ECHO_MS);
    const hit = list.shift();
    if (list.length) map.set(text, list); else map.delete(text);
    return hit;
  };
  const push = (map, text, entry) => map.set(text, [...(map.get(text) || []), entry]);

  function showComment(c) {
    const li = chat.addComment(c);
    stage.add(c);
    return li;
  }

  let errorTimer = null;
  function showError(text) {
    sendError.textContent = text;
    clearTimeout(errorTimer);
    errorTimer = setTimeout(() => { sendError.textContent = ''; }, 5000);
  }

  async function send() {
    const text = input.value.trim();
    if (!text || !canChat || sendBtn.disabled) return;
    sendBtn.disabled = true;
    sendError.textContent = '';
    const c = { uid: me.uid, uname: me.name, text, color: Number(color.value), mode: Number(mode.value), self: true };
    const body = { text, color: c.color, mode: c.mode };
    const answering = replying;
    if (answering) {
      body.reply_to = answering.id;
      Object.assign(c, { reply_to: answering.id, reply_uid: answering.uid, reply_uname: answering.uname });
    }
    try {
      const res = await api(roomPath(id, '/danmaku'), { method: 'POST', body });
      c.id = res?.id;
      input.value = '';
      if (replying === answering) setReply(null);
      if (!take(earlyEcho, text)) {
        const li = showComment(c);
        li.dataset.confirmed = 'false';
        push(awaitingEcho, text, { li, at: Date.now() });
      }
    } catch (err) {
      showError(err.message);
    } finally {
      sendBtn.disabled = false;
      input.focus();
    }
  }

  // onComment handles a DANMU_MSG from the long connection.
  function onComment(c) {
    if (me && sameId(c.uid, me.uid)) {
      const pending = take(awaitingEcho, c.text);
      if (pending) {
        pending.li.dataset.confirmed = 'true';
        return;
      }
      push(earlyEcho, c.text, Date.now());
      c.self = true;
    }
    const li = showComment(c);
    li.dataset.confirmed = 'true';
  }

  const handle = commandHandler({
    onComment,
    chat,
    setOnline: (n) => { online.textContent = fmtCount(n); online.dataset.value = String(n); },
    setWatched: (n) => { watched.textContent = fmtCount(n); watched.dataset.value = String(n); },
    setLive: (status) => {
      setLive(badge, status);
      video.setLive(status);
    },
    onGift: () => rank?.refresh(),
    onRoomChange: async (data) => {
      if (data && typeof data.title === 'string') title.textContent = data.title;
      try {
        const fresh = await api(`${roomPath(id)}?mask=base`, { signal });
        room = { ...room, base: fresh.base };
        title.textContent = room.base?.title || 'Untitled room';
        area.textContent = room.base?.area || '';
        const next = poster(room, { big: true });
        posterEl.replaceWith(next);
        posterEl = next;
        video.repaint();
      } catch (err) {
        if (err.name !== 'AbortError') console.warn('room refresh failed', err);
      }
    },
  });

  // History first, then the connection, so that nothing is shown twice.
  if (!commentsOn) {
    chat.addSystem('Comments are switched off in this room.', 'info');
  } else if (usable(enter.comments)) {
    for (const it of enter.comments.items || []) {
      const li = chat.addComment({ ...it, self: me && sameId(it.uid, me.uid) });
      li.dataset.history = 'true';
    }
  } else {
    chat.addSystem('history unavailable', 'warn');
  }

  // The first connection uses the token that came with the page; a reconnect
  // asks for a fresh one.
  let pageToken = usable(enter.danmu_info) ? enter.danmu_info.token : '';
  const live = new LiveClient({
    roomId: id,
    uid: me ? me.uid : 0,
    getToken: async () => {
      const t = pageToken;
      pageToken = '';
      return t || (await api(roomPath(id, '/danmu-info'), { signal })).token;
    },
  });
  // Report a lost connection once, not on every failed retry.
  let everConnected = false;
  let lost = false;
  live.addEventListener('state', (ev) => {
    conn.dataset.state = ev.detail;
    conn.title = ev.detail;
    if (ev.detail === 'disconnected' && everConnected && !lost) {
      lost = true;
      chat.addSystem('connection lost, reconnecting…', 'warn');
    } else if (ev.detail === 'connected') {
      if (lost) chat.addSystem('reconnected', 'info');
      everConnected = true;
      lost = false;
    }
  });
  live.addEventListener('online', (ev) => {
    online.textContent = fmtCount(ev.detail);
    online.dataset.value = String(ev.detail);
  });
  live.addEventListener('message', (ev) => handle(ev.detail));
  live.addEventListener('error', (ev) => console.warn('live connection', ev.detail));
  live.start();

  if (canChat) input.focus();
  else if (!me) toast('Log in to send comments and gifts');

  return () => {
    live.stop();
    video.destroy();
    stage.destroy();
    clearTimeout(errorTimer);
  };
}
