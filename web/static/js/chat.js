// ChatList is the scrolling list beside the stage: comments and system lines,
// newest at the bottom, bounded in length.
import { h, colorHex } from './dom.js';

const MAX_ITEMS = 200;
// The list follows new items only while the reader is this close to the
// bottom; someone scrolled up to read history is not yanked down.
const STICK_PX = 48;

export class ChatList {
  #el;

  constructor(el) {
    this.#el = el;
  }

  // addComment appends {uid, uname, text, color, self} and returns its node.
  addComment({ uid, uname, text, color, self }) {
    const name = h('span', { class: 'chat-name', testid: 'chat-name', text: uname || `uid ${uid}` });
    const body = h('span', { class: 'chat-text', testid: 'chat-text', text });
    if (color != null && Number(color) !== 0xffffff) body.style.color = colorHex(color);
    const li = h('li', {
      class: self ? 'chat-item self' : 'chat-item',
      testid: 'chat-item',
      dataset: { uid: String(uid ?? '') },
    }, name, body);
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
