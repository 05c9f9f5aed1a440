// The gift panel (catalog, count, send, balance) and the rank list of a room.
import { h, fmtCount, randomKey, toast } from '../dom.js';
import { api, roomPath, session, ApiError } from '../api.js';

const MAX_NUM = 9999;

// GiftPanel sends gifts to one room and shows the sender's balance.
export class GiftPanel {
  el;
  #roomId;
  #onSent;
  #gifts = [];
  #selected = null;
  #list = h('div', { class: 'gift-list', testid: 'gift-list' });
  #num = h('input', { type: 'number', min: '1', max: String(MAX_NUM), value: '1', class: 'gift-num', testid: 'gift-num', 'aria-label': 'count' });
  #send = h('button', { type: 'button', class: 'btn btn-primary', testid: 'gift-send', text: 'Send gift' });
  #balance = h('span', { class: 'balance', testid: 'balance', text: '—' });
  #error = h('p', { class: 'form-error', testid: 'gift-error', role: 'alert' });

  constructor({ roomId, onSent }) {
    this.#roomId = roomId;
    this.#onSent = onSent;
    this.#send.addEventListener('click', () => this.#sendGift());
    const loggedIn = !!session.get();
    this.el = h('section', { class: 'panel gift-panel', testid: 'gift-panel' },
      h('div', { class: 'panel-head' }, h('h2', { text: 'Gifts' }),
        h('span', { class: 'muted' }, 'Balance: ', this.#balance)),
      this.#list,
      loggedIn
        ? h('div', { class: 'row' }, h('label', { class: 'muted', text: '×' }), this.#num, this.#send)
        : h('p', { class: 'muted' }, h('a', { href: `#/login?next=${encodeURIComponent(`/room/${roomId}`)}`, text: 'Log in' }), ' to send gifts.'),
      this.#error);
  }

  // show fills the panel from the room page's gifts and wallet modules (GET
  // /api/room/enter): a module is its data, {degraded: true} or null (a guest's
  // wallet).
  show(gifts, wallet) {
    if (gifts && Array.isArray(gifts.items)) {
      this.#gifts = gifts.items;
      this.#renderGifts();
    } else {
      this.#error.textContent = 'Gifts are unavailable right now.';
    }
    if (wallet && wallet.balance != null) this.setBalance(wallet.balance);
  }

  setBalance(n) {
    this.#balance.dataset.value = String(n);
    const v = Number(n);
    this.#balance.textContent = Number.isFinite(v) ? v.toLocaleString('en') : String(n);
  }

  #renderGifts() {
    const loggedIn = !!session.get();
    this.#list.replaceChildren(...this.#gifts.map((g) => {
      const btn = h('button', {
        type: 'button',
        class: 'gift',
        testid: 'gift-button',
        dataset: { giftId: String(g.id), price: String(g.price), coinType: String(g.coin_type || '') },
        disabled: !loggedIn,
        'aria-pressed': 'false',
      },
      h('span', { class: 'gift-name', text: g.name }),
      h('span', { class: 'gift-price', text: `${Number(g.price).toLocaleString('en')} ${g.coin_type || ''}`.trim() }));
      btn.addEventListener('click', () => this.#select(g, btn));
      return btn;
    }));
    const first = this.#list.querySelector('button');
    if (first && loggedIn) this.#select(this.#gifts[0], first);
  }

  #select(gift, btn) {
    this.#selected = gift;
    for (const b of this.#list.children) b.setAttribute('aria-pressed', String(b === btn));
  }

  async #sendGift() {
    this.#error.textContent = '';
    const gift = this.#selected;
    const num = Math.floor(Number(this.#num.value));
    if (!gift) return void (this.#error.textContent = 'pick a gift first');
    if (!(num >= 1 && num <= MAX_NUM)) return void (this.#error.textContent = `count must be 1–${MAX_NUM}`);
    this.#send.disabled = true;
    // One key per click: a retry after a lost response cannot charge twice.
    const body = { gift_id: gift.id, num, idempotency_key: randomKey() };
    try {
      let order;
      try {
        order = await api(roomPath(this.#roomId, '/gifts'), { method: 'POST', body });
      } catch (err) {
        if (!(err instanceof ApiError) || err.status !== 0) throw err;
        order = await api(roomPath(this.#roomId, '/gifts'), { method: 'POST', body });
      }
      if (order && order.balance != null) this.setBalance(order.balance);
      toast(`Sent ${gift.name} × ${num}`, 'ok');
      this.#onSent?.(order);
    } catch (err) {
      this.#error.textContent = err.message;
    } finally {
      this.#send.disabled = false;
    }
  }
}

// RankList shows the room's gift rank: first from the room page, then reloaded
// after gifts; refresh() coalesces bursts of calls.
export class RankList {
  el;
  #roomId;
  #signal;
  #list = h('ol', { class: 'rank-list', testid: 'rank-list' });
  #anchor = h('span', { class: 'muted', testid: 'anchor-score' });
  #timer = null;

  constructor({ roomId, signal }) {
    this.#roomId = roomId;
    this.#signal = signal;
    this.el = h('section', { class: 'panel rank-panel', testid: 'rank-panel' },
      h('div', { class: 'panel-head' }, h('h2', { text: 'Rank' }), this.#anchor),
      this.#list);
    signal.addEventListener('abort', () => clearTimeout(this.#timer));
  }

  // refresh reloads the rank after delayMs, merging calls made meanwhile.
  refresh(delayMs = 300) {
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.load();
    }, delayMs);
  }

  // show renders the rank module of the room page ({degraded: true} when it was
  // not available).
  show(rank) {
    if (rank && Array.isArray(rank.items)) this.#render(rank);
    else this.#anchor.textContent = 'rank unavailable';
  }

  async load() {
    try {
      this.#render(await api(roomPath(this.#roomId, '/rank'), { signal: this.#signal }));
    } catch (err) {
      if (err.name !== 'AbortError') this.#anchor.textContent = `rank unavailable: ${err.message}`;
    }
  }

  #render(data) {
    const items = data.items || [];
    this.#anchor.textContent = `anchor score ${fmtCount(data.anchor_score || 0)}`;
    this.#list.replaceChildren(...items.map((it, i) => h('li', {
      class: 'rank-item',
      testid: 'rank-item',
      dataset: { uid: String(it.uid) },
    },
    h('span', { class: 'rank-pos', text: String(i + 1) }),
    h('span', { class: 'rank-name', testid: 'rank-name', text: it.uname || `uid ${it.uid}` }),
    h('span', { class: 'rank-score', testid: 'rank-score', text: fmtCount(it.score) }))));
    if (!items.length) this.#list.append(h('li', { class: 'muted', text: 'No gifts yet.' }));
  }
}
