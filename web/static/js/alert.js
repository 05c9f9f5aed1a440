// Alerts for what arrives on the user's channel: the unread total in the
// document title, and a desktop notification for each new message or notice
// the Inbox says alerts (its 'alert' event: not the user's own, not in a
// muted conversation, not in the chat open in a focused window). A
// notification is shown only when the browser allows it
// (Notification.permission 'granted'; the inbox's head asks) and not during
// the user's do-not-disturb hours (settings.dnd, the server's chat.DND),
// read on the wall clock of their zone. The title follows the total whatever
// the hours say.

// The longest text a notification shows of a message.
const BODY_CHARS = 120;

// titleWith is the page's title with n unread in front: "(3) zhibo".
export function titleWith(base, n) {
  return n > 0 ? `(${n}) ${base}` : base;
}

// clockMinutes reads "HH:MM" (00:00..23:59) as minutes after midnight, or
// null.
function clockMinutes(s) {
  const m = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(String(s ?? ''));
  return m ? Number(m[1]) * 60 + Number(m[2]) : null;
}

// zoneMinutes is the wall-clock time of at (unix ms) in the IANA zone tz, as
// minutes after midnight; null when the browser does not know the zone.
export function zoneMinutes(tz, at) {
  let parts;
  try {
    parts = new Intl.DateTimeFormat('en-US', {
      timeZone: tz, hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
    }).formatToParts(at);
  } catch {
    return null; // RangeError: an unknown zone
  }
  const part = (type) => Number(parts.find((p) => p.type === type)?.value);
  const h = part('hour') % 24; // some engines say 24 at midnight
  const m = part('minute');
  return Number.isFinite(h) && Number.isFinite(m) ? h * 60 + m : null;
}

// quietAt says whether the do-not-disturb hours dnd ({on, from, to, tz})
// hold at at (unix ms): from included, to excluded, on tz's wall clock,
// wrapping midnight when from is later than to. A wall-clock hour a DST change
// skips is not quiet, one it repeats is quiet twice.
// Off, missing or unreadable hours are never quiet.
export function quietAt(dnd, at = Date.now()) {
  if (!dnd || dnd.on !== true || !dnd.tz) return false;
  const from = clockMinutes(dnd.from);
  const to = clockMinutes(dnd.to);
  if (from === null || to === null || from === to) return false;
  const now = zoneMinutes(dnd.tz, at);
  if (now === null) return false;
  return from < to ? from <= now && now < to : now >= from || now < to;
}

// notifySupported says whether this browser has desktop notifications.
export function notifySupported() {
  return typeof window.Notification === 'function';
}

// watchAlerts shows inbox's alerts as desktop notifications, and calls
// onOpen(path) when one is clicked (the chat or tab it came from). It
// returns a function that stops it.
export function watchAlerts(inbox, onOpen) {
  const handler = (ev) => {
    if (!notifySupported() || window.Notification.permission !== 'granted') return;
    if (quietAt(inbox.settings?.dnd)) return;
    const { title, body, tag, path } = describe(ev.detail);
    try {
      const n = new window.Notification(title, { body, tag });
      n.onclick = () => {
        window.focus();
        onOpen(path);
        n.close?.();
      };
    } catch (err) {
      console.warn('notification', err); // a browser that allows notifications only from a service worker
    }
  };
  inbox.addEventListener('alert', handler);
  return () => inbox.removeEventListener('alert', handler);
}

// describe is what a notification says of an alert {kind, data}.
function describe({ kind, data }) {
  const clip = (s) => {
    const t = String(s ?? '');
    return t.length > BODY_CHARS ? `${t.slice(0, BODY_CHARS)}…` : t;
  };
  switch (kind) {
    case 'group':
      return { title: 'New group message', body: clip(data.text), tag: `im-group-${data.id}`, path: `/inbox/groups/${data.group_id}` };
    case 'notice':
      return { title: data.title || 'New notice', body: clip(data.body), tag: `im-notice-${data.id}`, path: '/inbox/notices' };
    default:
      return { title: 'New message', body: clip(data.text), tag: `im-${data.id}`, path: `/inbox/${data.from}` };
  }
}
