// End-to-end test of the web client's alerts for new private messages, in a
// real Chromium against a running zhibo at $ZHIBO_URL. Alice's browser runs
// in New York time with desktop notifications granted, and records every
// `new Notification(...)` (an init script puts a recorder in place of
// window.Notification). Bob writes through the API while alice is on the
// rooms page: her title shows the unread count and one notification is
// shown. Alice sets do-not-disturb hours around the current time in Tokyo
// (hours that do not hold in New York, so a client reading its own clock
// would notify): changing who may message her keeps them, and after a
// reload bob's next message moves the title's count but shows no
// notification. With the hours off, the next one notifies again. Reading the
// chat clears the title; a muted chat neither counts nor notifies. The
// browser's rule for the hours (alert.js quietAt) is checked on fixed
// instants: wrapping midnight, the edges, offsets of half an hour, summer
// time and the nights its clocks change.
//
// Exit code 0 on success, 1 on failure; screenshots go to $ARTIFACTS_DIR.
import { chromium } from 'playwright-core';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BASE, CHROMIUM, CHROMIUM_ARGS, STEP_TIMEOUT, log, call, step, check, waitText, until, signedInPage, badge, runTest, pageWatcher,
} from './harness.mjs';

const ARTIFACTS = process.env.ARTIFACTS_DIR || mkdtempSync(join(tmpdir(), 'zhibo-browser-'));
const TOTAL_TIMEOUT = 150_000;
const PASSWORD = 'zhibo-browser-test-1';
// Alice's browser runs in BROWSER_ZONE; her quiet hours are set in QUIET_ZONE,
// 13 or 14 hours ahead, so hours around now there do not hold on her clock.
const BROWSER_ZONE = 'America/New_York';
const QUIET_ZONE = 'Asia/Tokyo';

const suffix = Date.now().toString(36).slice(-6) + Math.random().toString(36).slice(2, 5);
const { pageLogs, watch: watchPage, run: runPages } = pageWatcher(ARTIFACTS, 'alerts');

// recordNotifications runs in the page before its scripts: window.Notification
// becomes a recorder that keeps what each `new Notification(title, options)`
// asked for in window.__notifications, and answers permission as the browser
// does.
function recordNotifications() {
  const Real = window.Notification;
  const shown = [];
  window.__notifications = shown;
  function Recorded(title, options = {}) {
    shown.push({ title: String(title), body: String(options.body ?? ''), tag: String(options.tag ?? '') });
    this.close = () => {};
  }
  Object.defineProperty(Recorded, 'permission', { get: () => Real.permission });
  Recorded.requestPermission = (...args) => Real.requestPermission(...args);
  window.Notification = Recorded;
}

function notifications(page) {
  return page.evaluate(() => window.__notifications.slice());
}

// title waits until the document's title is want.
async function title(page, want, what) {
  try {
    await page.waitForFunction((t) => document.title === t, want, { timeout: STEP_TIMEOUT, polling: 50 });
  } catch (err) {
    throw new Error(`${what}: the title should be ${JSON.stringify(want)}, is ${JSON.stringify(await page.title())} (${err.message.split('\n')[0]})`);
  }
}

// aroundNow is [from, to]: an hour before and an hour after the current
// minute on zone's clock ("HH:MM"), computed in the page; and whether that
// window holds on the browser's own clock.
function aroundNow(page, zone) {
  return page.evaluate((tz) => {
    const minutes = (z) => {
      const p = new Intl.DateTimeFormat('en-US', { timeZone: z, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
        .formatToParts(Date.now());
      return (Number(p.find((x) => x.type === 'hour').value) % 24) * 60 + Number(p.find((x) => x.type === 'minute').value);
    };
    const fmt = (v) => {
      const m = ((v % 1440) + 1440) % 1440;
      return `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
    };
    const now = minutes(tz);
    const local = minutes(Intl.DateTimeFormat().resolvedOptions().timeZone);
    const d = (((local - now) % 1440) + 1440) % 1440; // how far the browser's clock is from the zone's
    return { from: fmt(now - 60), to: fmt(now + 60), holdsLocally: d < 60 || d > 1440 - 60 };
  }, zone);
}

async function main() {
  check(BASE, 'ZHIBO_URL is not set (e.g. http://127.0.0.1:8080)');
  mkdirSync(ARTIFACTS, { recursive: true });
  log(`zhibo at ${BASE}, artifacts in ${ARTIFACTS}`);

  const alice = await step('register alice and bob (API)', () =>
    call('POST', '/api/auth/register', { name: `na_${suffix}`, password: PASSWORD }));
  const bob = await call('POST', '/api/auth/register', { name: `nb_${suffix}`, password: PASSWORD });
  const bobUid = String(bob.uid);
  let sent = 0;
  const bobWrites = async () => {
    const text = `ping ${++sent} ${suffix}`;
    await call('POST', '/api/im/messages', { to: alice.uid, text, client_id: `n${sent}-${suffix}` }, bob.token);
    return text;
  };
  const aliceSettings = () => call('GET', '/api/im/settings', undefined, alice.token);

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  await runPages(browser, async () => {
    const a = await step('alice opens the rooms page, notifications granted, in New York time', () =>
      signedInPage(browser, alice, '/rooms', (page) => watchPage('alice', page), {
        context: { timezoneId: BROWSER_ZONE },
        setup: async (ctx) => {
          await ctx.grantPermissions(['notifications'], { origin: BASE });
          await ctx.addInitScript(recordNotifications);
        },
      }));
    await title(a, 'zhibo', 'alice before any message');
    check(await a.evaluate(() => Notification.permission) === 'granted', 'the notifications permission is not granted');

    await step('the browser reads quiet hours on their zone\'s clock', async () => {
      // [name, hours, instant on the UTC clock, quiet]: from included, to excluded, wrapping
      // midnight, on the hours' zone whatever the browser's (New York here).
      const night = { on: true, from: '22:00', to: '07:00', tz: 'Asia/Shanghai' }; // UTC+8, no DST
      const day = { on: true, from: '09:30', to: '17:45', tz: 'UTC' };
      const berlin = { on: true, from: '22:00', to: '07:00', tz: 'Europe/Berlin' };
      const newYork = { on: true, from: '22:00', to: '07:00', tz: 'America/New_York' };
      const skipped = { on: true, from: '02:00', to: '03:00', tz: 'Europe/Berlin' }; // the hour DST skips or repeats
      const kolkata = { on: true, from: '23:30', to: '00:30', tz: 'Asia/Kolkata' }; // UTC+5:30
      const cases = [
        ['wraps: the evening', night, '2024-06-01T14:30:00', true], // 22:30 in Shanghai
        ['wraps: after midnight', night, '2024-06-01T18:00:00', true], // 02:00
        ['wraps: from is included', night, '2024-06-01T14:00:00', true],
        ['wraps: a second before from', night, '2024-06-01T13:59:59', false],
        ['wraps: the last second before to', night, '2024-06-01T22:59:59', true], // 06:59:59
        ['wraps: to is excluded', night, '2024-06-01T23:00:00', false],
        ['wraps: midday', night, '2024-06-01T04:00:00', false],
        ['wraps: midnight', night, '2024-06-01T16:00:00', true],
        ['same day: inside', day, '2024-06-01T12:00:00', true],
        ['same day: from is included', day, '2024-06-01T09:30:00', true],
        ['same day: before', day, '2024-06-01T09:29:59', false],
        ['same day: to is excluded', day, '2024-06-01T17:45:00', false],
        ['same day: the minute before to', day, '2024-06-01T17:44:00', true],
        ['same day: night', day, '2024-06-01T23:00:00', false],
        ['half-hour offset: before', kolkata, '2024-06-01T17:59:00', false], // 23:29
        ['half-hour offset: from', kolkata, '2024-06-01T18:00:00', true], // 23:30
        ['half-hour offset: to', kolkata, '2024-06-01T19:00:00', false], // 00:30
        // One UTC instant, two offsets: 05:30 UTC is 06:30 in Berlin in winter, 07:30 in summer.
        ['DST: winter morning', berlin, '2024-01-15T05:30:00', true],
        ['DST: summer morning', berlin, '2024-07-15T05:30:00', false],
        ['DST: winter evening', berlin, '2024-01-15T20:59:00', false], // 21:59 CET
        ['DST: summer evening', berlin, '2024-07-15T20:00:00', true], // 22:00 CEST
        ['DST: New York winter', newYork, '2024-01-15T11:30:00', true], // 06:30 EST
        ['DST: New York summer', newYork, '2024-07-15T11:30:00', false], // 07:30 EDT
        // 31 March 2024: Berlin skips 02:00..03:00, so the window is not quiet that night.
        ['spring forward: 01:59 CET', skipped, '2024-03-31T00:59:00', false],
        ['spring forward: 03:00 CEST', skipped, '2024-03-31T01:00:00', false],
        // 27 October 2024: 02:00..03:00 shows twice, quiet both times.
        ['fall back: first 02:30 (CEST)', skipped, '2024-10-27T00:30:00', true],
        ['fall back: second 02:30 (CET)', skipped, '2024-10-27T01:30:00', true],
        ['fall back: 03:00 CET', skipped, '2024-10-27T02:00:00', false],
        ['off', { on: false, from: '00:00', to: '23:59', tz: 'UTC' }, '2024-06-01T12:00:00', false],
        ['unknown zone', { on: true, from: '00:00', to: '23:59', tz: 'Mars/Olympus' }, '2024-06-01T12:00:00', false],
        ['no window', { on: true, from: '08:00', to: '08:00', tz: 'UTC' }, '2024-06-01T08:00:00', false],
        ['no hours', null, '2024-06-01T08:00:00', false],
      ];
      const got = await a.evaluate(async (cs) => {
        const { quietAt } = await import('/js/alert.js');
        return cs.map(([, hours, at]) => quietAt(hours, Date.parse(`${at}Z`)));
      }, cases);
      const wrong = cases.filter((c, i) => got[i] !== c[3]).map((c) => `${c[0]} (${c[2]} UTC): want ${c[3]}`);
      check(wrong.length === 0, `quietAt: ${wrong.join('; ')}`);
    });

    await step('bob writes while alice is elsewhere: the title counts it, one notification', async () => {
      const text = await bobWrites();
      await title(a, '(1) zhibo', 'alice after bob\'s first message');
      await until('a notification', () => notifications(a), (n) => n.length >= 1);
      const shown = await notifications(a);
      check(shown.length === 1, `one notification expected, got ${JSON.stringify(shown)}`);
      check(shown[0].title === 'New message' && shown[0].body === text,
        `the notification should say "New message" with the text, got ${JSON.stringify(shown[0])}`);
    });

    const hours = await aroundNow(a, QUIET_ZONE);
    check(!hours.holdsLocally, `the hours ${hours.from}–${hours.to} in ${QUIET_ZONE} hold in ${BROWSER_ZONE} too`);
    await step(`alice sets do-not-disturb ${hours.from}–${hours.to} in ${QUIET_ZONE}`, async () => {
      await a.goto(`${BASE}/#/inbox`);
      await a.locator('[data-testid="dnd-tz"]:not([disabled])').waitFor();
      const zone = await a.getByTestId('dnd-tz').inputValue();
      check(zone === BROWSER_ZONE, `the zone should default to the browser's (${BROWSER_ZONE}), is ${zone}`);
      check(await a.getByTestId('notify-permission').getAttribute('data-permission') === 'granted',
        'the permission button should say notifications are on');
      await a.getByTestId('dnd-on').check();
      await a.getByTestId('dnd-from').fill(hours.from);
      await a.getByTestId('dnd-to').fill(hours.to);
      await a.getByTestId('dnd-tz').fill(QUIET_ZONE);
      await a.getByTestId('dnd-save').click();
      await waitText(a, '[data-testid="dnd-status"]', 'saved', 'do-not-disturb saved');
      const s = await aliceSettings();
      check(JSON.stringify(s.dnd) === JSON.stringify({ on: true, from: hours.from, to: hours.to, tz: QUIET_ZONE }),
        `stored hours: ${JSON.stringify(s.dnd)}`);
    });

    await step('changing who may message alice keeps her hours', async () => {
      await a.getByTestId('allow-select').selectOption('1');
      await waitText(a, '[data-testid="allow-status"]', 'saved', 'allow saved');
      let s = await aliceSettings();
      check(s.allow === 1 && s.dnd.on === true && s.dnd.tz === QUIET_ZONE, `after changing allow: ${JSON.stringify(s)}`);
      await a.getByTestId('allow-select').selectOption('0');
      await waitText(a, '[data-testid="allow-status"]', 'saved', 'allow saved again');
      s = await aliceSettings();
      check(s.allow === 0 && s.dnd.on === true, `after changing allow back: ${JSON.stringify(s)}`);
    });

    await step('during the hours (read again after a reload) bob\'s message moves the title, no notification', async () => {
      await a.goto(`${BASE}/#/rooms`);
      await a.reload();
      await a.locator('[data-testid="nav-inbox"][data-channel="connected"]').waitFor();
      await title(a, '(1) zhibo', 'alice after a reload'); // the inbox call, which brings the settings, is in
      await bobWrites();
      await title(a, '(2) zhibo', 'alice during the quiet hours');
      const shown = await notifications(a);
      check(shown.length === 0, `no notification expected during the quiet hours, got ${JSON.stringify(shown)}`);
    });

    await step('alice turns the hours off: the next message notifies again', async () => {
      await a.goto(`${BASE}/#/inbox`);
      // The list of the inbox's call is in, and with it the unread total that
      // call read: no answer of it is on its way to replace the count of the
      // next message.
      await a.locator(`[data-testid="conv-item"][data-peer="${bobUid}"]`).waitFor();
      await a.locator('[data-testid="dnd-on"]:not([disabled])').waitFor();
      check(await a.getByTestId('dnd-on').isChecked(), 'the page should show the hours on');
      check(await a.getByTestId('dnd-tz').inputValue() === QUIET_ZONE, 'the page should show the saved zone');
      await a.getByTestId('dnd-on').uncheck();
      await a.getByTestId('dnd-save').click();
      await waitText(a, '[data-testid="dnd-status"]', 'saved', 'do-not-disturb off saved');
      const s = await aliceSettings();
      check(JSON.stringify(s.dnd) === JSON.stringify({ on: false, from: hours.from, to: hours.to, tz: QUIET_ZONE }),
        `off, the hours kept: ${JSON.stringify(s.dnd)}`);
      const text = await bobWrites();
      await title(a, '(3) zhibo', 'alice with the hours off');
      await until('a notification', () => notifications(a), (n) => n.length >= 1);
      const shown = await notifications(a);
      check(shown.length === 1 && shown[0].body === text, `one notification of "${text}" expected, got ${JSON.stringify(shown)}`);
    });

    await step('alice reads the chat: the title drops its count', async () => {
      await a.locator(`[data-testid="conv-item"][data-peer="${bobUid}"]`).click();
      await a.waitForURL(new RegExp(`#/inbox/${bobUid}$`));
      await badge(a, 0, 'alice with the chat open');
      await title(a, 'zhibo', 'alice with the chat read');
    });

    await step('a muted chat neither counts nor notifies', async () => {
      await waitText(a, '[data-testid="chat-mute"]', 'Mute', 'mute button');
      await a.getByTestId('chat-mute').click();
      await waitText(a, '[data-testid="chat-mute"]', 'Unmute', 'mute button after muting');
      await a.goto(`${BASE}/#/inbox`);
      await a.locator(`[data-testid="conv-item"][data-peer="${bobUid}"][data-muted="true"]`).waitFor();
      const text = await bobWrites();
      await waitText(a, `[data-testid="conv-item"][data-peer="${bobUid}"] [data-testid="conv-preview"]`, text, 'the muted chat\'s preview');
      check(await a.title() === 'zhibo', `the title should stay "zhibo", is ${JSON.stringify(await a.title())}`);
      check(await a.getByTestId('nav-unread').getAttribute('data-count') === '0', 'the badge counted a muted chat\'s message');
      const shown = await notifications(a);
      check(shown.length === 1, `a muted chat's message notified: ${JSON.stringify(shown)}`);
    });
  });
}

await runTest(main, { timeout: TOTAL_TIMEOUT, pageLogs, artifacts: ARTIFACTS, logFile: 'alerts-page-logs.txt' });
