// End-to-end test of group chat and system notices in the web inbox, in a
// real Chromium, against a running zhibo at $ZHIBO_URL. Three users, each in
// their own browser context: alice starts a group with bob and carol from
// the Groups tab; it appears live in their lists. Alice's message reaches
// both live: their "Messages" badges and the group's row count it, and drop
// back to 0 when each opens the group. Carol leaves the group: it goes from
// her list, and alice's next message reaches bob but not her. Alice recalls
// that message: bob's chat and list show "message recalled". An operator
// (named in the server's admins through its config file, which zhibo
// reloads) sends bob a system notice through the API: bob's badge and
// Notices tab count it live, and both go back to 0 once he opens the tab and
// it is shown there marked new; a second notice appears live at the top of
// the open tab; carol naming bob in a room's bullet comment gives him a
// mention notice, listed under Mentions, and carol replying to his comment
// one reply notice, listed under Replies. With the group and notice APIs cut
// off in bob's browser, both tabs show the copies saved in the tab, marked
// offline.
//
// Exit code 0 on success, 1 on failure; screenshots go to $ARTIFACTS_DIR.
import { chromium } from 'playwright-core';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BASE, CHROMIUM, CHROMIUM_ARGS, STEP_TIMEOUT, log, call, step, check, waitText, until, signedInPage, badge, runTest, pageWatcher,
} from './harness.mjs';

const CONFIG_FILE = process.env.ZHIBO_BROWSER_CONFIG || '';
const ARTIFACTS = process.env.ARTIFACTS_DIR || mkdtempSync(join(tmpdir(), 'zhibo-browser-'));
const TOTAL_TIMEOUT = 180_000;
const PASSWORD = 'zhibo-browser-test-1';

const suffix = Date.now().toString(36).slice(-6) + Math.random().toString(36).slice(2, 5);
const { pageLogs, watch: watchPage, screenshots, run: runPages } = pageWatcher(ARTIFACTS, 'groups');

// tabBadge waits until the inbox tab's unread count shows n.
async function tabBadge(page, tab, n, what) {
  const sel = `[data-testid="inbox-tab-${tab}"] [data-testid="tab-unread"][data-count="${n}"]`;
  try {
    await page.locator(sel).waitFor({ state: n === 0 ? 'attached' : 'visible' });
  } catch (err) {
    throw new Error(`${what}: the ${tab} tab should count ${n} (${err.message.split('\n')[0]})`);
  }
}

// message is the open chat's stored message showing text.
function message(page, text, attrs = '') {
  return page.locator(`[data-testid="msg-item"][data-id]${attrs}`, {
    has: page.locator('[data-testid="msg-text"]', { hasText: text }),
  });
}

// groupRow is the row of group id in the Groups list.
function groupRow(page, id, attrs = '') {
  return page.locator(`[data-testid="group-item"][data-group="${id}"]${attrs}`);
}

// sendNotice sends a notice as op, again while the server refuses op as an
// operator (it takes op once it has reloaded the config file naming it).
async function sendNotice(op, body) {
  const deadline = Date.now() + STEP_TIMEOUT;
  for (;;) {
    try {
      return await call('POST', '/api/admin/notices', body, op.token);
    } catch (err) {
      if (!/HTTP 403/.test(err.message) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function main() {
  check(BASE, 'ZHIBO_URL is not set (e.g. http://127.0.0.1:8080)');
  check(CONFIG_FILE, 'ZHIBO_BROWSER_CONFIG is not set (run the test through run.sh)');
  mkdirSync(ARTIFACTS, { recursive: true });
  log(`zhibo at ${BASE}, artifacts in ${ARTIFACTS}`);

  const [op, alice, bob, carol] = await step('register an operator, alice, bob and carol (API)', async () => {
    const users = [];
    for (const n of ['op', 'ga', 'gb', 'gc']) {
      users.push(await call('POST', '/api/auth/register', { name: `${n}_${suffix}`, password: PASSWORD }));
    }
    writeFileSync(CONFIG_FILE, `admins: [${users[0].uid}]\n`); // zhibo reloads it on change
    return users;
  });
  const aliceUid = String(alice.uid);

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  await runPages(browser, async () => {
    const [a, b, c] = await step('all three open the Groups tab; the channels connect', () => Promise.all(
      [['alice', alice], ['bob', bob], ['carol', carol]].map(([name, u]) =>
        signedInPage(browser, u, '/inbox/groups', (page) => watchPage(name, page)))));
    for (const [who, page] of [['bob', b], ['carol', c]]) {
      await waitText(page, '[data-testid="group-status"]', 'No groups yet.', `${who} without groups`);
      await badge(page, 0, `${who} before any message`);
    }

    const name = `Group ${suffix}`;
    const group = await step('alice starts a group with bob and carol', async () => {
      await a.getByTestId('group-name-input').fill(name);
      await a.getByTestId('group-members-input').fill(`${bob.uid}, ${carol.uid}`);
      await a.getByTestId('group-create').click();
      await a.waitForURL(/#\/inbox\/groups\/\d+$/);
      const id = a.url().match(/groups\/(\d+)$/)[1];
      await waitText(a, '[data-testid="chat-peer-name"]', name, 'alice group header');
      await waitText(a, '[data-testid="group-member-count"]', '3 members', 'alice member count');
      await a.getByTestId('group-add').waitFor(); // the owner adds members, never leaves
      check(await a.getByTestId('group-leave').count() === 0, 'the owner is offered "Leave"');
      return id;
    });

    await step('the group appears live in bob\'s and carol\'s lists', async () => {
      for (const [who, page] of [['bob', b], ['carol', c]]) {
        await groupRow(page, group, '[data-members="3"][data-unread="0"]').waitFor();
        await waitText(page, `[data-testid="group-item"][data-group="${group}"] [data-testid="group-name"]`, name, `${who} group name`);
      }
    });

    const hello = `hello group ${suffix}`;
    await step('alice writes; bob\'s and carol\'s badges and rows count it live', async () => {
      await a.getByTestId('msg-input').fill(hello);
      await a.getByTestId('msg-input').press('Enter');
      await message(a, hello, '[data-state="sent"]').waitFor();
      for (const [who, page] of [['bob', b], ['carol', c]]) {
        await badge(page, 1, `${who} after alice wrote`);
        await tabBadge(page, 'groups', 1, who);
        await groupRow(page, group, '[data-unread="1"]').waitFor();
        await waitText(page, `[data-testid="group-item"][data-group="${group}"] [data-testid="group-preview"]`,
          `uid ${aliceUid}: ${hello}`, `${who} preview`);
      }
      await badge(a, 0, 'alice, who wrote it');
    });

    await step('bob and carol open the group: the message, badges back to 0', async () => {
      for (const [who, page] of [['bob', b], ['carol', c]]) {
        await groupRow(page, group).click();
        await page.waitForURL(new RegExp(`#/inbox/groups/${group}$`));
        await message(page, hello).waitFor();
        await waitText(page, '[data-testid="msg-author"]', `uid ${aliceUid}`, `${who} sees who wrote`);
        await badge(page, 0, `${who} with the group open`);
        await tabBadge(page, 'groups', 0, who);
        await groupRow(page, group, '[data-unread="0"]').waitFor();
      }
    });

    await step('carol leaves the group: it is gone from her list', async () => {
      await c.getByTestId('group-leave').click();
      await c.waitForURL(/#\/inbox\/groups$/);
      await waitText(c, '[data-testid="group-status"]', 'No groups yet.', 'carol after leaving');
      await until('carol out of the group', () => call('GET', '/api/im/groups', undefined, carol.token),
        (p) => p.items.length === 0);
    });

    const after = `after carol left ${suffix}`;
    await step('alice writes again: bob gets it live, carol does not', async () => {
      await a.getByTestId('msg-input').fill(after);
      await a.getByTestId('msg-send').click();
      await message(a, after, '[data-state="sent"]').waitFor();
      await message(b, after).waitFor();
      await badge(b, 0, 'bob with the group open');
      await until('the message stored', () => call('GET', `/api/im/groups/${group}/messages?limit=10`, undefined, bob.token),
        (p) => p.items.some((m) => m.text === after));
      // Bob has it and the store has it: a push to carol would have come with his.
      await badge(c, 0, 'carol after she left');
      check(await groupRow(c, group).count() === 0, 'carol: the group is back in her list');
      check(await c.getByText(after).count() === 0, 'carol: the message reached her page');
    });

    await step('alice recalls her message: bob sees it recalled', async () => {
      const id = await message(a, after).getAttribute('data-id');
      await message(a, after).getByTestId('msg-recall').click();
      for (const [who, page] of [['alice', a], ['bob', b]]) {
        await page.locator(`[data-testid="msg-item"][data-id="${id}"][data-recalled="true"]`).waitFor();
        await waitText(page, `[data-testid="msg-item"][data-id="${id}"] [data-testid="msg-recalled"]`, 'message recalled', `${who} recall marker`);
        check(await page.locator(`[data-testid="msg-item"][data-id="${id}"] [data-testid="msg-text"]`).count() === 0,
          `${who}: the recalled text is still shown`);
      }
      await waitText(b, `[data-testid="group-item"][data-group="${group}"] [data-testid="group-preview"]`,
        `uid ${aliceUid}: message recalled`, 'bob preview after the recall');
    });

    const title = `Maintenance ${suffix}`;
    await step('the operator sends bob a system notice: his badge and Notices tab count it live', async () => {
      await b.getByTestId('inbox-tab-chats').click();
      await b.waitForURL(/#\/inbox$/);
      await sendNotice(op, {
        business: 'browser-test', title, body: `The service pauses at night ${suffix}.`, to: { uids: [bob.uid] },
      });
      await badge(b, 1, 'bob after the notice');
      await tabBadge(b, 'notices', 1, 'bob');
    });

    await step('bob opens Notices: the notice is there marked new, the badge goes back to 0', async () => {
      await b.getByTestId('inbox-tab-notices').click();
      await b.waitForURL(/#\/inbox\/notices$/);
      const item = b.locator('[data-testid="notice-item"][data-new="true"]', {
        has: b.locator('[data-testid="notice-title"]', { hasText: title }),
      });
      await item.waitFor();
      await waitText(b, '[data-testid="notice-body"]', `The service pauses at night ${suffix}.`, 'notice body');
      await badge(b, 0, 'bob with the notice shown');
      await tabBadge(b, 'notices', 0, 'bob');
      const left = await call('GET', '/api/im/notices/unread', undefined, bob.token);
      check(Number(left.system) === 0, `the server still counts ${left.system} unread notices`);
    });

    const second = `Second notice ${suffix}`;
    await step('a second notice appears live at the top of the open Notices tab', async () => {
      await sendNotice(op, { business: 'browser-test', title: second, body: 'More news.', to: { uids: [bob.uid] } });
      await waitText(b, '[data-testid="notice-item"]:first-child [data-testid="notice-title"]', second, 'live notice');
      await until('the second notice read', () => call('GET', '/api/im/notices/unread', undefined, bob.token),
        (n) => Number(n.system) === 0);
      await badge(b, 0, 'bob with the Notices tab open');
    });

    let talkRoom = null; // alice's room, where carol and bob comment
    await step('carol names bob in a bullet comment: his Mentions list it, counted until shown', async () => {
      // Comments on everywhere: a test before this one on the same server may have switched
      // them off for every room.
      await call('PUT', '/api/admin/switches', { off: [] }, op.token);
      talkRoom = await call('POST', '/api/rooms', { title: `Mentions ${suffix}` }, alice.token);
      const room = talkRoom;
      const text = `hello @${bob.name} from the room`;
      await call('POST', `/api/rooms/${room.id}/danmaku`, { text }, carol.token);
      await until('the mention counted', () => call('GET', '/api/im/notices/unread', undefined, bob.token),
        (n) => Number(n.mention) === 1);
      await b.getByTestId('notice-kind-mention').click();
      await waitText(b, '[data-testid="notice-item"]:first-child [data-testid="notice-body"]', text, 'mention body');
      await waitText(b, '[data-testid="notice-item"]:first-child [data-testid="notice-title"]', `${carol.name} mentioned you`,
        'mention title');
      await until('the mention read', () => call('GET', '/api/im/notices/unread', undefined, bob.token),
        (n) => Number(n.mention) === 0);
      await badge(b, 0, 'bob with the mention shown');
      await b.getByTestId('notice-kind-system').click();
      await waitText(b, '[data-testid="notice-item"]:first-child [data-testid="notice-title"]', second, 'system notices again');
    });

    await step('carol replies to bob\'s bullet comment: his Replies list it once, counted until shown', async () => {
      const mine = await call('POST', `/api/rooms/${talkRoom.id}/danmaku`, { text: `bob was here ${suffix}` }, bob.token);
      const text = `nice one ${suffix}`;
      await call('POST', `/api/rooms/${talkRoom.id}/danmaku`, `{"text":${JSON.stringify(text)},"reply_to":${mine.id}}`, carol.token);
      await until('the reply counted', () => call('GET', '/api/im/notices/unread', undefined, bob.token),
        (n) => Number(n.reply) === 1);
      await b.getByTestId('notice-kind-reply').click();
      await waitText(b, '[data-testid="notice-item"]:first-child [data-testid="notice-body"]', text, 'reply body');
      await waitText(b, '[data-testid="notice-item"]:first-child [data-testid="notice-title"]', `${carol.name} replied to your comment`,
        'reply title');
      await until('the reply read', () => call('GET', '/api/im/notices/unread', undefined, bob.token),
        (n) => Number(n.reply) === 0);
      check(await b.locator('[data-testid="notice-item"]').count() === 1, 'more than one reply notice listed');
      await badge(b, 0, 'bob with the reply shown');
      await b.getByTestId('notice-kind-system').click();
      await waitText(b, '[data-testid="notice-item"]:first-child [data-testid="notice-title"]', second, 'system notices again');
    });

    await step('group and notice APIs down: bob sees the saved lists, marked offline', async () => {
      const cut = (url) => url.pathname.startsWith('/api/im/groups') || url.pathname.startsWith('/api/im/notices') ||
        url.pathname === '/api/im/inbox';
      await b.route(cut, (route) => route.abort());
      try {
        await b.goto(`${BASE}/#/inbox/groups`);
        await b.getByTestId('groups-offline').waitFor();
        await groupRow(b, group).waitFor();
        await b.goto(`${BASE}/#/inbox/groups/${group}`);
        await b.getByTestId('chat-offline').waitFor();
        await b.locator('[data-testid="msg-recalled"]').first().waitFor();
        await b.goto(`${BASE}/#/inbox/notices`);
        await b.getByTestId('notices-offline').waitFor();
        await waitText(b, '[data-testid="notice-title"]', title, 'saved notice');
        check(await b.locator('[data-testid="notice-item"][data-new="true"]').count() === 0,
          'the saved notices, read before, are marked new');
        await screenshots('offline');
      } finally {
        await b.unroute(cut);
      }
    });
  });
}

await runTest(main, { timeout: TOTAL_TIMEOUT, pageLogs, artifacts: ARTIFACTS, logFile: 'groups-page-logs.txt' });
