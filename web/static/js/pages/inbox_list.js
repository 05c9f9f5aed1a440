// InboxList is what the inbox's paged lists (conversations, groups) share:
// their rows by key, the channel's events they listen to, the first page from
// the inbox's one call and later pages from the list's own route, and — when
// the server cannot be reached — what is shown already, else the copy saved
// in this tab, marked offline. A subclass gives merge(item), render() and
// saveKey, and builds its status, offline note and "Load more" button.
import { api } from '../api.js';
import { load } from '../saved.js';

export class InboxList {
  rows = new Map(); // key (string) -> row view
  next = '';
  loaded = false;
  status;
  offline;
  more;
  signal;
  #inbox;
  #off = [];
  #noun;
  #module;
  #route;
  #pageSize;

  // noun names the rows in notes ("conversations"); module is the inbox
  // call's part of the first page ("chats"); route the list's own.
  constructor({ inbox, signal, noun, module, route, pageSize, status, offline, more }) {
    this.#inbox = inbox;
    this.signal = signal;
    this.#noun = noun;
    this.#module = module;
    this.#route = route;
    this.#pageSize = pageSize;
    this.status = status;
    this.offline = offline;
    this.more = more;
    more.addEventListener('click', () => this.load({ more: true }));
  }

  listen(type, fn) {
    if (!this.#inbox) return;
    const handler = (ev) => fn(ev.detail);
    this.#inbox.addEventListener(type, handler);
    this.#off.push(() => this.#inbox.removeEventListener(type, handler));
  }

  destroy() {
    for (const off of this.#off) off();
  }

  row(key) {
    return this.rows.get(String(key));
  }

  // load fetches the first page (or, with more, the next one) and merges it
  // into what is shown. opening, a promise of the inbox's data, gives the
  // first page; when it fails or its part is degraded, the page is fetched
  // from the list's own route.
  async load({ more = false, opening = null } = {}) {
    this.more.disabled = true;
    try {
      const q = new URLSearchParams({ limit: String(this.#pageSize) });
      if (more && this.next) q.set('cursor', this.next);
      let page = opening && await opening.then((d) => d[this.#module], () => null);
      if (this.signal.aborted) return;
      if (!page || !Array.isArray(page.items)) page = await api(`${this.#route}?${q}`, { signal: this.signal });
      for (const item of page.items || []) this.merge(item);
      if (more || !this.loaded) this.next = page.next || '';
      this.loaded = true;
      this.offline.hidden = true;
      this.status.textContent = '';
      this.render();
    } catch (err) {
      if (err.name === 'AbortError') return;
      this.#failed(err);
    } finally {
      this.more.disabled = false;
    }
  }

  // #failed keeps the list on screen: what is shown already, else the copy
  // saved in this tab, with a note saying so.
  #failed(err) {
    let note = `Offline — showing the ${this.#noun} loaded before (${err.message})`;
    if (this.rows.size === 0) {
      const saved = load(this.saveKey);
      if (saved && Array.isArray(saved.value.items)) {
        for (const item of saved.value.items) this.merge(item);
        this.next = saved.value.next || '';
        const at = new Date(saved.at).toLocaleTimeString();
        note = `Offline — showing saved ${this.#noun} from ${at} (${err.message})`;
      }
    }
    if (this.rows.size === 0) {
      this.status.textContent = `Could not load ${this.#noun}: ${err.message}`;
      this.offline.hidden = true;
      return;
    }
    this.status.textContent = '';
    this.offline.textContent = note;
    this.offline.hidden = false;
    this.render();
  }
}
