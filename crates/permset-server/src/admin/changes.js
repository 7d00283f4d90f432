// changes.js — Access rules and objects (each object's definition from
// objects.js; rules validated as you type by a simulate of put_access_rule:
// the server's parser answers) and Changes (the audit log with the chain's
// verify status).

import { api, enc } from './api.js';
import { h, fill, refusal } from './dom.js';
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
  // Objects drafted with "+ New object" and not saved yet: their editor, open.
  const fresh = [...state.drafts.keys()].filter((k) => k.startsWith('object:')).map((k) => k.slice('object:'.length))
    .filter((o) => !state.schema.objects[o])
    .map((object) => h('section.card.new-object', { 'data-new-object': object },
      h('div.row', h('h2', object), h('span.badge.draft', 'new object, not saved')),
      h('p.small.muted', 'Add its fields, choose its owner and team fields and who may list it, then Save object…; access rules can be written once it exists.'),
      objectEditor(object)));
  fill(page, h('div', h('div.row', h('h1', 'Access rules and objects'), newObjectButton(page)), h('div#new-object-slot'), fresh, objects));
}

/** "+ New object": names a custom object (and its custom actions) and opens its
 * definition as a draft; nothing is written until Save object… (PUT
 * /schema/objects/{object} through the preview, needing klasses_update). */
function newObjectButton(page) {
  const allowed = can('klasses_update');
  return h('button', { type: 'button', id: 'new-object', disabled: !allowed,
    title: allowed ? null : 'needs klasses_update',
    onclick: () => {
      const slot = page.querySelector('#new-object-slot');
      const name = h('input', { id: 'new-object-name', required: true, autocomplete: 'off', placeholder: 'returns', 'aria-describedby': 'new-object-help' });
      const actions = h('input', { id: 'new-object-actions', autocomplete: 'off', placeholder: 'approve, refund' });
      const error = h('p.small.error', { role: 'alert' });
      fill(slot, h('form.card', { 'aria-labelledby': 'new-object-title', onsubmit: (ev) => {
        ev.preventDefault();
        const n = name.value.trim();
        if (!/^[a-z][a-z0-9_]*$/.test(n)) { error.textContent = 'an object name is lowercase letters, digits and _, starting with a letter'; return; }
        if (state.schema.objects[n] || state.schema.modules?.[n]) { error.textContent = `${n} exists: open its definition below`; return; }
        const custom = actions.value.split(',').map((a) => a.trim()).filter(Boolean);
        const bad = custom.find((a) => !/^[a-z][a-z0-9_]*$/.test(a));
        if (bad) { error.textContent = `action \`${bad}\`: lowercase letters, digits and _`; return; }
        state.drafts.set(`object:${n}`, { def: { actions: custom, fields: {} } });
        route().then(() => document.querySelector(`[data-new-object="${n}"] input`)?.focus());
      } },
      h('h2#new-object-title', 'New custom object'),
      h('p.small.muted#new-object-help', 'Its name is also its permissions\' prefix: returns_view, returns_update, …'),
      h('div.row', h('label', 'Name ', name), h('label', 'Custom actions (optional) ', actions),
        h('button.primary', { type: 'submit' }, 'Create draft'),
        h('button', { type: 'button', onclick: () => fill(slot) }, 'Cancel')),
      error));
      name.focus();
    } }, '+ New object');
}

/** Entries shown per page of the log, newest first. */
const AUDIT_PAGE = 50;

export async function changesPage(page) {
  // The chain's verification reads and hashes every entry, whole models
  // included: it runs beside the log, whose newest entries are listed at once,
  // and its status replaces "verifying…" when it answers.
  const verifying = api('audit/verify');
  verifying.catch(() => {});
  // Only the newest entries are read: `after` is a sequence number, and an
  // intact chain has one entry per revision (the status says if it is not).
  const total = state.revision;
  const older = Number(location.hash.split('/')[1] || 0);
  const after = Math.max(0, total - AUDIT_PAGE * (older + 1));
  // Summaries: entries come without the models they hold (a model change holds
  // the whole model twice), with the changed paths worked out by the server.
  const audit = await api(`audit?after=${after}&limit=${AUDIT_PAGE}&view=summary`);
  const banner = h('p', { id: 'chain-status', class: 'notice', 'aria-live': 'polite' }, 'Verifying the chain…');
  const entries = audit.entries.slice().reverse();
  const pager = h('div.row.pager',
    older > 0 ? h('a', { href: `#changes/${older - 1}` }, '‹ Newer') : h('span'),
    h('span.muted', `entries ${after + 1}–${after + entries.length} of ${total}`),
    after > 0 ? h('a', { href: `#changes/${older + 1}` }, 'Older ›') : h('span'));
  fill(page, h('div', h('h1', 'Changes'), banner, pager,
    h('div.card', h('table.audit',
      h('thead', h('tr', ['#', 'when', 'who', 'action', 'why', 'what changed'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', entries.map((e) => h('tr', h('td', e.seq), h('td.small', e.at.replace('T', ' ').slice(0, 19)), h('td', e.actor), h('td', e.action),
        h('td', e.reason || h('span.muted', '—')),
        h('td', whatChanged(e)))))))));
  verifying.then((verify) => {
    const ok = verify.first_broken === null;
    banner.className = ok ? 'notice ok' : 'notice bad';
    fill(banner,
      ok ? `Chain verified: ${verify.entries} entries up to revision ${verify.revision}${verify.keyed_from ? `, keyed from entry ${verify.keyed_from}` : ' (unkeyed)'}`
        : `Chain broken at entry ${verify.first_broken}: ${verify.problem}`,
      h('span.small.muted', ` head ${String(verify.head).slice(0, 16)}…`));
  }, (e) => { banner.className = 'notice bad'; fill(banner, refusal(e)); });
}

/** What an entry changed, from the server's summary (GET /audit?view=summary):
 * the first changed paths, one line each, and how many there are in all. */
function whatChanged(e) {
  if (e.action === 'create_workspace') return h('span.muted', 'workspace created');
  const changes = e.changes || [];
  if (e.action.endsWith('_key')) {
    // A key's entry lists its fields: name the key by what tells keys apart.
    const field = Object.fromEntries(changes.map(([, p, t]) => [p, t]));
    if (e.action === 'revoke_key') return h('span', `key revoked: ${field.id || '?'}`);
    const who = field.user && field.user !== 'null' ? `for ${field.user}` : 'service key';
    const parts = [field.id, field.label ? `“${field.label}”` : null, who,
      field.role && field.role !== 'null' ? `limited to ${field.role}` : null,
      field.expires_at && field.expires_at !== 'null' ? `until ${field.expires_at.slice(0, 10)}` : null,
    ];
    return h('span', `key created: ${parts.filter(Boolean).join(' · ')}`);
  }
  const lines = changes.map(([s, p, v]) => h('li', { class: s === '+' ? 'add' : s === '-' ? 'del' : 'mod' }, `${s === '-' ? '−' : s} ${p}: ${v}`.slice(0, 240)));
  if (e.changed > changes.length) lines.push(h('li.muted', `… and ${e.changed - changes.length} more`));
  if (e.changed <= 6) return h('ul.diff', lines);
  return h('details', h('summary', `${e.changed} changes`), h('ul.diff', lines));
}
