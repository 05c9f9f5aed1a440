// JSON helpers that keep 64-bit ids exact.
//
// The backend's ids (users, rooms, gifts) are 64-bit integers and may exceed
// Number.MAX_SAFE_INTEGER, which JSON.parse would silently round. parseJSON
// keeps such integers as decimal strings, and stringifyJSON writes id fields
// that hold decimal strings back as bare JSON numbers, so an id survives a
// round trip through the browser unchanged.

// ID_KEYS names the request fields the server expects as JSON numbers.
const ID_KEYS = new Set(['uid', 'roomid', 'room_id', 'gift_id', 'id', 'num', 'to', 'read_id', 'reply_to']);
// ID_LIST_KEYS name the request fields the server expects as lists of JSON
// numbers.
const ID_LIST_KEYS = new Set(['members', 'uids']);

const DIGITS = /^-?\d+$/;

// parseJSON is JSON.parse that returns unsafe integers as decimal strings.
export function parseJSON(text) {
  return JSON.parse(text, (key, value, ctx) => {
    if (typeof value === 'number' && !Number.isSafeInteger(value) && Number.isInteger(value) &&
        ctx && typeof ctx.source === 'string' && DIGITS.test(ctx.source)) {
      return ctx.source;
    }
    return value;
  });
}

function idNumber(value) {
  return typeof JSON.rawJSON === 'function' ? JSON.rawJSON(value) : Number(value);
}

// stringifyJSON is JSON.stringify that writes decimal-string ids as numbers.
export function stringifyJSON(obj) {
  return JSON.stringify(obj, (key, value) => {
    if (ID_KEYS.has(key) && typeof value === 'string' && DIGITS.test(value)) return idNumber(value);
    if (ID_LIST_KEYS.has(key) && Array.isArray(value)) {
      return value.map((v) => (typeof v === 'string' && DIGITS.test(v) ? idNumber(v) : v));
    }
    return value;
  });
}

// sameId compares two ids that may be numbers or decimal strings.
export function sameId(a, b) {
  return a != null && b != null && String(a) === String(b);
}

// cmpId orders two ids that may be numbers or decimal strings: negative when
// a < b, 0 when equal, positive when a > b. A missing id counts as 0.
export function cmpId(a, b) {
  const x = BigInt(a ?? 0);
  const y = BigInt(b ?? 0);
  return x < y ? -1 : x > y ? 1 : 0;
}
