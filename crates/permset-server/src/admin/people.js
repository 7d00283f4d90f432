// people.js — users and teams with their roles: assign and unassign (with an
// optional expiry), team membership, account owners (changeable by owners only),
// and the teams_view gate where a team's roles do not count for a member.

import { api, enc } from './api.js';
import { h, fill, select, pagedList } from './dom.js';
import { state, can, commit, route } from './app.js';

const roleKeys = () => state.roles.map((r) => r.key);

function rolesOf(kind, key) {
  return (state.assignments[kind] || {})[key] || [];
}

export async function peoplePage(page) {
  const [, kind = 'user', key = ''] = location.hash.split('/');
  const detail = h('div.editor');
  const users = Object.entries(state.users).map(([k, u]) => ({ k, u }));
  const teams = Object.entries(state.teams).map(([k, t]) => ({ k, t }));
  const userList = pagedList({
    label: 'users', items: users,
    match: ({ k, u }, q) => k.toLowerCase().includes(q) || (u.teams || []).some((t) => t.includes(q)) || rolesOf('users', k).some((a) => a.role.includes(q)),
    render: ({ k, u }) => h('a.item', { href: `#people/user/${enc(k)}` }, h('span.name', k),
      u.account_owner ? h('span.badge.owner', 'owner') : null,
      u.kind === 'end_user' ? h('span.badge', 'end user') : null,
      h('span.muted.small', rolesOf('users', k).map((a) => a.role).join(', '))),
  });
  const teamList = pagedList({
    label: 'teams', items: teams, pageSize: 20,
    match: ({ k, t }, q) => k.includes(q) || (t.name || '').toLowerCase().includes(q),
    render: ({ k, t }) => h('a.item', { href: `#people/team/${enc(k)}` }, h('span.name', t.name || k),
      h('span.muted.small', `${k} · ${rolesOf('teams', k).map((a) => a.role).join(', ')}`)),
  });
  fill(page, h('div.split', h('aside.card', h('h1', 'People'), h('h2', 'Users'), userList, h('h2', 'Teams'), teamList), detail));
  const name = decodeURIComponent(key);
  if (kind === 'user' && state.users[name]) userDetail(detail, name);
  else if (kind === 'team' && state.teams[name]) teamDetail(detail, name);
  else fill(detail, h('div.card.muted', 'Pick a user or a team.'));
}

function assignForm(holderKind, holder, out) {
  const field = holderKind === 'users' ? 'user' : 'team';
  const allowed = can(holderKind === 'users' ? 'users_update' : 'teams_update');
  const role = select({ 'aria-label': 'Role to assign', id: 'assign-role', disabled: !allowed }, roleKeys());
  const expires = h('input', { type: 'datetime-local', id: 'assign-expiry', 'aria-label': 'Expires at (optional)', disabled: !allowed });
  const go = h('button.primary', { type: 'button', id: 'assign', disabled: !allowed, onclick: async () => {
    const expires_at = expires.value ? new Date(expires.value).toISOString() : null;
    const change = { op: 'assign', holder: { [field]: holder }, role: role.value, expires_at };
    const done = await commit(change, (reason) => api('assignments', { method: 'POST', body: { [field]: holder, role: role.value, expires_at }, reason }), out);
    if (done) route();
  } }, 'Assign');
  return h('div.row', h('label', 'Role ', role), h('label', 'Expires ', expires), go);
}

function roleTable(holderKind, holder, out) {
  const field = holderKind === 'users' ? 'user' : 'team';
  const allowed = can(holderKind === 'users' ? 'users_update' : 'teams_update');
  const list = rolesOf(holderKind, holder);
  if (!list.length) return h('p.muted', 'No roles assigned directly.');
  return h('table.compact', h('thead', h('tr', h('th', { scope: 'col' }, 'role'), h('th', { scope: 'col' }, 'expires'), h('th', { scope: 'col' }, ''))),
    h('tbody', list.map((a) => h('tr', h('td', h('a', { href: `#roles/${enc(a.role)}` }, a.role)), h('td', a.expires_at || 'never'),
      h('td', h('button', { type: 'button', disabled: !allowed, 'aria-label': `Unassign ${a.role}`, onclick: async () => {
        const done = await commit({ op: 'unassign', holder: { [field]: holder }, role: a.role },
          (reason) => api('assignments', { method: 'DELETE', body: { [field]: holder, role: a.role }, reason }), out);
        if (done) route();
      } }, 'Unassign'))))));
}

function userDetail(detail, key) {
  const u = state.users[key];
  const out = h('div.refusal-slot');
  const owner = h('input', { type: 'checkbox', id: 'owner-toggle', checked: u.account_owner, disabled: !state.owner });
  owner.addEventListener('change', async () => {
    const def = { ...u, account_owner: owner.checked };
    const done = await commit({ op: 'put_user', user: key, def }, (reason) => api(`users/${enc(key)}`, { method: 'PUT', body: def, reason }), out);
    if (done) route(); else owner.checked = u.account_owner;
  });
  const gate = state.index.teamRolesCount(key);
  const viaTeams = (u.teams || []).flatMap((t) => rolesOf('teams', t).map((a) => h('li', { class: gate.counts ? null : 'gated' },
    h('a', { href: `#roles/${enc(a.role)}` }, a.role), ` through team ${t}`, a.expires_at ? ` (until ${a.expires_at})` : '',
    gate.counts ? null : h('span.badge.gated', 'does not count'))));
  const teamsAllowed = can('teams_update');
  const addTeam = select({ 'aria-label': 'Team to join', id: 'join-team', disabled: !teamsAllowed }, Object.keys(state.teams).filter((t) => !(u.teams || []).includes(t)));
  fill(detail, h('div.card',
    h('div.row', h('h2', key), u.account_owner ? h('span.badge.owner', 'account owner') : null, h('span.badge', u.kind)),
    h('label.row', owner, ' Account owner', state.owner ? null : h('span.muted.small', ' (only account owners change this)')),
    out,
    h('h3', 'Roles'), roleTable('users', key, out), assignForm('users', key, out),
    h('h3', 'Through teams'), viaTeams.length ? h('ul', viaTeams) : h('p.muted', 'None.'),
    viaTeams.length ? gateNotice(key, gate) : null,
    h('h3', 'Teams'),
    h('ul', (u.teams || []).map((t) => h('li', t, ' ', h('button', { type: 'button', disabled: !teamsAllowed, 'aria-label': `Remove from ${t}`, onclick: async () => {
      const done = await commit({ op: 'remove_member', team: t, user: key }, (reason) => api(`teams/${enc(t)}/members/${enc(key)}`, { method: 'DELETE', reason }), out);
      if (done) route();
    } }, 'Remove')))),
    h('div.row', h('label', 'Add to team ', addTeam), h('button', { type: 'button', disabled: !teamsAllowed, onclick: async () => {
      const t = addTeam.value;
      const done = await commit({ op: 'add_member', team: t, user: key }, (reason) => api(`teams/${enc(t)}/members/${enc(key)}`, { method: 'PUT', reason }), out);
      if (done) route();
    } }, 'Add'))));
}

/** Says whether a user's team roles count (decision rule 3, the teams_view gate). */
function gateNotice(user, gate) {
  if (!state.index.gateOn) return h('p.small.muted', 'Team roles count for every member: the workspace does not require teams_view.');
  if (gate.counts) return h('p.small.muted', `Team roles count for ${user}: ${user} holds teams_view through ${gate.via}, assigned directly.`);
  return h('p.notice#teams-view-gate', { role: 'note' },
    `These team roles do not count for ${user}: ${user} holds no teams_view through a directly assigned role, `
    + 'and this workspace requires it (team_roles_require_teams_view). Assign a role with teams_view directly to make them count.');
}

function teamDetail(detail, key) {
  const out = h('div.refusal-slot');
  const members = state.index.members(key);
  fill(detail, h('div.card',
    h('h2', state.teams[key].name || key), h('p.muted', key),
    out,
    h('h3', 'Roles (each member receives them)'), roleTable('teams', key, out), assignForm('teams', key, out),
    h('h3', `Members (${members.length})`),
    h('ul', members.map((m) => {
      const counts = state.index.teamRolesCount(m).counts;
      return h('li', h('a', { href: `#people/user/${enc(m)}` }, m),
        counts ? null : h('span.badge.gated', { title: 'no teams_view through a directly assigned role' }, "team's roles do not count"));
    }))));
}
