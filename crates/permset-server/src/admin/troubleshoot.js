// troubleshoot.js — why may (or may not) a user do something to a record:
// POST /explain with a real record read by id, showing the path and near misses;
// and the user's effective permissions with where each comes from.

import { api, enc } from './api.js';
import { h, fill, select, fmt, refusal } from './dom.js';
import { state } from './app.js';

export async function troubleshootPage(page) {
  const users = h('datalist#ts-users', Object.keys(state.users).map((u) => h('option', { value: u })));
  const perms = h('datalist#ts-perms', state.permissions.map((p) => h('option', { value: p })));
  const user = h('input', { id: 'ts-user', list: 'ts-users', required: true, autocomplete: 'off' });
  const perm = h('input', { id: 'ts-permission', list: 'ts-perms', required: true, autocomplete: 'off' });
  const object = select({ id: 'ts-object', 'aria-label': 'Object' }, [['', '(no record)'], ...Object.keys(state.schema.objects)]);
  const id = h('input', { id: 'ts-record', autocomplete: 'off', placeholder: 'record id' });
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

function decision(x, record) {
  const allowed = x.decision?.allowed;
  return h('div.decision',
    h('p', { class: allowed ? 'allow' : 'deny', id: 'ts-decision' }, allowed ? 'ALLOW' : 'DENY', ` — ${x.permission} for ${x.user} at revision ${x.revision}`),
    record ? h('p.small.muted', `record ${record.id ?? ''}: ${JSON.stringify(record).slice(0, 200)}`) : null,
    x.path?.length ? [h('h3', 'Path'), h('ol', x.path.map((step) => h('li', stepText(step))))] : null,
    x.near_misses?.length ? [h('h3', 'Near misses'), h('ul', x.near_misses.map((m) => h('li', `${m.role}: ${m.kind} ${m.limit ?? ''} ${m.values ?? ''}`.trim())))] : null,
    h('pre.explain', x.text || ''));
}

/** One step of an allow's path, as a sentence. */
function stepText(s) {
  if (!s || typeof s !== 'object') return fmt(s);
  const how = s.assigned ? ` (${s.assigned.kind}${s.assigned.team ? ` ${s.assigned.team}` : ''})` : '';
  return `${s.permission} on the ${s.on || 'record'}: role ${s.role}${how} grants ${fmt(s.access)}${s.matched ? ` — ${s.matched}` : ''}`;
}
