// End-to-end test of private messages in a real Chromium, against a running
// zhibo at $ZHIBO_URL. Two users, each in their own browser context, chat
// live: alice starts a chat by bob's user id and writes; bob's "Messages"
// badge and conversation list count it at once (pushed over his channel),
// and drop back to 0 when he opens the chat; alice then sees her message
// marked read. Bob answers and alice, whose chat is open, sees it without
// counting it unread. Alice recalls her message: it is replaced by a
// "message recalled" marker on both sides. Bob deletes a message for himself
// only, and after a reload it stays deleted for him and the recall stays.
// With the conversation and inbox APIs cut off in bob's browser, the inbox and
// the chat show the copies saved in the tab, marked as such, not a blank page.
// Then bob mutes the chat (marked in the list), a long chat loads its older
// messages on request, and 20 new correspondents raise bob's badge live and
// fill more than one page of his list, which opens with one GET /api/im/inbox
// ("Load more" continues it); "Message" on alice's
// room page opens bob's chat with her.
//
// Exit code 0 on success, 1 on failure; screenshots go to $ARTIFACTS_DIR.
import { chromium } from 'playwright-core';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BASE, CHROMIUM, CHROMIUM_ARGS, log, call, step, check, waitText, until, signedInPage, badge, runTest, pageWatcher,
} from './harness.mjs';

const ARTIFACTS = process.env.ARTIFACTS_DIR || mkdtempSync(join(tmpdir(), 'zhibo-browser-'));
const TOTAL_TIMEOUT = 180_000;
const PASSWORD = 'zhibo-browser-test-1';

const suffix = Date.now().toString(36).slice(-6) + Math.random().toString(36).slice(2, 5);
const { pageLogs, watch: watchPage, screenshots, run: runPages } = pageWatcher(ARTIFACTS, 'inbox');

// userPage opens the inbox signed in as user, once its channel is connected.
function userPage(browser, name, user) {
  return signedInPage(browser, user, '/inbox', (page) => watchPage(name, page));
}

// message is the chat's item showing text (sent: it has its id), and with
// the attributes in attrs (such as '[data-read="true"]').
function message(page, text, attrs = '') {
  return page.locator(`[data-testid="msg-item"][data-id]${attrs}`, {
    has: page.locator('[data-testid="msg-text"]', { hasText: text }),
  });
}

// send types text into the open chat and submits it with Enter or the button.
async function send(page, text, how) {
  const input = page.getByTestId('msg-input');
  await input.fill(text);
  if (how === 'enter') await input.press('Enter');
  else await page.getByTestId('msg-send').click();
  await message(page, text, '[data-state="sent"]').waitFor();
}

// waitStored waits until user's chat with peer holds n messages in the store.
function waitStored(user, peer, n) {
  return until(`${n} messages stored`, () => call('GET', `/api/im/conversations/${peer}/messages?limit=100`, undefined, user.token),
    (c) => c.items.length >= n);
}

// waitConversations waits until user has n conversations in the store.
function waitConversations(user, n) {
  return until(`${n} conversations stored`, () => call('GET', '/api/im/conversations?limit=100', undefined, user.token),
    (p) => p.items.length >= n);
}

async function main() {
  check(BASE, 'ZHIBO_URL is not set (e.g. http://127.0.0.1:8080)');
  mkdirSync(ARTIFACTS, { recursive: true });
  log(`zhibo at ${BASE}, artifacts in ${ARTIFACTS}`);

  const alice = await step('register alice and bob (API)', () =>
    call('POST', '/api/auth/register', { name: `al_${suffix}`, password: PASSWORD }));
  const bob = await call('POST', '/api/auth/register', { name: `bo_${suffix}`, password: PASSWORD });
  const aliceUid = String(alice.uid);
  const bobUid = String(bob.uid);

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  await runPages(browser, async () => {
    const [a, b] = await step('both open the inbox; the channels connect', () =>
      Promise.all([userPage(browser, 'alice', alice), userPage(browser, 'bob', bob)]));
    await badge(b, 0, 'bob before any message');
    await waitText(b, '[data-testid="conv-status"]', 'No conversations yet.', 'bob empty inbox');

    await step('alice starts a chat by bob\'s user id', async () => {
      await a.getByTestId('start-uid').fill(bobUid);
      await a.getByTestId('start-chat').click();
      await a.waitForURL(new RegExp(`#/inbox/${bobUid}$`));
      await waitText(a, '[data-testid="chat-peer-name"]', bob.name, 'alice chat header');
      await a.locator('[data-testid="nav-inbox"][data-channel="connected"]').waitFor();
    });

    const hello = `hello bob ${suffix}`;
    await step('alice sends a message (Enter)', () => send(a, hello, 'enter'));

    await step('bob\'s badge and list count it live', async () => {
      await badge(b, 1, 'bob after alice wrote');
      await b.locator(`[data-testid="conv-item"][data-peer="${aliceUid}"][data-unread="1"]`).waitFor();
      await waitText(b, `[data-testid="conv-item"][data-peer="${aliceUid}"] [data-testid="conv-preview"]`, hello, 'bob list preview');
      await waitText(b, `[data-testid="conv-item"][data-peer="${aliceUid}"] [data-testid="conv-name"]`, alice.name, 'bob list name');
    });

    await step('bob opens the chat: read, badge back to 0, alice sees "read"', async () => {
      await b.locator(`[data-testid="conv-item"][data-peer="${aliceUid}"]`).click();
      await b.waitForURL(new RegExp(`#/inbox/${aliceUid}$`));
      await message(b, hello).waitFor();
      await badge(b, 0, 'bob with the chat open');
      await b.locator(`[data-testid="conv-item"][data-peer="${aliceUid}"][data-unread="0"]`).waitFor();
      await message(a, hello, '[data-read="true"]').waitFor();
      await message(a, hello).getByTestId('msg-read').waitFor();
    });

    const reply = `hi alice ${suffix}`;
    await step('bob answers (button); alice sees it live, not counted unread', async () => {
      await send(b, reply, 'button');
      await waitText(b, `[data-testid="conv-item"][data-peer="${aliceUid}"] [data-testid="conv-preview"]`, `You: ${reply}`, 'bob list preview');
      await message(a, reply).waitFor();
      await badge(a, 0, 'alice with the chat open');
    });

    await step('alice recalls her message: recalled on both sides', async () => {
      const id = await message(a, hello).getAttribute('data-id');
      await message(a, hello).getByTestId('msg-recall').click();
      for (const [who, page] of [['alice', a], ['bob', b]]) {
        const item = page.locator(`[data-testid="msg-item"][data-id="${id}"]`);
        await page.locator(`[data-testid="msg-item"][data-id="${id}"][data-recalled="true"]`).waitFor();
        await waitText(page, `[data-testid="msg-item"][data-id="${id}"] [data-testid="msg-recalled"]`, 'message recalled', `${who} recall marker`);
        check(await item.getByTestId('msg-text').count() === 0, `${who}: the recalled text is still shown`);
      }
    });

    await step('bob deletes his answer for himself only; a reload keeps both changes', async () => {
      const id = await message(b, reply).getAttribute('data-id');
      await message(b, reply).getByTestId('msg-delete').click();
      await b.locator(`[data-testid="msg-item"][data-id="${id}"]`).waitFor({ state: 'detached' });
      await b.reload();
      await b.locator('[data-testid="msg-recalled"]').first().waitFor();
      check(await b.locator(`[data-testid="msg-item"][data-id="${id}"]`).count() === 0, 'bob: the deleted message is back after a reload');
      check(await message(a, reply).count() === 1, 'alice: bob\'s delete removed the message on her side too');
    });

    await step('conversation API down: bob sees the saved list and chat, marked offline', async () => {
      const cut = (url) => url.pathname.startsWith('/api/im/conversations') || url.pathname === '/api/im/inbox';
      await b.route(cut, (route) => route.abort());
      try {
        await b.goto(`${BASE}/#/inbox`);
        await b.getByTestId('inbox-offline').waitFor();
        await b.locator(`[data-testid="conv-item"][data-peer="${aliceUid}"]`).waitFor();
        await b.goto(`${BASE}/#/inbox/${aliceUid}`);
        await b.getByTestId('chat-offline').waitFor();
        await b.locator('[data-testid="msg-recalled"]').first().waitFor();
        await screenshots('offline');
      } finally {
        await b.unroute(cut);
      }
    });

    await step('bob mutes the chat: the list marks it muted, after a reload too', async () => {
      await b.goto(`${BASE}/#/inbox`);
      await b.locator(`[data-testid="conv-item"][data-peer="${aliceUid}"]`).click();
      await b.waitForURL(new RegExp(`#/inbox/${aliceUid}$`));
      await waitText(b, '[data-testid="chat-mute"]', 'Mute', 'mute button');
      await b.getByTestId('chat-mute').click();
      await waitText(b, '[data-testid="chat-mute"]', 'Unmute', 'mute button after muting');
      await b.locator(`[data-testid="conv-item"][data-peer="${aliceUid}"][data-muted="true"] [data-testid="conv-muted"]`).waitFor();
      await b.reload();
      await b.locator(`[data-testid="conv-item"][data-peer="${aliceUid}"][data-muted="true"]`).waitFor();
      await waitText(b, '[data-testid="chat-mute"]', 'Unmute', 'mute button after a reload');
    });

    await step('a long chat loads older messages on request', async () => {
      // 30 more messages through the API (each side within its burst), read live by bob.
      for (let i = 0; i < 15; i++) {
        await call('POST', '/api/im/messages', { to: alice.uid, text: `b${i} ${suffix}`, client_id: `b${i}-${suffix}` }, bob.token);
        await call('POST', '/api/im/messages', { to: bob.uid, text: `a${i} ${suffix}`, client_id: `a${i}-${suffix}` }, alice.token);
      }
      await message(b, `a14 ${suffix}`).waitFor();
      await badge(b, 0, 'bob reading the long chat live');
      await waitStored(bob, aliceUid, 31); // bob deleted one of the 32
      await b.reload();
      await message(b, `a14 ${suffix}`).waitFor();
      check(await b.locator('[data-testid="msg-item"]').count() === 30, 'the chat should open with its 30 newest messages');
      check(await b.locator('[data-testid="msg-recalled"]').count() === 0, 'the oldest message is shown before it is asked for');
      await b.getByTestId('msg-older').click();
      await b.locator('[data-testid="msg-recalled"]').waitFor();
      await b.getByTestId('msg-older').waitFor({ state: 'hidden' });
      check(await b.locator('[data-testid="msg-item"]').count() === 31, 'older messages: 31 expected');
    });

    await step('20 more people write to bob: the badge counts live, the list pages with "Load more"', async () => {
      for (let i = 0; i < 20; i++) {
        const u = await call('POST', '/api/auth/register', { name: `fr${i}_${suffix}`, password: PASSWORD });
        await call('POST', '/api/im/messages', { to: bob.uid, text: `from ${i} ${suffix}` }, u.token);
      }
      await badge(b, 20, 'bob after 20 new conversations');
      await waitConversations(bob, 21);
      const calls = [];
      const onRequest = (r) => {
        const u = new URL(r.url());
        if (u.pathname.startsWith('/api/im/')) calls.push(`${r.method()} ${u.pathname}`);
      };
      b.on('request', onRequest);
      await b.goto(`${BASE}/#/inbox`);
      await b.getByTestId('conv-more').waitFor();
      b.off('request', onRequest);
      check(JSON.stringify(calls) === JSON.stringify(['GET /api/im/inbox']),
        `the inbox should open with one GET /api/im/inbox, made ${JSON.stringify(calls)}`);
      check(await b.locator('[data-testid="conv-item"]').count() === 20, 'the first page of the list should have 20 conversations');
      await b.getByTestId('conv-more').click();
      await b.locator(`[data-testid="conv-item"][data-peer="${aliceUid}"]`).waitFor();
      await b.getByTestId('conv-more').waitFor({ state: 'hidden' });
      check(await b.locator('[data-testid="conv-item"]').count() === 21, 'after "Load more" the list should have 21 conversations');
    });

    await step('"Message" on alice\'s room page opens bob\'s chat with her', async () => {
      const room = await call('POST', '/api/rooms', { title: `Alice's room ${suffix}` }, alice.token);
      await b.goto(`${BASE}/#/room/${room.id}`);
      await b.getByTestId('message-anchor').click();
      await b.waitForURL(new RegExp(`#/inbox/${aliceUid}$`));
      await waitText(b, '[data-testid="chat-peer-name"]', alice.name, 'chat header');
      await message(b, `a14 ${suffix}`).waitFor();
    });
  });
}

await runTest(main, { timeout: TOTAL_TIMEOUT, pageLogs, artifacts: ARTIFACTS, logFile: 'inbox-page-logs.txt' });
