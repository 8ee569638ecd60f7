// The HTTP API as the dashboard uses it: JSON in and out, the session cookie
// sent by the browser, and the CSRF token in a header on every request that
// changes something.

let csrf = '';
let onUnauthorized = () => {};

/** setCSRF keeps the session's CSRF token (from sign-in or GET /api/v1/session). */
export function setCSRF(token) { csrf = token || ''; }

/** setUnauthorizedHandler sets what happens when the session has ended (401). */
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

/** ApiError is a refused request: its HTTP status and the API's {code, message, field}. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.code || '';
    this.field = body?.field || '';
  }
}

/**
 * api sends method path (under /api/v1) with body as JSON and returns the
 * decoded answer (null for 204), with the extra headers given. It throws
 * ApiError for an error answer and TypeError when the network fails.
 */
export async function api(method, path, body, { quiet401 = false, headers: extra = {} } = {}) {
  const headers = { Accept: 'application/json', ...extra };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (method !== 'GET' && method !== 'HEAD' && csrf) headers['X-CSRF-Token'] = csrf;
  const res = await fetch(`/api/v1${path}`, init);
  if (res.status === 204) return null;
  let data = null;
  try { data = await res.json(); } catch { /* not JSON */ }
  if (!res.ok) {
    if (res.status === 401 && !quiet401) onUnauthorized();
    throw new ApiError(res.status, data?.error);
  }
  return data;
}

/**
 * randomKey returns a random UUID (version 4) for an Idempotency-Key.
 * crypto.randomUUID exists only in secure contexts (HTTPS, localhost), and a
 * hotline intranet is often plain HTTP by host name: the key is then built
 * from crypto.getRandomValues, which every context has.
 */
export function randomKey() {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; // version 4
  b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
