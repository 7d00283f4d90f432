// roles.js — Permission sets: the list (system roles locked, holders) and the
// editor: modules × actions, each cell none/own/team/all/rule/where; field
// levels per object; description. Drafts live in state.drafts until saved or discarded.

import { api, enc, usersPage } from './api.js';
import { h, fill, select, pagedList, fmt, refusal } from './dom.js';
import { state, can, commit, showRefusal, route } from './app.js';

const STANDARD = ['view', 'create', 'update', 'delete', 'export'];

/** A short line for the list: how many hold `role` directly and through which
 * teams (the server's counts; absent for a caller without users_view). */
function holdersLine(role) {
  const held = state.index.holders(role);
  if (!held) return '';
  const parts = [`${held.users} user${held.users === 1 ? '' : 's'} directly`];
  const teams = held.teams.map(([t, n]) => `${t} (${n})`);
  if (teams.length) parts.push(`teams: ${teams.slice(0, 3).join(', ')}${teams.length > 3 ? ` +${teams.length - 3}` : ''}`);
  return parts.join(' · ');
}

/** Users listed directly, and members listed per team, under Held by. */
const HOLDERS_SHOWN = 100;
const MEMBERS_SHOWN = 50;
/** Teams whose members are listed (each is one request); the rest are named. */
const TEAMS_SHOWN = 10;

/** Who holds `role`: users directly (with expiry), and each team with its members,
 * marking the members for whom the team's roles do not count (the teams_view gate).
 * Drawn into `box` once the pages of users come (GET /users?role= and ?team=). */
async function holdersBox(box, role) {
  const ix = state.index;
  const teams = ix.teams(role);
  fill(box, h('h3', 'Held by'), h('p.muted.small', 'reading…'));
  let users;
  let teamPages;
  try {
    [users, ...teamPages] = await Promise.all([
      usersPage({ role, limit: HOLDERS_SHOWN }),
      ...teams.slice(0, TEAMS_SHOWN).map(([t]) => usersPage({ team: t, limit: MEMBERS_SHOWN })),
    ]);
  } catch (e) {
    fill(box, h('h3', 'Held by'), refusal(e));
    return;
  }
  if (!users.matched && !teams.length) { fill(box, h('h3', 'Held by'), h('p.muted', 'nobody')); return; }
  const expiry = ({ direct }) => direct.find((a) => a.role === role)?.expires_at;
  fill(box, h('h3', 'Held by'),
    users.matched ? h('p.small', h('strong', `Directly (${users.matched}): `),
      users.items.map((it) => h('a.chip', { href: `#people/user/${enc(it.k)}` }, it.k, expiry(it) ? ` until ${expiry(it).slice(0, 10)}` : '')),
      users.matched > users.items.length ? h('span.muted', ` … and ${users.matched - users.items.length} more`) : null) : null,
    teams.map(([t, exp], i) => {
      const members = teamPages[i];
      if (!members) return h('p.small.team-holders', h('strong', 'Through team '), h('a.chip.team', { href: `#people/team/${enc(t)}` }, t));
      const ignored = new Set(members.items.filter((m) => !ix.teamRolesCount(m.u, m.direct).counts).map((m) => m.k));
      return h('p.small.team-holders', h('strong', 'Through team '), h('a.chip.team', { href: `#people/team/${enc(t)}` }, t),
        exp ? ` until ${exp.slice(0, 10)}` : '', ` — ${members.matched} member${members.matched === 1 ? '' : 's'}: `,
        members.items.map(({ k }) => h('span.chip', { class: ignored.has(k) ? 'chip gated' : 'chip' }, k,
          ignored.has(k) ? ' (does not count: no teams_view)' : '')),
        members.matched > members.items.length ? h('span.muted', ` … and ${members.matched - members.items.length} more`) : null);
    }));
}

export async function rolesPage(page) {
  const selected = decodeURIComponent(location.hash.split('/')[1] || '');
  const editor = h('div.editor');
  const list = pagedList({
    label: 'permission sets',
    items: state.roles,
    match: (r, q) => r.key.toLowerCase().includes(q) || (r.description || '').toLowerCase().includes(q),
    render: (r) => h('a.item', { href: `#roles/${enc(r.key)}`, 'aria-current': r.key === selected ? 'true' : null },
      h('span.name', r.key),
      r.system ? h('span.badge.system', { title: 'system role: clone it to customise' }, 'system · locked') : h('span.badge.custom', 'custom'),
      state.drafts.has(r.key) ? h('span.badge.draft', 'unsaved') : null,
      h('span.muted.small.holders-line', holdersLine(r.key))),
    extra: h('button', { type: 'button', id: 'new-role', disabled: !can('roles_manage'), onclick: () => newRole(editor) }, '+ New'),
  });
  fill(page, h('div.split', h('aside.card', h('h1', 'Permission sets'), list), editor));
  if (selected) await openRole(editor, selected);
  else fill(editor, h('div.card.muted', 'Pick a permission set to see or edit it.'));
}

function newRole(editor) {
  const key = h('input', { name: 'key', required: true, pattern: '[a-z][a-z0-9_]*', 'aria-label': 'New role key' });
  fill(editor, h('form.card', { onsubmit: (ev) => {
    ev.preventDefault();
    state.drafts.set(key.value, { isNew: true, def: { kind: 'agent', description: '', grants: {}, fields: {} } });
    location.hash = `#roles/${enc(key.value)}`;
  } }, h('h2', 'New permission set'), h('label', 'Key ', key), h('button.primary', { type: 'submit' }, 'Create draft')));
  key.focus();
}

async function openRole(editor, key) {
  let draft = state.drafts.get(key);
  let system = false;
  let saved = null;
  if (!draft || !draft.isNew) {
    const got = await api(`roles/${enc(key)}`);
    system = got.system;
    saved = got.role;
  }
  const def = draft ? draft.def : structuredClone(saved);
  const locked = system || !can('roles_manage');
  const out = h('div.refusal-slot');
  const markDirty = () => { state.drafts.set(key, { isNew: !saved, def }); dirty.hidden = false; };
  const dirty = h('span.badge.draft', { hidden: !draft }, 'unsaved changes');

  const desc = h('textarea', { id: 'role-description', rows: 2, disabled: locked, 'aria-label': 'Description' });
  desc.value = def.description || '';
  desc.addEventListener('input', () => { def.description = desc.value; markDirty(); });

  const save = h('button.primary', { type: 'button', id: 'save-role', disabled: locked, onclick: async () => {
    const change = { op: 'put_role', role: key, def: clean(def) };
    const done = await commit(change, (reason) => api(`roles/${enc(key)}`, { method: 'PUT', body: clean(def), reason }), out);
    if (done) { state.drafts.delete(key); await route(); }
  } }, 'Save…');
  const discard = h('button', { type: 'button', disabled: locked, onclick: () => { state.drafts.delete(key); route(); } }, 'Discard');
  const cloneName = h('input', { id: 'clone-name', 'aria-label': 'Name of the copy', placeholder: `${key}_copy`, size: 16 });
  const clone = h('button', { type: 'button', id: 'clone-role', disabled: !can('roles_manage') || !saved, onclick: async () => {
    const name = cloneName.value.trim() || `${key}_copy`;
    const change = { op: 'clone_role', source: key, role: name };
    const done = await commit(change, (reason) => api(`roles/${enc(key)}/clone`, { method: 'POST', body: { name }, reason }), out);
    if (done) location.hash = `#roles/${enc(name)}`;
  } }, 'Clone');
  const del = h('button.danger', { type: 'button', id: 'delete-role', disabled: locked || !saved, onclick: async () => {
    const done = await commit({ op: 'delete_role', role: key }, (reason) => api(`roles/${enc(key)}`, { method: 'DELETE', reason }), out);
    if (done) { state.drafts.delete(key); location.hash = '#roles'; }
  } }, 'Delete');

  // Who holds it is read beside the editor, not before it: the matrix is usable at once.
  const holders = h('div.holders');
  if (saved) holdersBox(holders, key); else fill(holders, h('h3', 'Held by'), h('p.muted', 'nobody (not saved yet)'));
  fill(editor, h('div.card',
    h('div.row', h('h2', key), system ? h('span.badge.system', 'system role — locked; clone it to customise') : null, dirty),
    !can('roles_manage') ? h('p.notice', 'You do not hold roles_manage: this permission set is read-only for you.') : null,
    h('label.block', 'Description', desc),
    h('div.row.actions', save, discard, h('span.sep'), cloneName, clone, del),
    out,
    holders,
    matrix(def, locked, markDirty),
    fieldsEditor(def, locked, markDirty)));
}

/** A role definition as the API takes it (none cells dropped). */
function clean(def) {
  const grants = {};
  for (const [p, g] of Object.entries(def.grants || {})) if (g && g.access !== 'none') grants[p] = g;
  return { kind: def.kind || 'agent', description: def.description || null, cloned_from: def.cloned_from || null, grants, fields: def.fields || {} };
}

function rows() {
  const s = state.schema;
  const out = [];
  for (const [name, o] of Object.entries(s.objects || {})) out.push([name, o.actions || [], true]);
  for (const [name, m] of Object.entries(s.modules || {})) if (!s.objects[name]) out.push([name, m.actions || [], false]);
  return out;
}

/** The limits of a limited access, in any form the API gives. */
function limitsOf(a) {
  if (a && typeof a === 'object' && Array.isArray(a.limited)) return a.limited;
  return Array.isArray(a) ? a : [a];
}
const limited = (...limits) => ({ access: { limited: limits } });

/** The kind of a grant's access: none, all, own, team, rule, where, or mixed. */
function kindOf(grant) {
  const a = grant?.access;
  if (!a || a === 'none') return 'none';
  if (a === 'all') return 'all';
  const limits = limitsOf(a);
  if (limits.length !== 1) return 'mixed';
  const l = limits[0];
  if (l === 'own' || l === 'team') return l;
  if (l && typeof l === 'object' && 'rule' in l) return 'rule';
  if (l && typeof l === 'object' && 'where' in l) return 'where';
  return 'mixed';
}

/** The choices of a cell, as the API allows them. Records make limited access
 * meaningful: an object's cells (standard and custom actions alike) offer every
 * scope — own and team only where the object has an owner or team field; a
 * module without records takes only all or none. A saved grant that says
 * otherwise is still shown, marked, so that it can be fixed. */
function choices(object, kind, grant) {
  const o = state.schema.objects[object];
  const options = o
    ? [['none', '—'], o.owner_field ? ['own', 'own'] : null, o.team_field ? ['team', 'team'] : null,
      ['all', 'all'], ['rule', 'rule…'], ['where', 'where…']].filter(Boolean)
    : [['none', '—'], ['all', 'all']];
  if (kind === 'mixed') options.push(['mixed', limitsOf(grant.access).map(fmt).join(' or ')]);
  else if (!options.some(([k]) => k === kind)) options.push([kind, `${kind} (invalid here)`]);
  return options;
}

function cell(def, object, perm, locked, markDirty, tag = 'td') {
  const grant = def.grants[perm];
  const kind = kindOf(grant);
  const options = choices(object, kind, grant);
  const sel = select({ 'aria-label': perm, 'data-perm': perm, disabled: locked, class: `k-${kind}` }, options, kind);
  const detail = h('span.detail');
  const limit = grant?.access && grant.access !== 'all' && grant.access !== 'none' ? limitsOf(grant.access)[0] : null;
  function drawDetail(k) {
    fill(detail);
    if (k === 'rule') {
      const names = Object.keys(state.rules[object] || {});
      const cur = limit?.rule || names[0] || '';
      if (!names.length) {
        detail.append(h('a.small', { href: '#rules' }, `no access rules on ${object}: add one`));
        return;
      }
      const rs = select({ 'aria-label': `${perm} rule`, disabled: locked }, names, cur);
      rs.addEventListener('change', () => { def.grants[perm] = limited({ rule: rs.value }); markDirty(); });
      detail.append(rs);
      if (cur && kindOf(def.grants[perm]) !== 'rule') def.grants[perm] = limited({ rule: cur });
    } else if (k === 'where') {
      const inp = h('input', { 'aria-label': `${perm} condition`, value: limit?.where || '', disabled: locked, size: 18 });
      inp.addEventListener('change', () => { def.grants[perm] = limited({ where: inp.value }); markDirty(); });
      detail.append(inp);
    }
  }
  sel.addEventListener('change', () => {
    const k = sel.value;
    sel.className = `k-${k}`;
    if (k === 'none') delete def.grants[perm];
    else if (k === 'all') def.grants[perm] = { access: 'all' };
    else if (k === 'own' || k === 'team') def.grants[perm] = limited(k);
    else if (k === 'where') def.grants[perm] = limited({ where: limit?.where || 'true' });
    drawDetail(k);
    markDirty();
  });
  if (kind === 'rule' || kind === 'where') drawDetail(kind);
  return h(tag, sel, detail);
}

function matrix(def, locked, markDirty) {
  def.grants ||= {};
  const perms = new Set(state.permissions);
  const filter = h('input', { type: 'search', placeholder: 'Filter modules…', 'aria-label': 'Filter modules' });
  const body = h('tbody');
  const all = rows().map(([name, custom, isObject]) => {
    const tr = h('tr', { 'data-module': name },
      h('th', { scope: 'row' }, name, isObject ? null : h('span.muted.small', ' module')),
      STANDARD.map((a) => perms.has(`${name}_${a}`) ? cell(def, name, `${name}_${a}`, locked, markDirty) : h('td.na', '')),
      h('td.custom', custom.filter((a) => perms.has(`${name}_${a}`)).map((a) => h('span.custom-action', h('span.small', a),
        cell(def, name, `${name}_${a}`, locked, markDirty, 'span.cell')))));
    return [name, tr];
  });
  fill(body, all.map(([, tr]) => tr));
  filter.addEventListener('input', () => {
    const q = filter.value.toLowerCase();
    for (const [name, tr] of all) tr.hidden = q && !name.includes(q);
  });
  return h('section',
    h('div.row', h('h3', 'Permissions'), filter),
    h('div.scroll', { tabindex: 0, role: 'region', 'aria-label': 'Permission matrix' }, h('table.matrix',
      h('thead', h('tr', h('th', { scope: 'col' }, 'module'), STANDARD.map((a) => h('th', { scope: 'col' }, a)), h('th', { scope: 'col' }, 'other actions'))),
      body)));
}

function fieldsEditor(def, locked, markDirty) {
  def.fields ||= {};
  const sections = Object.entries(state.schema.objects || {}).map(([object, o]) => {
    const fields = Object.entries(o.fields || {});
    const protectedCount = fields.filter(([, f]) => f.protected).length;
    return h('details', { open: protectedCount > 0 && Object.keys(def.fields).some((k) => k.startsWith(`${object}.`)) },
      h('summary', object, protectedCount ? h('span.badge.protected', `${protectedCount} protected`) : null),
      h('table.fields', h('tbody', fields.map(([field, f]) => {
        const path = `${object}.${field}`;
        const sel = select({ 'aria-label': `field ${path}`, disabled: locked },
          [['', f.protected ? 'default (none: protected)' : 'default (from the grants)'], ['none', 'none'], ['read', 'read'], ['edit', 'edit']], def.fields[path] || '');
        sel.addEventListener('change', () => { if (sel.value) def.fields[path] = sel.value; else delete def.fields[path]; markDirty(); });
        return h('tr', h('th', { scope: 'row' }, field, f.protected ? h('span.badge.protected', 'protected') : null), h('td', sel));
      }))));
  });
  return h('section', h('h3', 'Field permissions'), sections);
}

export { showRefusal };
