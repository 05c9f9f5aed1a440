// ChatList is the scrolling list beside the stage: comments and system lines,
// newest at the bottom, bounded in length.
import { h, colorHex } from './dom.js';

const MAX_ITEMS = 200;
// The list follows new items only while the reader is this close to the
// bottom; someone scrolled up to read history is not yanked down.
const STICK_PX = 48;

export class ChatList {
  #el;
  #onReply;

  // onReply, when given, puts a reply action on every comment of someone
  // else that has an id; it is called with that comment.
  constructor(el, { onReply } = {}) {
    this.#el = el;
    this.#onReply = onReply;
  }

  // addComment appends {id, uid, uname, text, color, self, reply_uid,
  // reply_uname} and returns its node; a reply shows whom it answers.
  addComment(c) {
    const { id, uid, uname, text, color, self } = c;
    const name = h('span', { class: 'chat-name', testid: 'chat-name', text: uname || `uid ${uid}` });
    const replyTo = c.reply_uname || c.reply_uid
      ? h('span', { class: 'chat-reply-to', testid: 'chat-reply-to', text: `reply to @${c.reply_uname || `uid ${c.reply_uid}`}` })
      : null;
    const body = h('span', { class: 'chat-text', testid: 'chat-text', text });
    if (color != null && Number(color) !== 0xffffff) body.style.color = colorHex(color);
    const hasId = id != null && id !== '' && String(id) !== '0';
    const reply = this.#onReply && hasId && !self
      ? h('button', {
        type: 'button', class: 'chat-reply', testid: 'chat-reply', text: 'Reply',
        'aria-label': `reply to ${uname || `uid ${uid}`}`, onclick: () => this.#onReply(c),
      })
      : null;
    const li = h('li', {
      class: self ? 'chat-item self' : 'chat-item',
      testid: 'chat-item',
      dataset: { uid: String(uid ?? ''), id: hasId ? String(id) : '' },
    }, name, replyTo, body, reply);
    this.#append(li);
    return li;
  }

  // addSystem appends a line such as "alice entered" or a gift notice.
  addSystem(text, kind = 'info') {
    const li = h('li', { class: `chat-system chat-${kind}`, testid: 'chat-system', text });
    this.#append(li);
    return li;
  }

  #append(li) {
    const el = this.#el;
    const stick = el.scrollHeight - el.scrollTop - el.clientHeight < STICK_PX;
    el.append(li);
    while (el.childElementCount > MAX_ITEMS) el.firstElementChild.remove();
    if (stick) el.scrollTop = el.scrollHeight;
  }
}
