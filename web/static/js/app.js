// Entry point: the hash router and the account area of the top bar.
import { h, clear } from './dom.js';
import { api, session } from './api.js';
import { sameId } from './json.js';
import { loginPage } from './pages/login.js';
import { roomsPage } from './pages/rooms.js';
import { roomPage } from './pages/room.js';
import { myRoomPage } from './pages/my_room.js';
import { inboxPage } from './pages/inbox.js';
import { Inbox } from './im.js';
import { titleWith, watchAlerts } from './alert.js';
import { forgetAll } from './saved.js';

// routes map a hash path to a page. A page is
// (view, params, {signal, navigate}) => cleanup function | undefined | Promise of one.
const routes = [
  { re: /^\/login$/, page: loginPage },
  { re: /^\/rooms$/, page: roomsPage },
  { re: /^\/room\/(\d{1,20})$/, page: roomPage, params: (m) => ({ id: m[1] }) },
  { re: /^\/me\/room$/, page: myRoomPage, auth: true },
  { re: /^\/inbox$/, page: inboxPage, auth: true },
  { re: /^\/inbox\/(\d{1,20})$/, page: inboxPage, auth: true, params: (m) => ({ peer: m[1] }) },
  { re: /^\/inbox\/groups$/, page: inboxPage, auth: true, params: () => ({ tab: 'groups' }) },
  { re: /^\/inbox\/groups\/(\d{1,20})$/, page: inboxPage, auth: true, params: (m) => ({ tab: 'groups', group: m[1] }) },
  { re: /^\/inbox\/notices$/, page: inboxPage, auth: true, params: () => ({ tab: 'notices' }) },
];

let current = null; // { controller, cleanup }
// inbox is the signed-in user's message channel and unread total (null when
// logged out); pages get it in their context.
let inbox = null;
let stopAlerts = null; // stops the desktop notifications of inbox
// The page's own title, which the unread total is put in front of.
const TITLE = document.title;

// navigate switches to a hash path such as "/room/12".
export function navigate(path) {
  const target = `#${path}`;
  if (location.hash === target) render();
  else location.hash = target;
}

function parseHash() {
  const raw = decodeURIComponent(location.hash.replace(/^#/, '')) || '/rooms';
  const [path, query = ''] = raw.split('?');
  return { path, query: new URLSearchParams(query) };
}

async function render() {
  const { path, query } = parseHash();
  if (current) {
    current.controller.abort();
    try {
      current.cleanup?.();
    } catch (err) {
      console.error('page cleanup failed', err);
    }
  }
  const controller = new AbortController();
  current = { controller, cleanup: null };
  const view = clear(document.getElementById('view'));
  updateNav(path);

  const route = routes.find((r) => r.re.test(path));
  if (!route) {
    if (path === '/' || path === '') return navigate('/rooms');
    view.append(h('section', { class: 'panel empty', testid: 'not-found' },
      h('h1', { text: 'Page not found' }),
      h('a', { href: '#/rooms', class: 'btn', text: 'Back to rooms' })));
    return;
  }
  if (route.auth && !session.get()) {
    return navigate(`/login?next=${encodeURIComponent(path)}`);
  }
  const params = route.params ? route.params(path.match(route.re)) : {};
  params.query = query;
  try {
    const cleanup = await route.page(view, params, { signal: controller.signal, navigate, inbox });
    if (controller.signal.aborted) cleanup?.();
    else current.cleanup = cleanup || null;
  } catch (err) {
    if (err && err.name === 'AbortError') return;
    console.error('page failed', err);
    view.append(h('section', { class: 'panel error', testid: 'page-error' },
      h('h1', { text: 'Something went wrong' }),
      h('p', { text: err && err.message ? err.message : String(err) })));
  }
}

function updateNav(path) {
  for (const a of document.querySelectorAll('.nav a')) {
    const href = a.getAttribute('href');
    a.classList.toggle('active', href === `#${path}` || `#${path}`.startsWith(`${href}/`));
  }
}

// syncInbox opens the message channel of the session's user, closing the
// previous user's, keeps the navigation's unread badge and the title's count
// current, and shows the channel's alerts as desktop notifications.
function syncInbox() {
  const s = session.get();
  if (inbox && s && sameId(inbox.me.uid, s.uid) && inbox.me.token === s.token) return;
  stopAlerts?.();
  stopAlerts = null;
  inbox?.stop();
  inbox = null;
  const link = document.querySelector('[data-testid="nav-inbox"]');
  const badge = document.querySelector('[data-testid="nav-unread"]');
  const show = (n) => {
    badge.dataset.count = String(n);
    badge.textContent = n > 99 ? '99+' : String(n);
    badge.hidden = n <= 0;
    document.title = titleWith(TITLE, n);
  };
  show(0);
  if (!s) {
    delete link.dataset.channel;
    return;
  }
  const box = new Inbox(s);
  box.addEventListener('unread', (ev) => { if (inbox === box) show(ev.detail); });
  box.addEventListener('state', (ev) => { if (inbox === box) link.dataset.channel = ev.detail; });
  inbox = box;
  stopAlerts = watchAlerts(box, navigate);
  box.start();
}

function renderAccount() {
  const box = clear(document.getElementById('account'));
  const s = session.get();
  if (!s) {
    box.append(h('a', { class: 'btn btn-small', href: '#/login', testid: 'nav-login', text: 'Log in' }));
    return;
  }
  box.append(
    h('span', { class: 'account-name', testid: 'account-name', text: s.name }),
    h('button', {
      class: 'btn btn-small btn-ghost',
      type: 'button',
      testid: 'logout',
      text: 'Log out',
      onclick: () => {
        // End the session on the server too, so the token stops working even if it leaked;
        // the local session is dropped whatever the answer.
        api('/api/auth/logout', { method: 'POST' }).catch(() => {});
        forgetAll();
        session.clear();
        navigate('/login');
      },
    }),
  );
}

window.addEventListener('hashchange', render);
window.addEventListener('zhibo:session', () => {
  renderAccount();
  syncInbox();
});
window.addEventListener('zhibo:unauthorized', () => {
  const { path } = parseHash();
  if (path !== '/login') navigate(`/login?next=${encodeURIComponent(path)}`);
});
// Another tab logging in or out changes this tab's session too.
window.addEventListener('storage', (ev) => {
  if (ev.key === 'zhibo.session') {
    renderAccount();
    syncInbox();
  }
});

renderAccount();
syncInbox();
render();
