// changes.js — Access rules and objects (each object's definition from
// objects.js; rules validated as you type by a simulate of put_access_rule:
// the server's parser answers) and Changes (the audit log with the chain's
// verify status).

import { api, enc } from './api.js';
import { h, fill } from './dom.js';
import { state, can, commit, route } from './app.js';
import { objectEditor } from './objects.js';

/** `object/rule` → the roles whose grants use the rule, in one pass over the roles. */
function ruleUsers() {
  const out = new Map();
  // Each role summary lists the [permission, rule] pairs its grants use.
  for (const r of state.roles) {
    for (const [p, rule] of r.rules || []) {
      const object = Object.keys(state.schema.objects).find((o) => p.startsWith(`${o}_`));
      const key = `${object}/${rule}`;
      const list = out.get(key) || [];
      if (!list.includes(r.key)) list.push(r.key);
      out.set(key, list);
    }
  }
  return out;
}
let ruleUse = new Map();
const usedBy = (object, rule) => ruleUse.get(`${object}/${rule}`) || [];

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
  const using = isNew ? [] : usedBy(object, name);
  return h('div.rule', h('div.row', isNew ? nameInput : h('strong', name), cond, save),
    status, isNew ? null : h('p.small.muted', using.length ? `used by ${using.slice(0, 30).join(', ')}${using.length > 30 ? ` and ${using.length - 30} more` : ''}` : 'used by no role'), out);
}

export async function rulesPage(page) {
  ruleUse = ruleUsers();
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

/** Entries shown per page of the log, newest first. */
const AUDIT_PAGE = 50;

export async function changesPage(page) {
  const verify = await api('audit/verify');
  // Only the newest entries are read: `after` is a sequence number, and the
  // chain's length comes with its verification.
  const older = Number(location.hash.split('/')[1] || 0);
  const after = Math.max(0, verify.entries - AUDIT_PAGE * (older + 1));
  // Summaries: entries come without the models they hold (a model change holds
  // the whole model twice), with the changed paths worked out by the server.
  const audit = await api(`audit?after=${after}&limit=${AUDIT_PAGE}&view=summary`);
  const ok = verify.first_broken === null;
  const banner = h('p', { id: 'chain-status', class: ok ? 'notice ok' : 'notice bad' },
    ok ? `Chain verified: ${verify.entries} entries up to revision ${verify.revision}${verify.keyed_from ? `, keyed from entry ${verify.keyed_from}` : ' (unkeyed)'}`
      : `Chain broken at entry ${verify.first_broken}: ${verify.problem}`,
    h('span.small.muted', ` head ${String(verify.head).slice(0, 16)}…`));
  const entries = audit.entries.slice().reverse();
  const pager = h('div.row.pager',
    older > 0 ? h('a', { href: `#changes/${older - 1}` }, '‹ Newer') : h('span'),
    h('span.muted', `entries ${after + 1}–${after + entries.length} of ${verify.entries}`),
    after > 0 ? h('a', { href: `#changes/${older + 1}` }, 'Older ›') : h('span'));
  fill(page, h('div', h('h1', 'Changes'), banner, pager,
    h('div.card', h('table.audit',
      h('thead', h('tr', ['#', 'when', 'who', 'action', 'why', 'what changed'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', entries.map((e) => h('tr', h('td', e.seq), h('td.small', e.at.replace('T', ' ').slice(0, 19)), h('td', e.actor), h('td', e.action),
        h('td', e.reason || h('span.muted', '—')),
        h('td', whatChanged(e)))))))));
}

/** What an entry changed, from the server's summary (GET /audit?view=summary):
 * the first changed paths, one line each, and how many there are in all. */
function whatChanged(e) {
  if (e.action === 'create_workspace') return h('span.muted', 'workspace created');
  const changes = e.changes || [];
  if (e.action.endsWith('_key')) {
    return h('span', `${e.action === 'create_key' ? 'key created' : 'key revoked'}: ${changes.map(([, , t]) => t).join('; ').slice(0, 240)}`);
  }
  const lines = changes.map(([s, p, v]) => h('li', { class: s === '+' ? 'add' : s === '-' ? 'del' : 'mod' }, `${s === '-' ? '−' : s} ${p}: ${v}`.slice(0, 240)));
  if (e.changed > changes.length) lines.push(h('li.muted', `… and ${e.changed - changes.length} more`));
  if (e.changed <= 6) return h('ul.diff', lines);
  return h('details', h('summary', `${e.changed} changes`), h('ul.diff', lines));
}
