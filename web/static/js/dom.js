// Small DOM helpers. User-supplied text only ever reaches the page through
// textContent or text nodes: nothing here parses strings as HTML.

// h creates an element. props: class, text (textContent), testid
// (data-testid), dataset, on<event> listeners (functions only), DOM
// properties for non-string values (value, disabled, checked), and plain
// attributes for strings. Children may be nodes, strings or arrays of them.
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = String(v);
    else if (k === 'testid') el.dataset.testid = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on')) {
      if (typeof v !== 'function') throw new TypeError(`${k} must be a function`);
      el.addEventListener(k.slice(2), v);
    } else if (k === 'innerHTML' || k === 'outerHTML') {
      throw new TypeError(`${k} is not allowed`);
    } else if (typeof v !== 'string' && k in el) el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// clear removes every child of el.
export function clear(el) {
  el.replaceChildren();
  return el;
}

// setText replaces el's content with plain text.
export function setText(el, text) {
  el.textContent = text == null ? '' : String(text);
  return el;
}

const compact = new Intl.NumberFormat('en', { notation: 'compact', maximumFractionDigits: 1 });

// fmtCount renders a count compactly: 987, 1.2K, 3.4M.
export function fmtCount(n) {
  const v = Number(n);
  return Number.isFinite(v) ? compact.format(v) : '0';
}

// shortTime renders a unix-ms time: the time of day when it is today, else
// the date.
export function shortTime(ms) {
  const d = new Date(Number(ms));
  return d.toDateString() === new Date().toDateString()
    ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    : d.toLocaleDateString();
}

// colorHex turns the integer RGB colour of a bullet comment into #rrggbb.
export function colorHex(n) {
  const v = Number(n);
  if (!Number.isFinite(v)) return '#ffffff';
  return '#' + (v & 0xffffff).toString(16).padStart(6, '0');
}

// hueOf derives a stable hue from an id, used to give each room poster its
// own gradient.
export function hueOf(id) {
  let x = 0;
  for (const ch of String(id)) x = (x * 31 + ch.charCodeAt(0)) % 360;
  return x;
}

// safeImageURL returns url if it is an absolute http(s) URL, else ''.
export function safeImageURL(url) {
  if (typeof url !== 'string' || url === '') return '';
  try {
    const u = new URL(url, location.href);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : '';
  } catch {
    return '';
  }
}

// randomKey returns 128 random bits as hex. It works outside secure
// contexts, unlike crypto.randomUUID.
export function randomKey() {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

// toast shows a short message in the corner for a few seconds.
export function toast(text, kind = 'info') {
  const box = document.getElementById('toasts');
  if (!box) return;
  const t = h('div', { class: `toast toast-${kind}`, testid: 'toast', text });
  box.append(t);
  setTimeout(() => t.remove(), 4000);
}
