// Stage draws bullet comments over the room poster. Scrolling comments move
// right to left in horizontal lanes; top/bottom comments stay centred for a
// few seconds. Nothing overlaps: a lane takes a new scrolling comment only
// once the previous one's tail is GAP_PX inside the stage, and since every
// comment moves at the same speed, a later one can never catch up.
import { h, colorHex } from './dom.js';

const GAP_PX = 28;
const FIXED_MS = 4_000;
// Time for a comment's head to cross the stage; longer comments take
// proportionally longer because they move at the same speed.
const CROSS_MS = 8_000;
const MIN_SPEED = 0.08; // px per ms, so tiny stages still move
const MAX_LANES = 14;
const MAX_PENDING = 80;
const MODE_BOTTOM = 4;
const MODE_TOP = 5;

export class Stage {
  #el;
  #layer;
  #lanes = []; // per scrolling lane: time (performance.now) it is free again
  #fixedTop = [];
  #fixedBottom = [];
  #pending = [];
  #timer = null;
  #width = 0;
  #height = 0;
  #laneHeight = 0;
  #observer;

  constructor(el) {
    this.#el = el;
    this.#layer = h('div', { class: 'bullet-layer', 'aria-hidden': 'true' });
    el.append(this.#layer);
    this.#observer = new ResizeObserver(() => this.#measure());
    this.#observer.observe(el);
    this.#measure();
  }

  // laneCount is how many scrolling lanes the stage currently has.
  get laneCount() {
    return this.#lanes.length;
  }

  // add queues one comment: {text, color, mode, self}. When every lane is
  // busy it waits; when too many wait, the oldest are dropped, as a stage
  // flooded with text is unreadable anyway.
  add(item) {
    this.#pending.push(item);
    if (this.#pending.length > MAX_PENDING) this.#pending.splice(0, this.#pending.length - MAX_PENDING);
    this.#pump();
  }

  destroy() {
    this.#observer.disconnect();
    clearTimeout(this.#timer);
    this.#timer = null;
    this.#pending = [];
    this.#layer.replaceChildren();
  }

  #measure() {
    const r = this.#el.getBoundingClientRect();
    this.#width = r.width;
    this.#height = r.height;
    const font = parseFloat(getComputedStyle(this.#el).getPropertyValue('--bullet-size')) || 24;
    this.#laneHeight = Math.round(font * 1.35);
    const usable = Math.max(0, this.#height - 8);
    const n = Math.max(1, Math.min(MAX_LANES, Math.floor(usable / this.#laneHeight)));
    this.#lanes.length = Math.min(this.#lanes.length, n);
    while (this.#lanes.length < n) this.#lanes.push(0);
    // Fixed comments get up to a third of the lanes at each edge.
    const fixed = Math.max(1, Math.floor(n / 3));
    for (const arr of [this.#fixedTop, this.#fixedBottom]) {
      arr.length = Math.min(arr.length, fixed);
      while (arr.length < fixed) arr.push(0);
    }
    this.#pump();
  }

  #speed() {
    return Math.max(MIN_SPEED, this.#width / CROSS_MS);
  }

  #pump() {
    clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#width === 0) return;
    const now = performance.now();
    while (this.#pending.length) {
      const item = this.#pending[0];
      if (!this.#place(item, now)) break;
      this.#pending.shift();
    }
    if (this.#pending.length) {
      const next = Math.min(...this.#lanes);
      this.#timer = setTimeout(() => this.#pump(), Math.max(16, next - now));
    }
  }

  #place(item, now) {
    const mode = Number(item.mode);
    if (mode === MODE_TOP || mode === MODE_BOTTOM) {
      const lanes = mode === MODE_TOP ? this.#fixedTop : this.#fixedBottom;
      const i = lanes.findIndex((t) => t <= now);
      if (i >= 0) {
        lanes[i] = now + FIXED_MS;
        this.#launchFixed(item, i, mode === MODE_TOP);
        return true;
      }
      // Both fixed areas are full: fall through and scroll it instead.
    }
    const lane = this.#lanes.findIndex((t) => t <= now);
    if (lane < 0) return false;
    this.#lanes[lane] = now + this.#launchScroll(item, lane);
    return true;
  }

  #node(item) {
    const node = h('div', {
      class: item.self ? 'bullet self' : 'bullet',
      testid: 'bullet',
      text: item.text,
    });
    node.style.color = colorHex(item.color ?? 0xffffff);
    return node;
  }

  // launchScroll starts one scrolling comment and returns after how many ms
  // its lane is free again.
  #launchScroll(item, lane) {
    const node = this.#node(item);
    node.style.top = `${4 + lane * this.#laneHeight}px`;
    node.style.transform = `translateX(${this.#width}px)`;
    this.#layer.append(node);
    const w = node.offsetWidth;
    const speed = this.#speed();
    const anim = node.animate(
      [{ transform: `translateX(${this.#width}px)` }, { transform: `translateX(${-w}px)` }],
      { duration: (this.#width + w) / speed, easing: 'linear', fill: 'forwards' },
    );
    const done = () => node.remove();
    anim.onfinish = done;
    anim.oncancel = done;
    return (w + GAP_PX) / speed;
  }

  #launchFixed(item, lane, top) {
    const node = this.#node(item);
    node.classList.add('fixed');
    const offset = `${4 + lane * this.#laneHeight}px`;
    if (top) node.style.top = offset;
    else {
      node.style.top = 'auto';
      node.style.bottom = offset;
    }
    this.#layer.append(node);
    const anim = node.animate([{ opacity: 1 }, { opacity: 1, offset: 0.9 }, { opacity: 0 }], {
      duration: FIXED_MS,
      fill: 'forwards',
    });
    anim.onfinish = () => node.remove();
    anim.oncancel = () => node.remove();
  }
}
