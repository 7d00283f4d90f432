// api.js — the console's only way to the server: the public HTTP API with the
// session's key. The key lives in sessionStorage (this tab only), never in a URL.

const KEY = 'permset.console.session';

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

export function session() {
  try { return JSON.parse(sessionStorage.getItem(KEY) || 'null'); } catch { return null; }
}
export function saveSession(s) { sessionStorage.setItem(KEY, JSON.stringify(s)); }
export function clearSession() { sessionStorage.removeItem(KEY); }

/** Calls `path` under the session's workspace. opts: {method, body, reason}. */
export async function api(path, opts = {}) {
  const s = session();
  if (!s) throw new ApiError(401, { error: { code: 'unauthorized', message: 'not signed in' } });
  const headers = { authorization: `Bearer ${s.key}`, 'x-permset-user': s.actor };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (opts.reason) headers['x-permset-reason'] = opts.reason;
  const resp = await fetch(`/v1/workspaces/${encodeURIComponent(s.ws)}/${path}`, {
    method: opts.method || 'GET',
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    cache: 'no-store',
  });
  let body = null;
  try { body = await resp.json(); } catch { body = null; }
  if (!resp.ok) throw new ApiError(resp.status, body);
  return body;
}

export const enc = encodeURIComponent;

/** Users per page of the People list (the server's default). */
export const USERS_PAGE = 50;

/**
 * A page of users from the server (GET /users?q=&team=&role=&after=&limit=):
 * {items: [{k, u, direct}], next, matched, total, pageSize}; `direct` is the
 * user's directly assigned roles. Users are never all downloaded: 10,000 of
 * them are a megabyte.
 */
export async function usersPage({ q = '', team, role, after, limit = USERS_PAGE } = {}) {
  const params = new URLSearchParams({ limit: String(limit) });
  if (q) params.set('q', q);
  if (team) params.set('team', team);
  if (role) params.set('role', role);
  if (after) params.set('after', after);
  const got = await api(`users?${params}`);
  const items = Object.entries(got.users).map(([k, u]) => ({ k, u, direct: got.assignments[k] || [] }));
  return { items, next: got.next, matched: got.matched, total: got.total, pageSize: limit };
}
