// objects.js — an object's definition on the Access rules page: its fields
// (add, remove, protected), owner and team fields, and list visibility, saved
// as one `PUT /schema/objects/{object}` through the usual preview. What the
// workspace declares is edited (GET /schema's `declared`); built-in fields of
// a standard object are shown beside it and can be protected, not removed.
// The server's escalation rules apply: unprotecting a field, moving an owner
// or team field or opening an admins-only list is refused unless you hold what
// it would give, and removing a protected field is for account owners.

import { api, enc } from './api.js';
import { h, fill, select } from './dom.js';
import { state, can, commit, route } from './app.js';

const TYPES = ['string', 'number', 'bool', 'datetime', 'user', 'team', 'enum', 'lookup'];

/** A field type as text: `string`, `enum(a, b)`, `lookup(customers)`, `list(string)`. */
export function typeText(t) {
  if (typeof t === 'string') return t;
  const [k, v] = Object.entries(t || {})[0] || ['?', ''];
  return `${k}(${Array.isArray(v) ? v.join(', ') : typeText(v)})`;
}

const isType = (f, name) => f && f.type === name;
const draftKey = (object) => `object:${object}`;

/** The editor of `object`, drawn into a fresh element. */
export function objectEditor(object) {
  const box = h('div.object-editor');
  const saved = state.declared.objects?.[object];
  const draft = state.drafts.get(draftKey(object));
  const def = draft ? draft.def : structuredClone(saved || { actions: [], fields: {} });
  def.fields ||= {};
  draw(box, object, def, Boolean(draft));
  return box;
}

function draw(box, object, def, dirty) {
  const merged = state.schema.objects[object] || { fields: {} };
  const allowed = can('klasses_update');
  const out = h('div.refusal-slot');
  const redraw = () => { state.drafts.set(draftKey(object), { def }); draw(box, object, def, true); };
  // The fields as they will be: the built-in ones, overlaid by what is declared.
  const fields = { ...merged.fields };
  for (const f of Object.keys(merged.fields)) if (!(f in def.fields) && state.declared.objects?.[object]?.fields?.[f]) delete fields[f];
  Object.assign(fields, def.fields);
  const declaredHere = (f) => f in def.fields;
  const builtIn = (f) => f in merged.fields && !state.declared.objects?.[object]?.fields?.[f];

  const rows = Object.entries(fields).map(([name, f]) => {
    const prot = h('input', { type: 'checkbox', checked: f.protected, disabled: !allowed, 'aria-label': `${object}.${name} protected` });
    prot.addEventListener('change', () => {
      def.fields[name] = { ...(def.fields[name] || merged.fields[name]), protected: prot.checked };
      redraw();
    });
    const remove = h('button', { type: 'button', disabled: !allowed || !declaredHere(name) || builtIn(name),
      'aria-label': `Remove field ${object}.${name}`,
      title: builtIn(name) ? 'built-in fields stay' : null,
      onclick: () => { delete def.fields[name]; redraw(); } }, 'Remove');
    return h('tr', h('th', { scope: 'row' }, name), h('td', typeText(f.type)),
      h('td', builtIn(name) && !declaredHere(name) ? 'built in' : 'declared'),
      h('td', h('label.row', prot, ' protected')), h('td', remove));
  });

  const ofType = (ty) => Object.entries(fields).filter(([, f]) => isType(f, ty)).map(([n]) => n);
  const owner = select({ 'aria-label': `${object} owner field`, disabled: !allowed },
    [['', '— not set here —'], ...ofType('user')], def.owner_field || '');
  owner.addEventListener('change', () => { def.owner_field = owner.value || null; redraw(); });
  const team = select({ 'aria-label': `${object} team field`, disabled: !allowed },
    [['', '— not set here —'], ...ofType('team')], def.team_field || '');
  team.addEventListener('change', () => { def.team_field = team.value || null; redraw(); });
  const vis = select({ 'aria-label': `${object} list visibility`, disabled: !allowed },
    [['', '— not set here (everyone) —'], ['everyone', 'everyone'], ['admins', 'admins only']], def.list_visibility || '');
  vis.addEventListener('change', () => { def.list_visibility = vis.value || null; redraw(); });

  const save = h('button.primary', { type: 'button', disabled: !allowed || !dirty, 'data-save-object': object, onclick: async () => {
    const body = clean(def);
    const done = await commit({ op: 'put_object', object, def: body },
      (reason) => api(`schema/objects/${enc(object)}`, { method: 'PUT', body, reason }), out);
    if (done) { state.drafts.delete(draftKey(object)); await route(); }
  } }, 'Save object…');
  const discard = h('button', { type: 'button', disabled: !dirty, onclick: () => { state.drafts.delete(draftKey(object)); route(); } }, 'Discard');

  fill(box,
    h('div.row', h('h3', 'Fields'), dirty ? h('span.badge.draft', 'unsaved changes') : null),
    allowed ? null : h('p.small.muted', 'You do not hold klasses_update: the definition is read-only for you.'),
    h('table.compact.object-fields', h('thead', h('tr', ['field', 'type', 'from', 'protected', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', rows)),
    addFieldRow(object, def, allowed, fields, redraw),
    h('div.row', h('label', 'Owner field ', owner), h('label', 'Team field ', team), h('label', 'List ', vis)),
    h('div.row.actions', save, discard),
    out);
}

function addFieldRow(object, def, allowed, fields, redraw) {
  const name = h('input', { 'aria-label': `New field name on ${object}`, placeholder: 'field_name', size: 14, disabled: !allowed });
  const type = select({ 'aria-label': `New field type on ${object}`, disabled: !allowed }, TYPES, 'string');
  const values = h('input', { 'aria-label': `New field values or target on ${object}`, placeholder: 'enum: a, b · lookup: object', size: 18, disabled: !allowed });
  const prot = h('input', { type: 'checkbox', 'aria-label': `New field on ${object} protected`, disabled: !allowed });
  const error = h('span.small.error', { role: 'status' });
  const add = h('button', { type: 'button', disabled: !allowed, onclick: () => {
    const n = name.value.trim();
    // Names and types are the server's to judge at the preview; this only
    // catches what would make the draft meaningless.
    if (!/^[a-z][a-z0-9_]*$/.test(n)) { error.textContent = 'a field name is lowercase letters, digits and _'; return; }
    if (fields[n]) { error.textContent = `${object}.${n} exists`; return; }
    let ty = type.value;
    if (ty === 'enum') ty = { enum: values.value.split(',').map((v) => v.trim()).filter(Boolean) };
    else if (ty === 'lookup') ty = { lookup: values.value.trim() };
    def.fields[n] = { type: ty, protected: prot.checked, indexed: false };
    redraw();
  } }, 'Add field');
  return h('div.row', h('label', 'New field ', name), type, values, h('label.row', prot, ' protected'), add, error);
}

/** The definition as the API takes it (unset choices left out). */
function clean(def) {
  const out = { actions: def.actions || [], fields: def.fields };
  for (const k of ['owner_field', 'team_field', 'list_visibility']) if (def[k]) out[k] = def[k];
  return out;
}
