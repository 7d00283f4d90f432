// changes.js — Access rules and objects (each object's definition from
// objects.js; rules validated as you type by a simulate of put_access_rule:
// the server's parser answers) and Changes (the audit log with the chain's
// verify status).

import { api, enc } from './api.js';
import { h, fill, fmt } from './dom.js';
import { state, can, commit, route } from './app.js';
import { objectEditor } from './objects.js';

function usedBy(object, rule) {
  return state.roles.filter((r) => Object.entries(r.role.grants || {}).some(([p, g]) => p.startsWith(`${object}_`)
    && JSON.stringify(g.access).includes(JSON.stringify({ rule })))).map((r) => r.key);
}

function ruleEditor(object, name, condition, isNew) {
  const allowed = can('roles_manage');
  const out = h('div.refusal-slot');
  const status = h('span.small.validity', { role: 'status' });
  const nameInput = isNew ? h('input', { 'aria-label': `New rule name on ${object}`, placeholder: 'rule_name', disabled: !allowed }) : null;
  const cond = h('input.cond', { value: condition, 'aria-label': `Condition of ${object}.${name || 'new rule'}`, disabled: !allowed, size: 50 });
  let timer = null;
  const ruleName = () => (isNew ? nameInput.value.trim() : name);
  cond.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      if (!ruleName()) { status.textContent = 'name the rule first'; return; }
      try {
        const r = await api('simulate', { method: 'POST', body: { op: 'put_access_rule', object, rule: ruleName(), condition: cond.value } });
        status.className = 'small validity ok';
        status.textContent = `valid · ${r.access_changes.length} access change(s)`;
      } catch (e) {
        status.className = 'small validity bad';
        status.textContent = e.message;
      }
    }, 250);
  });
  const save = h('button.primary', { type: 'button', disabled: !allowed, onclick: async () => {
    const rule = ruleName();
    const done = await commit({ op: 'put_access_rule', object, rule, condition: cond.value },
      (reason) => api(`access_rules/${enc(object)}/${enc(rule)}`, { method: 'PUT', body: { condition: cond.value }, reason }), out);
    if (done) route();
  } }, 'Save…');
  const users = isNew ? [] : usedBy(object, name);
  return h('div.rule', h('div.row', isNew ? nameInput : h('strong', name), cond, save),
    status, isNew ? null : h('p.small.muted', users.length ? `used by ${users.join(', ')}` : 'used by no role'), out);
}

export async function rulesPage(page) {
  const objects = Object.entries(state.schema.objects).map(([object, o]) => h('section.card',
    h('h2', object),
    h('p.small.muted', `owner field: ${o.owner_field ?? '—'} · team field: ${o.team_field ?? '—'} · list: ${o.list_visibility ?? 'everyone'}`,
      ' · protected: ', Object.entries(o.fields).filter(([, f]) => f.protected).map(([f]) => f).join(', ') || 'none'),
    h('details.object-def', { open: state.drafts.has(`object:${object}`) }, h('summary', `Definition of ${object}: fields, owner and team fields, list visibility`), objectEditor(object)),
    h('h3', 'Access rules'),
    Object.entries(state.rules[object] || {}).map(([name, c]) => ruleEditor(object, name, c, false)),
    ruleEditor(object, '', '', true)));
  fill(page, h('div', h('h1', 'Access rules and objects'), objects));
}

/** The paths where two JSON values differ, one readable line each. */
function diff(before, after, path = '', out = []) {
  if (out.length > 40) return out;
  if (JSON.stringify(before) === JSON.stringify(after)) return out;
  if (before && after && typeof before === 'object' && typeof after === 'object' && !Array.isArray(before)) {
    for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) diff(before[k], after[k], path ? `${path}.${k}` : k, out);
  } else if (before === undefined) out.push(['+', path, fmt(after)]);
  else if (after === undefined) out.push(['−', path, fmt(before)]);
  else out.push(['~', path, `${fmt(before)} → ${fmt(after)}`]);
  return out;
}

export async function changesPage(page) {
  const [verify, audit] = await Promise.all([api('audit/verify'), api('audit?after=0&limit=1000')]);
  const ok = verify.first_broken === null;
  const banner = h('p', { id: 'chain-status', class: ok ? 'notice ok' : 'notice bad' },
    ok ? `Chain verified: ${verify.entries} entries up to revision ${verify.revision}${verify.keyed_from ? `, keyed from entry ${verify.keyed_from}` : ' (unkeyed)'}`
      : `Chain broken at entry ${verify.first_broken}: ${verify.problem}`,
    h('span.small.muted', ` head ${String(verify.head).slice(0, 16)}…`));
  const entries = audit.entries.slice().reverse();
  fill(page, h('div', h('h1', 'Changes'), banner,
    h('div.card', h('table.audit',
      h('thead', h('tr', ['#', 'when', 'who', 'action', 'why', 'what changed'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', entries.map((e) => h('tr', h('td', e.seq), h('td.small', e.at.replace('T', ' ').slice(0, 19)), h('td', e.actor), h('td', e.action),
        h('td', e.reason || h('span.muted', '—')),
        h('td', whatChanged(e)))))))));
}

function whatChanged(e) {
  if (e.action === 'create_workspace') return h('span.muted', 'workspace created');
  const k = e.after ?? e.before;
  if (e.action.endsWith('_key') && k && typeof k === 'object' && 'id' in k) {
    return h('span', `${e.action === 'create_key' ? 'key created' : 'key revoked'}: ${k.id} for ${k.user ?? 'the service principal'}${k.role ? `, limited to ${k.role}` : ''}${k.label ? ` (${k.label})` : ''}`);
  }
  if (!e.before || !e.after || e.action.endsWith('_key')) return h('span.muted', `${e.action.replace('_', ' ')}: ${fmt(e.after ?? e.before).slice(0, 160)}`);
  const lines = diff(e.before, e.after).map(([s, p, v]) => h('li', { class: s === '+' ? 'add' : s === '−' ? 'del' : 'mod' }, `${s} ${p}: ${v}`.slice(0, 240)));
  if (lines.length <= 6) return h('ul.diff', lines);
  return h('details', h('summary', `${lines.length} changes`), h('ul.diff', lines));
}
