// Helpers shared by the browser tests: the zhibo under test, the HTTP API
// client, steps with timings and waits on the page's text.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const BASE = (process.env.ZHIBO_URL || '').replace(/\/+$/, '');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// CHROMIUM_ARGS run Debian's Chromium headless in a container.
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
export const STEP_TIMEOUT = 20_000;

export function log(...args) {
  console.log(`[${new Date().toISOString().slice(11, 23)}]`, ...args);
}

// parseJSON keeps integers beyond 2^53 (64-bit ids) exact by reading them as
// strings before JSON.parse could round them.
export function parseJSON(text) {
  return JSON.parse(text.replace(/([:[,]\s*)(-?\d{16,})(?=\s*[,\]}])/g, '$1"$2"'));
}

// call invokes the HTTP API and returns the envelope's data. A string body is
// sent as it is: JSON written by hand, for ids beyond Number's precision
// (parseJSON returns them as strings).
export async function call(method, path, body, token) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  const res = await fetch(BASE + path, { method, headers, body: body === undefined ? undefined : raw });
  const text = await res.text();
  let env;
  try {
    env = parseJSON(text);
  } catch {
    throw new Error(`${method} ${path}: HTTP ${res.status}, body is not JSON: ${text.slice(0, 200)}`);
  }
  if (!res.ok || env.code !== 0) {
    throw new Error(`${method} ${path}: HTTP ${res.status} code ${env.code}: ${env.message}`);
  }
  return env.data;
}

export async function step(name, fn) {
  const t0 = Date.now();
  log(`▶ ${name}`);
  const out = await fn();
  log(`✔ ${name} (${Date.now() - t0} ms)`);
  return out;
}

export function check(cond, message) {
  if (!cond) throw new Error(message);
}

// waitText waits until an element matching selector has exactly this
// textContent.
export async function waitText(page, selector, text, what) {
  try {
    await page.waitForFunction(
      ({ selector, text }) => [...document.querySelectorAll(selector)].some((e) => e.textContent === text),
      { selector, text },
      { timeout: STEP_TIMEOUT, polling: 50 },
    );
  } catch (err) {
    throw new Error(`${what}: no ${selector} with text ${JSON.stringify(text)} (${err.message.split('\n')[0]})`);
  }
}

// until polls fn (an API read) until ok(value), for at most STEP_TIMEOUT.
export async function until(what, fn, ok) {
  const deadline = Date.now() + STEP_TIMEOUT;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not reached in ${STEP_TIMEOUT} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// signedInPage opens a browser context signed in as user (the session the
// login page would store) at path, and waits for the message channel.
// onPage sees the page before it loads (to watch its console); context adds
// to the context's options (a time zone, say) and setup sees the context
// before the page opens (to grant a permission or add an init script).
export async function signedInPage(browser, user, path, onPage, { context = {}, setup } = {}) {
  const ctx = await browser.newContext({ viewport: { width: 1200, height: 820 }, ...context });
  ctx.setDefaultTimeout(STEP_TIMEOUT);
  await setup?.(ctx);
  const session = JSON.stringify({ uid: user.uid, name: user.name, token: user.token });
  await ctx.addInitScript((s) => localStorage.setItem('zhibo.session', s), session);
  const page = await ctx.newPage();
  onPage?.(page);
  await page.goto(`${BASE}/#${path}`);
  await page.locator('[data-testid="nav-inbox"][data-channel="connected"]').waitFor();
  return page;
}

// badge waits until the navigation's unread badge shows n (hidden at 0).
export async function badge(page, n, what) {
  try {
    await page.waitForFunction((n) => {
      const b = document.querySelector('[data-testid="nav-unread"]');
      return b && b.dataset.count === String(n) && b.hidden === (n === 0);
    }, n, { timeout: STEP_TIMEOUT, polling: 50 });
  } catch (err) {
    const now = await page.locator('[data-testid="nav-unread"]').getAttribute('data-count');
    throw new Error(`${what}: unread badge should be ${n}, is ${now} (${err.message.split('\n')[0]})`);
  }
}

// runTest runs main under a watchdog of timeout ms and reports: PASS, or FAIL with the
// error and the page logs (also written to logFile in the artifacts dir). It sets the exit code.
export async function runTest(main, { timeout, pageLogs, artifacts, logFile }) {
  const watchdog = setTimeout(() => {
    console.error(`FAIL: timed out after ${timeout} ms`);
    process.exit(1);
  }, timeout);
  watchdog.unref();
  try {
    await main();
    log('PASS');
    process.exitCode = 0;
  } catch (err) {
    console.error(`FAIL: ${err.stack || err}`);
    if (pageLogs.length) console.error(`page logs:\n  ${pageLogs.join('\n  ')}`);
    try {
      writeFileSync(join(artifacts, logFile), pageLogs.join('\n') + '\n');
    } catch {
      // Nothing more to report.
    }
    process.exitCode = 1;
  }
}

// pageWatcher keeps the pages a test opens (watch; forget drops one that
// closed): their console errors and warnings, uncaught errors and failed
// requests go to pageLogs (uncaught errors to pageErrors too, for a test to
// fail on), and screenshots(when) saves each page into artifacts as
// `${prefix}-${when}-${page}.png` (no prefix: without it).
export function pageWatcher(artifacts, prefix = '') {
  const pages = {};
  const pageLogs = [];
  const pageErrors = [];
  const watch = (name, page) => {
    pages[name] = page;
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') pageLogs.push(`[${name}] console.${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (err) => {
      pageErrors.push(`[${name}] ${err.message}`);
      pageLogs.push(`[${name}] page error: ${err.message}`);
    });
    page.on('requestfailed', (r) => pageLogs.push(`[${name}] request failed: ${r.url()} ${r.failure()?.errorText}`));
  };
  const screenshots = async (when) => {
    for (const [name, page] of Object.entries(pages)) {
      const file = join(artifacts, `${[prefix, when, name].filter(Boolean).join('-')}.png`);
      try {
        await page.screenshot({ path: file, fullPage: true, timeout: 10_000 });
        log(`screenshot ${file}`);
      } catch (err) {
        log(`screenshot ${file} failed: ${err.message}`);
      }
    }
  };
  const forget = (name) => {
    delete pages[name];
  };
  // run calls body and closes browser after it; the pages are saved as screenshots at the
  // end ('final', or 'failure' when body threw). failOnErrors: an uncaught error in a page
  // fails the test.
  const run = async (browser, body, { failOnErrors = true } = {}) => {
    try {
      await body();
      if (failOnErrors) check(pageErrors.length === 0, `uncaught errors in the pages:\n  ${pageErrors.join('\n  ')}`);
      await screenshots('final');
    } catch (err) {
      await screenshots('failure');
      throw err;
    } finally {
      await browser.close().catch(() => {});
    }
  };
  return { pageLogs, pageErrors, watch, forget, screenshots, run };
}
