// troubleshoot.js — why may (or may not) a user do something to a record:
// POST /explain with a real record, picked by id or found with the records
// search route as the acting user, showing the path and near misses;
// and the user's effective permissions with where each comes from.

import { api, enc, usersPage } from './api.js';
import { h, fill, select, fmt, refusal } from './dom.js';
import { state } from './app.js';

export async function troubleshootPage(page) {
  // The user field suggests as you type from the server's user search
  // (GET /users?q=&limit=): a workspace's users are never all downloaded.
  const users = h('datalist#ts-users');
  let userTimer = null;
  let asked = 0;
  const suggestUsers = () => {
    clearTimeout(userTimer);
    userTimer = setTimeout(async () => {
      const mine = ++asked;
      try {
        const got = await usersPage({ q: user.value.trim(), limit: 20 });
        if (mine === asked) fill(users, got.items.map(({ k }) => h('option', { value: k })));
      } catch { /* without users_view there is nothing to suggest: the user's key is typed */ }
    }, 150);
  };
  const perms = h('datalist#ts-perms', state.permissions.map((p) => h('option', { value: p })));
  const user = h('input', { id: 'ts-user', list: 'ts-users', required: true, autocomplete: 'off', oninput: suggestUsers });
  const perm = h('input', { id: 'ts-permission', list: 'ts-perms', required: true, autocomplete: 'off' });
  const object = select({ id: 'ts-object', 'aria-label': 'Object' }, [['', '(no record)'], ...Object.keys(state.schema.objects)]);
  const id = h('input', { id: 'ts-record', autocomplete: 'off', placeholder: 'record id' });
  const find = h('input', { id: 'ts-search', type: 'search', autocomplete: 'off', placeholder: 'name, tier, …', 'aria-describedby': 'ts-search-help' });
  const found = h('ul.search-results#ts-found', { 'aria-label': 'Records found' });
  const help = h('span.small.muted#ts-search-help', 'searches the object as you, the acting user: only records you may view');
  let timer = null;
  // Search as you type, through the records search route (the acting user's
  // own view predicate applies), and pick a result to fill in the id.
  const search = async () => {
    const q = find.value.trim();
    if (!object.value || !q) { fill(found); return; }
    try {
      const r = await api(`objects/${enc(object.value)}/search?q=${enc(q)}&limit=10`);
      fill(found, r.records.length ? r.records.map((rec) => h('li', h('button', { type: 'button', 'data-record': rec.id,
        onclick: () => { id.value = rec.id; fill(found, h('li.small.muted', `picked ${rec.id}`)); id.focus(); } },
      `${rec.id} — ${summary(rec)}`))) : h('li.small.muted', 'no record you may view matches'));
    } catch (e) { fill(found, h('li', refusal(e))); }
  };
  find.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(search, 200); });
  object.addEventListener('change', search);
  const result = h('div#ts-result');
  const effective = h('div');
  perm.addEventListener('change', () => {
    const o = Object.keys(state.schema.objects).find((name) => perm.value.startsWith(`${name}_`));
    if (o && !object.value) object.value = o;
  });
  const form = h('form.card', { onsubmit: async (ev) => {
    ev.preventDefault();
    fill(result, h('p.muted', 'Asking…'));
    try {
      const body = { user: user.value.trim(), permission: perm.value.trim() };
      if (object.value && id.value.trim()) {
        const rec = await api(`objects/${enc(object.value)}/records/${enc(id.value.trim())}`);
        body.record = rec.record;
      }
      const x = await api('explain', { method: 'POST', body });
      fill(result, decision(x, body.record));
    } catch (e) {
      fill(result, refusal(e));
    }
  } },
    h('h1', 'Troubleshoot'),
    users, perms,
    h('div.row', h('label', 'User ', user), h('label', 'Permission ', perm), h('label', 'Object ', object), h('label', 'Record id ', id),
      h('button.primary', { type: 'submit', id: 'ts-go' }, 'Explain')),
    h('div.row', h('label', 'or find a record ', find), help),
    found,
    result);
  const showEffective = h('button', { type: 'button', onclick: async () => {
    try {
      const p = await api(`users/${enc(user.value.trim())}/permissions`);
      fill(effective, h('table.compact', h('thead', h('tr', ['permission', 'access', 'from'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', p.permissions.filter((x) => x.access !== 'none').map((x) => h('tr', h('td', x.permission), h('td', fmt(x.access)),
          h('td', (x.sources || []).map(([role, how]) => `${role} (${how.kind}${how.team ? ` ${how.team}` : ''})`).join(', ')))))));
    } catch (e) { fill(effective, refusal(e)); }
  } }, "Show the user's effective permissions");
  fill(page, h('div', form, h('section.card', h('h2', 'Effective permissions'), showEffective, effective)));
}

/** A record's first few values, for picking it out of search results. */
function summary(rec) {
  return Object.entries(rec).filter(([k, v]) => k !== 'id' && v !== null && typeof v !== 'object').slice(0, 4)
    .map(([k, v]) => `${k}: ${v}`).join(' · ');
}

function decision(x, record) {
  const allowed = x.decision?.allowed;
  return h('div.decision',
    h('p', { class: allowed ? 'allow' : 'deny', id: 'ts-decision' }, allowed ? 'ALLOW' : 'DENY', ` — ${x.permission} for ${x.user} at revision ${x.revision}`),
    record ? h('p.small.muted', `record ${record.id ?? ''}: ${JSON.stringify(record).slice(0, 200)}`) : null,
    x.path?.length ? [h('h3', 'Path'), h('ol', x.path.map((step) => h('li', stepText(step))))] : null,
    x.near_misses?.length ? [h('h3', 'Near misses'), h('ul#ts-near-misses', x.near_misses.map((m) => h('li', h('span.badge', m.kind.replaceAll('_', ' ')), ' ', missText(m))))] : null,
    h('pre.explain', x.text || ''));
}

/** One near miss (core's NearMiss, tagged by kind), as a sentence. */
function missText(m) {
  const how = (a) => (a ? ` (${a.kind}${a.team ? ` ${a.team}` : ''})` : '');
  switch (m.kind) {
    case 'not_assigned': return m.roles?.length ? `no role granting ${m.permission} is assigned; these would: ${m.roles.slice(0, 12).join(', ')}${m.roles.length > 12 ? ', …' : ''}` : `no role of the workspace grants ${m.permission}`;
    case 'other_workspace': return `${m.role} grants ${m.permission} in workspace ${m.workspace}, not this one`;
    case 'expired': return `${m.role}${how(m.assigned)} grants ${m.permission} but expired at ${m.expired_at}`;
    case 'team_roles_ignored': return `${m.role} through team ${m.team} grants ${m.permission}, but team roles do not count without teams_view through a direct role`;
    case 'condition_false': return `${m.role}: ${m.permission} is limited to ${m.limit}, false for the ${m.on} (${m.values})`;
    case 'wrong_kind': return `${m.role} grants ${m.permission} but is for another kind of user`;
    case 'field_not_writable': return `the ${m.write} touches ${m.object}.${m.field}, where the user has only ${m.level}`;
    case 'unknown_permission': case 'unknown_user': return `${m.kind.replace('_', ' ')}${m.suggestion ? `; did you mean ${m.suggestion}?` : ''}`;
    default: return fmt(m);
  }
}

/** One step of an allow's path, as a sentence. */
function stepText(s) {
  if (!s || typeof s !== 'object') return fmt(s);
  const how = s.assigned ? ` (${s.assigned.kind}${s.assigned.team ? ` ${s.assigned.team}` : ''})` : '';
  return `${s.permission} on the ${s.on || 'record'}: role ${s.role}${how} grants ${fmt(s.access)}${s.matched ? ` — ${s.matched}` : ''}`;
}
