// people.js — users and teams with their roles: assign and unassign (with an
// optional expiry), team membership, account owners (changeable by owners only),
// and the teams_view gate where a team's roles do not count for a member.

import { api, enc, usersPage } from './api.js';
import { h, fill, select, pagedList, serverList, refusal } from './dom.js';
import { state, can, commit, route, loadTeams } from './app.js';

const roleKeys = () => state.roles.map((r) => r.key);

/** A team's directly assigned roles (loaded with the workspace). */
const teamRoles = (team) => (state.assignments.teams || {})[team] || [];

export async function peoplePage(page) {
  const [, kind = 'user', key = ''] = location.hash.split('/');
  const detail = h('div.editor');
  const teamsRead = loadTeams();
  // Users are paged and filtered by the server (GET /users?q=&after=&limit=).
  const userList = serverList({
    label: 'users',
    fetchPage: (q, after) => usersPage({ q, after }),
    render: ({ k, u, direct }) => h('a.item', { href: `#people/user/${enc(k)}` }, h('span.name', k),
      u.account_owner ? h('span.badge.owner', 'owner') : null,
      u.kind === 'end_user' ? h('span.badge', 'end user') : null,
      h('span.muted.small', direct.map((a) => a.role).join(', '))),
  });
  // The teams and the first page of users are read side by side.
  await teamsRead;
  const teams = Object.entries(state.teams).map(([k, t]) => ({ k, t }));
  const teamList = pagedList({
    label: 'teams', items: teams, pageSize: 20,
    match: ({ k, t }, q) => k.includes(q) || (t.name || '').toLowerCase().includes(q),
    render: ({ k, t }) => h('a.item', { href: `#people/team/${enc(k)}` }, h('span.name', t.name || k),
      h('span.muted.small', `${k} · ${teamRoles(k).map((a) => a.role).join(', ')}`)),
  });
  fill(page, h('div.split', h('aside.card', h('h1', 'People'), h('h2', 'Users'), userList, h('h2', 'Teams'), teamList), detail));
  const name = decodeURIComponent(key);
  const shown = kind === 'user' && name ? userDetail(detail, name)
    : kind === 'team' && state.teams[name] ? teamDetail(detail, name)
      : fill(detail, h('div.card.muted', 'Pick a user or a team.'));
  // The page is ready once its list and the picked user or team are drawn.
  await Promise.all([userList.ready, shown]);
}

function assignForm(holderKind, holder, out) {
  const field = holderKind === 'users' ? 'user' : 'team';
  const allowed = can(holderKind === 'users' ? 'users_update' : 'teams_update');
  // No role is preselected: the first in the list is account_owner's, not a safe default.
  const role = select({ 'aria-label': 'Role to assign', id: 'assign-role', disabled: !allowed }, [['', '— pick a role —'], ...roleKeys()], '');
  const expires = h('input', { type: 'datetime-local', id: 'assign-expiry', 'aria-label': 'Expires at (optional)', disabled: !allowed });
  role.addEventListener('change', () => { go.disabled = !allowed || !role.value; });
  const go = h('button.primary', { type: 'button', id: 'assign', disabled: true, onclick: async () => {
    const expires_at = expires.value ? new Date(expires.value).toISOString() : null;
    const change = { op: 'assign', holder: { [field]: holder }, role: role.value, expires_at };
    const done = await commit(change, (reason) => api('assignments', { method: 'POST', body: { [field]: holder, role: role.value, expires_at }, reason }), out);
    if (done) route();
  } }, 'Assign');
  return h('div.row', h('label', 'Role ', role), h('label', 'Expires ', expires), go);
}

function roleTable(holderKind, holder, list, out) {
  const field = holderKind === 'users' ? 'user' : 'team';
  const allowed = can(holderKind === 'users' ? 'users_update' : 'teams_update');
  if (!list.length) return h('p.muted', 'No roles assigned directly.');
  return h('table.compact', h('thead', h('tr', h('th', { scope: 'col' }, 'role'), h('th', { scope: 'col' }, 'expires'), h('th', { scope: 'col' }, ''))),
    h('tbody', list.map((a) => h('tr', h('td', h('a', { href: `#roles/${enc(a.role)}` }, a.role)), h('td', a.expires_at || 'never'),
      h('td', h('button', { type: 'button', disabled: !allowed, 'aria-label': `Unassign ${a.role}`, onclick: async () => {
        const done = await commit({ op: 'unassign', holder: { [field]: holder }, role: a.role },
          (reason) => api('assignments', { method: 'DELETE', body: { [field]: holder, role: a.role }, reason }), out);
        if (done) route();
      } }, 'Unassign'))))));
}

async function userDetail(detail, key) {
  let got;
  try {
    got = await api(`users/${enc(key)}`);
  } catch (e) {
    fill(detail, h('div.card', refusal(e)));
    return;
  }
  const u = got.user;
  const direct = got.assignments || [];
  const out = h('div.refusal-slot');
  const owner = h('input', { type: 'checkbox', id: 'owner-toggle', checked: u.account_owner, disabled: !state.owner });
  owner.addEventListener('change', async () => {
    const def = { ...u, account_owner: owner.checked };
    const done = await commit({ op: 'put_user', user: key, def }, (reason) => api(`users/${enc(key)}`, { method: 'PUT', body: def, reason }), out);
    if (done) route(); else owner.checked = u.account_owner;
  });
  const gate = state.index.teamRolesCount(u, direct);
  const viaTeams = (u.teams || []).flatMap((t) => teamRoles(t).map((a) => h('li', { class: gate.counts ? null : 'gated' },
    h('a', { href: `#roles/${enc(a.role)}` }, a.role), ` through team ${t}`, a.expires_at ? ` (until ${a.expires_at})` : '',
    gate.counts ? null : h('span.badge.gated', 'does not count'))));
  const teamsAllowed = can('teams_update');
  const addTeam = select({ 'aria-label': 'Team to join', id: 'join-team', disabled: !teamsAllowed }, Object.keys(state.teams).filter((t) => !(u.teams || []).includes(t)));
  fill(detail, h('div.card',
    h('div.row', h('h2', key), u.account_owner ? h('span.badge.owner', 'account owner') : null, h('span.badge', u.kind)),
    h('label.row', owner, ' Account owner', state.owner ? null : h('span.muted.small', ' (only account owners change this)')),
    out,
    h('h3', 'Roles'), roleTable('users', key, direct, out), assignForm('users', key, out),
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

/** Members shown on a team's page; the count says how many there are in all. */
const MEMBERS_SHOWN = 200;

async function teamDetail(detail, key) {
  const out = h('div.refusal-slot');
  let members;
  try {
    members = await usersPage({ team: key, limit: MEMBERS_SHOWN });
  } catch (e) {
    members = { items: [], matched: 0, error: e };
  }
  fill(detail, h('div.card',
    h('h2', state.teams[key].name || key), h('p.muted', key),
    out,
    h('h3', 'Roles (each member receives them)'), roleTable('teams', key, teamRoles(key), out), assignForm('teams', key, out),
    h('h3', `Members (${members.matched})`),
    members.error ? refusal(members.error) : null,
    h('ul', members.items.map(({ k, u, direct }) => {
      const counts = state.index.teamRolesCount(u, direct).counts;
      return h('li', h('a', { href: `#people/user/${enc(k)}` }, k),
        counts ? null : h('span.badge.gated', { title: 'no teams_view through a directly assigned role' }, "team's roles do not count"));
    })),
    members.matched > members.items.length ? h('p.muted.small', `… and ${members.matched - members.items.length} more (filter the users list by ${key})`) : null));
}
