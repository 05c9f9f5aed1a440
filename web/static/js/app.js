// Entry point: the hash router and the account area of the top bar.
import { h, clear } from './dom.js';
import { api, session } from './api.js';
import { loginPage } from './pages/login.js';
import { roomsPage } from './pages/rooms.js';
import { roomPage } from './pages/room.js';
import { myRoomPage } from './pages/my_room.js';

// routes map a hash path to a page. A page is
// (view, params, {signal, navigate}) => cleanup function | undefined | Promise of one.
const routes = [
  { re: /^\/login$/, page: loginPage },
  { re: /^\/rooms$/, page: roomsPage },
  { re: /^\/room\/(\d{1,20})$/, page: roomPage, params: (m) => ({ id: m[1] }) },
  { re: /^\/me\/room$/, page: myRoomPage, auth: true },
];

let current = null; // { controller, cleanup }

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
    const cleanup = await route.page(view, params, { signal: controller.signal, navigate });
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
    a.classList.toggle('active', a.getAttribute('href') === `#${path}`);
  }
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
        session.clear();
        navigate('/login');
      },
    }),
  );
}

window.addEventListener('hashchange', render);
window.addEventListener('zhibo:session', renderAccount);
window.addEventListener('zhibo:unauthorized', () => {
  const { path } = parseHash();
  if (path !== '/login') navigate(`/login?next=${encodeURIComponent(path)}`);
});
// Another tab logging in or out changes this tab's session too.
window.addEventListener('storage', (ev) => {
  if (ev.key === 'zhibo.session') renderAccount();
});

renderAccount();
render();
