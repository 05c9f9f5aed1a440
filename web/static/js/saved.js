// saved keeps the last good copy of a list in sessionStorage, so a page can
// show it, marked as saved, when the server cannot be reached. Storage may be
// full or switched off: saving then does nothing and loading finds nothing.
import { parseJSON, stringifyJSON } from './json.js';

const PREFIX = 'zhibo.saved.';

// save stores value under key with the time it was saved.
export function save(key, value) {
  try {
    sessionStorage.setItem(PREFIX + key, stringifyJSON({ at: Date.now(), value }));
  } catch {
    // Quota or privacy mode: the page works without a saved copy.
  }
}

// load returns {at, value} saved under key, or null.
export function load(key) {
  try {
    const s = parseJSON(sessionStorage.getItem(PREFIX + key) || 'null');
    return s && typeof s === 'object' && 'value' in s ? s : null;
  } catch {
    return null;
  }
}

// forgetAll drops every saved list (on logout: the next user of this tab must
// not see them).
export function forgetAll() {
  try {
    for (let i = sessionStorage.length - 1; i >= 0; i--) {
      const k = sessionStorage.key(i);
      if (k && k.startsWith(PREFIX)) sessionStorage.removeItem(k);
    }
  } catch {
    // Nothing saved, nothing to drop.
  }
}
