// dom.js — building DOM from nodes, never from HTML strings: every server string goes through textContent.

/** h('div.card#x', {attrs}, ...children): an element; strings become text nodes. */
export function h(spec, attrs, ...children) {
  const [tagAndClasses, id] = spec.split('#');
  const [tag, ...classes] = tagAndClasses.split('.');
  const el = document.createElement(tag || 'div');
  if (id) el.id = id;
  if (classes.length) el.className = classes.join(' ');
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A <select> of options ([value, label] or value). */
export function select(attrs, options, current) {
  const el = h('select', attrs);
  for (const o of options) {
    const [value, label] = Array.isArray(o) ? o : [o, o];
    const opt = h('option', { value }, label);
    if (value === current) opt.selected = true;
    el.append(opt);
  }
  return el;
}

/** A filterable, client-side paginated list. render(item) -> element; match(item, q) -> bool. */
export function pagedList({ items, render, match, pageSize = 50, label, extra }) {
  let page = 0;
  const input = h('input', { type: 'search', placeholder: 'Filter…', 'aria-label': `Filter ${label}` });
  const list = h('ul.list', { 'aria-label': label });
  const status = h('span.muted');
  const prev = h('button', { type: 'button', onclick: () => { page--; draw(); } }, '‹ Prev');
  const next = h('button', { type: 'button', onclick: () => { page++; draw(); } }, 'Next ›');
  function draw() {
    const q = input.value.trim().toLowerCase();
    const shown = items.filter((it) => !q || match(it, q));
    const pages = Math.max(1, Math.ceil(shown.length / pageSize));
    page = Math.min(Math.max(page, 0), pages - 1);
    fill(list, shown.slice(page * pageSize, (page + 1) * pageSize).map((it) => h('li', render(it))));
    status.textContent = `${shown.length} of ${items.length} · page ${page + 1}/${pages}`;
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
  }
  input.addEventListener('input', () => { page = 0; draw(); });
  draw();
  return h('div.paged', h('div.row', input, extra || null), list, h('div.row.pager', prev, status, next));
}

/**
 * A list paged and filtered by the server: `fetchPage(q, after)` resolves to
 * {items, next, matched, total}; typing filters (debounced, the newest answer
 * wins), Prev/Next walk the keyset pages. render(item) -> element.
 */
export function serverList({ fetchPage, render, label, extra, delay = 150 }) {
  const input = h('input', { type: 'search', placeholder: 'Filter…', 'aria-label': `Filter ${label}` });
  const list = h('ul.list', { 'aria-label': label, 'aria-busy': 'true' });
  const status = h('span.muted', { role: 'status' });
  const afters = [null];
  let page = 0;
  let asked = 0;
  let timer = null;
  let nextKey = null;
  const prev = h('button', { type: 'button', disabled: true, onclick: () => { page--; load(); } }, '‹ Prev');
  const next = h('button', { type: 'button', disabled: true, onclick: () => { afters[page + 1] = nextKey; page++; load(); } }, 'Next ›');
  async function load() {
    const mine = ++asked;
    list.setAttribute('aria-busy', 'true');
    let got;
    try {
      got = await fetchPage(input.value.trim(), afters[page]);
    } catch (e) {
      if (mine === asked) fill(list, h('li', refusal(e)));
      return;
    }
    if (mine !== asked) return;
    nextKey = got.next;
    fill(list, got.items.length ? got.items.map((it) => h('li', render(it))) : h('li.muted', 'none match'));
    list.removeAttribute('aria-busy');
    const pages = Math.max(1, Math.ceil(got.matched / (got.pageSize || 50)));
    status.textContent = `${got.matched} of ${got.total} · page ${page + 1}/${pages}`;
    prev.disabled = page === 0;
    next.disabled = !got.next;
  }
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => { page = 0; afters.length = 1; load(); }, delay);
  });
  const ready = load();
  const el = h('div.paged', h('div.row', input, extra || null), list, h('div.row.pager', prev, status, next));
  el.ready = ready;
  return el;
}

/** Formats an API refusal: message, typed reason and excess grants. */
export function refusal(error) {
  const e = error.body?.error || { code: 'error', message: String(error.message || error) };
  const box = h('div.refusal', { role: 'alert' },
    h('strong', `Refused (${error.status || ''} ${e.code})`), h('p', e.message));
  const d = e.details;
  if (d && typeof d === 'object') {
    if (d.code) box.append(h('p', h('span.badge', d.code), ' ', describeReason(d)));
    if (Array.isArray(d.excess) && d.excess.length) {
      box.append(h('table.excess',
        h('caption', 'Grants beyond what you hold'),
        h('thead', h('tr', ['kind', 'permission / field', 'access', 'role', 'beyond'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', d.excess.map((x) => h('tr',
          h('td', x.kind ?? ''), h('td', x.permission ?? x.field ?? x.object ?? ''),
          h('td', fmt(x.access ?? x.level ?? '')), h('td', x.role ?? ''), h('td', x.beyond ?? ''))))));
    } else if (Array.isArray(d)) {
      box.append(h('ul', d.map((f) => h('li', fmt(f)))));
    } else if (!d.code) {
      box.append(h('pre', JSON.stringify(d, null, 2)));
    }
  }
  return box;
}

function describeReason(d) {
  const rest = Object.entries(d).filter(([k]) => k !== 'code' && k !== 'excess');
  return rest.map(([k, v]) => `${k}: ${fmt(v)}`).join(' · ');
}

/** A short text for a grant access or any JSON value. */
export function fmt(v) {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}
