// app.js — the console's shell: sign-in, the workspace state every page reads,
// navigation, and `commit`, the one way a page writes: a what-if preview
// (POST /simulate) with an optional reason, then the real route.

import { api, session, saveSession, clearSession, ApiError } from './api.js';
import { h, fill, refusal, fmt } from './dom.js';
import { rolesPage } from './roles.js';
import { peoplePage } from './people.js';
import { troubleshootPage } from './troubleshoot.js';
import { rulesPage, changesPage } from './changes.js';
import { buildIndex } from './derive.js';

const $ = (id) => document.getElementById(id);

/** The workspace as the acting user sees it; reloaded after each write. Users
 * are not in it: 10,000 of them are a megabyte, so pages read them a page at a
 * time (api.js usersPage); teams' assignments are (a few hundred); the teams
 * themselves come with the People page (loadTeams). */
export const state = { schema: null, declared: {}, settings: {}, roles: [], assignments: { users: {}, teams: {} }, teams: {}, rules: {}, can: {}, owner: false, drafts: new Map(), index: null };

async function optional(promise, fallback) {
  try { return await promise; } catch (e) { if (e instanceof ApiError && e.status === 403) return fallback; throw e; }
}

/** The teams, read by the one page that lists them (People) once per load:
 * the first load reads six answers, within the browser's six connections. */
let teamsRead = null;
export function loadTeams() {
  teamsRead ||= optional(api('teams'), { teams: {} }).then((t) => { state.teams = t.teams; });
  return teamsRead;
}

export async function load() {
  const s = session();
  teamsRead = null;
  const [schema, roles, assignments, rules, me, perms] = await Promise.all([
    api('schema'),
    // Summaries, not definitions: a list of 1,000 roles is drawn from names and counts;
    // the editor fetches one role's grants when it is opened (roles.js).
    optional(api('roles?view=summary'), { roles: [] }),
    optional(api('assignments?holders=teams'), { assignments: { users: {}, teams: {} } }),
    optional(api('access_rules'), { access_rules: {} }),
    optional(api(`users/${encodeURIComponent(s.actor)}`), null),
    api(`users/${encodeURIComponent(s.actor)}/permissions`),
  ]);
  state.schema = schema.schema;
  state.declared = schema.declared || {};
  state.settings = schema.settings || {};
  state.permissions = schema.permissions;
  state.revision = schema.revision;
  state.roles = roles.roles;
  state.assignments = assignments.assignments;
  state.rules = rules.access_rules;
  state.owner = !!me?.user?.account_owner;
  state.can = {};
  for (const p of perms.permissions) if (p.access !== 'none') state.can[p.permission] = p.access;
  if (state.owner) for (const p of state.permissions) state.can[p] = 'all';
  state.index = buildIndex(state);
}

/** May the acting user use `permission` at all (role-level)? */
export const can = (permission) => state.owner || Boolean(state.can[permission]);

const pages = { roles: rolesPage, people: peoplePage, rules: rulesPage, troubleshoot: troubleshootPage, changes: changesPage };

/** How many routes have started; the last one owns the page. */
let routes = 0;

export async function route() {
  const mine = ++routes;
  const name = (location.hash.slice(1).split('/')[0]) || 'roles';
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.page === name) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  const page = $('page');
  // The marks let a benchmark (crates/permset-bench console) time each page
  // from the route's start to its list being drawn, in the browser itself.
  performance.mark(`permset:route:${name}`);
  delete page.dataset.ready;
  // Each route draws into a view of its own, and a newer route replaces it:
  // a page still waiting for its reads when the user moves on then draws
  // into a detached view, never over the page the user went to.
  const view = h('div.view');
  page.replaceChildren(view);
  try {
    await (pages[name] || rolesPage)(view);
  } catch (e) {
    fill(view, refusal(e));
  }
  if (mine !== routes) return;
  performance.mark(`permset:ready:${name}`);
  page.dataset.ready = name;
}

/**
 * Shows the preview of `change` (plan, who gains or loses what), asks for a
 * reason, and on confirm runs `write(reason)`. Resolves to the write's answer,
 * or null when cancelled or refused (the refusal is shown in `where`).
 */
export async function commit(change, write, where) {
  let preview;
  try {
    preview = await api('simulate', { method: 'POST', body: change });
  } catch (e) {
    showRefusal(where, e);
    return null;
  }
  const dialog = $('dialog');
  const reason = h('input', { name: 'reason', autocomplete: 'off', placeholder: 'why this change is needed' });
  const changes = preview.access_changes || [];
  const form = h('form', { method: 'dialog' },
    h('h2#dialog-title', 'Review the change'),
    h('h3', 'Plan'),
    h('ul.plan', (preview.plan?.changes || []).map((c) => h('li', { class: `plan-${c.kind}` }, c.description || fmt(c)))),
    h('h3', `Who gains or loses (${changes.length})`),
    changes.length ? h('table.compact',
      h('thead', h('tr', ['user', 'permission', 'change', 'before', 'after'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', changes.slice(0, 200).map((c) => h('tr', { class: `chg-${c.change}` },
        h('td', c.user), h('td', c.permission), h('td', c.change), h('td', fmt(c.before)), h('td', fmt(c.after))))))
      : h('p.muted', 'No one\'s effective access changes.'),
    changes.length > 200 ? h('p.muted', `… and ${changes.length - 200} more`) : null,
    h('label', 'Reason (optional, kept in the audit log)', reason),
    h('div.row.end', h('button', { type: 'submit', value: 'cancel' }, 'Cancel'),
      h('button.primary', { type: 'submit', value: 'apply', id: 'confirm-change' }, 'Apply change')));
  fill(dialog, form);
  dialog.showModal();
  reason.focus();
  const answer = await new Promise((resolve) => dialog.addEventListener('close', () => resolve(dialog.returnValue), { once: true }));
  if (answer !== 'apply') return null;
  try {
    const result = await write(reason.value.trim());
    await load();
    const n = Array.isArray(result.changes) ? result.changes.length : (result.changes?.changes || []).length;
    toast(`Saved at revision ${result.revision}: ${n} change(s)`);
    return result;
  } catch (e) {
    showRefusal(where, e);
    return null;
  }
}

export function showRefusal(where, e) {
  if (!(e instanceof ApiError)) throw e;
  fill(where, refusal(e));
  where.scrollIntoView?.({ block: 'nearest' });
}

export function toast(text) {
  const t = h('div.toast', { role: 'status' }, text);
  document.body.append(t);
  setTimeout(() => t.remove(), 4000);
}

function showSignin(message) {
  $('nav').hidden = true;
  $('signout').hidden = true;
  $('who').textContent = '';
  fill($('page'));
  const form = $('signin');
  form.hidden = false;
  $('signin-error').textContent = message || '';
}

async function start() {
  const form = $('signin');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    saveSession({ ws: data.get('ws').trim(), key: data.get('key').trim(), actor: data.get('actor').trim() });
    form.elements.key.value = '';
    await enter();
  });
  $('signout').addEventListener('click', () => { clearSession(); showSignin(); });
  window.addEventListener('hashchange', route);
  window.addEventListener('beforeunload', (ev) => { if (state.drafts.size) ev.preventDefault(); });
  await enter();
}

async function enter() {
  const s = session();
  if (!s) return showSignin();
  try {
    await load();
  } catch (e) {
    clearSession();
    return showSignin(e.message);
  }
  $('signin').hidden = true;
  $('nav').hidden = false;
  $('signout').hidden = false;
  $('who').textContent = `${s.actor} · ${s.ws}${state.owner ? ' · account owner' : ''}`;
  await route();
}

start();
