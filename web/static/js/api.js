// HTTP API client: the {"code","message","data"} envelope, bearer token and
// the stored session.
import { parseJSON, stringifyJSON } from './json.js';

const SESSION_KEY = 'zhibo.session';

// session is the logged-in user ({uid, name, token}) kept in localStorage so
// that it survives reloads and is shared by tabs.
export const session = {
  get() {
    try {
      const s = parseJSON(localStorage.getItem(SESSION_KEY) || 'null');
      return s && s.token ? s : null;
    } catch {
      return null;
    }
  },
  set(s) {
    localStorage.setItem(SESSION_KEY, stringifyJSON({ uid: s.uid, name: s.name, token: s.token }));
    window.dispatchEvent(new Event('zhibo:session'));
  },
  clear() {
    localStorage.removeItem(SESSION_KEY);
    window.dispatchEvent(new Event('zhibo:session'));
  },
};

// ApiError is a failed call: status is the HTTP status (0 for a network
// failure), code the envelope code, message the server's human message.
export class ApiError extends Error {
  constructor(message, status, code) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

function fallbackMessage(status) {
  switch (status) {
    case 400: return 'invalid request';
    case 401: return 'please log in';
    case 403: return 'not allowed';
    case 404: return 'not found';
    case 409: return 'conflict';
    case 413: return 'too large';
    case 429: return 'too fast, slow down';
    case 503: return 'service busy, try again';
    default: return `request failed (${status})`;
  }
}

// api calls the backend and returns the envelope's data, or throws ApiError.
// body is sent as JSON; file (a Blob or File) is sent as the raw request body
// with its own type, for uploads. A 401 while logged in drops the session (the
// token expired or was revoked).
export async function api(path, { method = 'GET', body, file, signal } = {}) {
  const headers = { Accept: 'application/json' };
  const s = session.get();
  if (s) headers.Authorization = `Bearer ${s.token}`;
  const init = { method, headers, signal };
  if (file !== undefined) {
    headers['Content-Type'] = file.type || 'application/octet-stream';
    init.body = file;
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = stringifyJSON(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new ApiError('network error, check your connection', 0, -1);
  }
  let env = null;
  try {
    env = parseJSON(await res.text());
  } catch {
    env = null;
  }
  if (!res.ok || !env || typeof env !== 'object' || env.code !== 0) {
    const message = (env && typeof env.message === 'string' && env.message) || fallbackMessage(res.status);
    if (res.status === 401 && s) {
      session.clear();
      window.dispatchEvent(new Event('zhibo:unauthorized'));
    }
    throw new ApiError(message, res.status, env && env.code != null ? env.code : res.status);
  }
  return env.data;
}

// roomPath builds /api/rooms/{id}/... with the id escaped.
export function roomPath(id, suffix = '') {
  return `/api/rooms/${encodeURIComponent(id)}${suffix}`;
}
