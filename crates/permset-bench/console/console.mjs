// console.mjs — times the admin console's pages in Chromium; run by
// `permset-bench console` (src/command/console.rs), which starts the server
// with a large workspace and passes: BASE, WS, KEY (a user key), ACTOR, RUNS,
// JSON, BROWSER_MODULES (crates/permset-server/tests/browser), CHROMIUM.
//
// Per page and run:
// - cold: a new tab (the session already in its sessionStorage, as after
//   sign-in) opens /admin#page; the time from navigation start to the
//   console's `permset:ready:<page>` mark, set once the page's list is drawn
//   and its controls are live;
// - nav: from the page before, an in-app navigation (hash change): from the
//   `permset:route:<page>` mark to `permset:ready:<page>`;
// - filter: one keystroke's worth of filtering in the page's list, from the
//   input event to the list showing matches (for People's users, filtered by
//   the server, that includes the 150 ms debounce and the page's request).
// The first run of each page is a warm-up and is not counted.

import { createRequire } from 'node:module';
import { join } from 'node:path';

const env = (k) => { const v = process.env[k]; if (v === undefined) throw new Error(`missing env ${k}`); return v; };
const require = createRequire(join(env('BROWSER_MODULES'), 'package.json'));
const { chromium } = require('playwright-core');

const BASE = env('BASE');
const RUNS = Number(env('RUNS'));
const session = JSON.stringify({ ws: env('WS'), key: env('KEY'), actor: env('ACTOR') });
// Each page, the filter that lists it (if any), and a query typed there.
const PAGES = [
  ['roles', 'input[aria-label="Filter permission sets"]', 'custom_9'],
  ['people', 'input[aria-label="Filter users"]', 'u012'],
  ['rules', null, null],
  ['troubleshoot', null, null],
  ['changes', null, null],
];

const browser = await chromium.launch({ executablePath: env('CHROMIUM'), args: ['--no-sandbox'] });
const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
await context.addInitScript((s) => sessionStorage.setItem('permset.console.session', s), session);
const samples = Object.fromEntries(PAGES.map(([p]) => [p, { cold: [], nav: [], filter: [] }]));
const errors = [];

async function readyMark(page, name) {
  await page.waitForSelector(`#page[data-ready="${name}"]`, { timeout: 60_000 });
  return page.evaluate((n) => {
    const ready = performance.getEntriesByName(`permset:ready:${n}`).at(-1);
    const route = performance.getEntriesByName(`permset:route:${n}`).at(-1);
    // Where a cold load's time goes: the API answers (the last one's end, the largest).
    const api = performance.getEntriesByType('resource').filter((e) => e.name.includes('/v1/'));
    const biggest = api.sort((a, b) => b.encodedBodySize - a.encodedBodySize).slice(0, 3)
      .map((e) => `${new URL(e.name).pathname.split('/').slice(4).join('/')} ${(e.encodedBodySize / 1024).toFixed(0)} KiB ${(e.responseEnd - e.requestStart).toFixed(0)} ms`);
    const apiEnd = Math.max(0, ...api.map((e) => e.responseEnd));
    return { ready: ready.startTime, routed: ready.startTime - route.startTime, apiEnd, biggest };
  }, name);
}

try {
  for (let run = 0; run <= RUNS; run++) {
    for (let i = 0; i < PAGES.length; i++) {
      const [name, filter, query] = PAGES[i];
      const page = await context.newPage();
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(`${BASE}/admin#${name}`);
      const cold = await readyMark(page, name);
      // In-app navigation: to the next page and back to this one.
      const other = PAGES[(i + 1) % PAGES.length][0];
      await page.evaluate((o) => { location.hash = `#${o}`; }, other);
      await page.waitForSelector(`#page[data-ready="${other}"]`, { timeout: 60_000 });
      await page.evaluate((n) => { location.hash = `#${n}`; }, name);
      const nav = await readyMark(page, name);
      let filterMs = null;
      if (filter) {
        // From the keystroke to the list showing matches: a list filtered in the
        // page redraws at once; one filtered by the server (People's users)
        // redraws when the page of matches comes, after its 150 ms debounce.
        filterMs = await page.evaluate(([sel, q]) => new Promise((resolve, reject) => {
          const input = document.querySelector(sel);
          const list = input.closest('.paged').querySelector('ul.list');
          // Redrawn: the list changed and is not waiting for the server (aria-busy).
          const t0 = performance.now();
          const watch = new MutationObserver(() => {
            if (!list.hasAttribute('aria-busy')) { watch.disconnect(); resolve(performance.now() - t0); }
          });
          watch.observe(list, { childList: true, subtree: true, attributes: true });
          input.value = q;
          input.dispatchEvent(new Event('input'));
          setTimeout(() => { watch.disconnect(); reject(new Error(`filter ${sel} never showed ${q}`)); }, 30_000);
        }), [filter, query]);
      }
      await page.close();
      if (run === RUNS && !process.env.JSON) {
        console.error(`${name}: cold ${cold.ready.toFixed(0)} ms, API answers done at ${cold.apiEnd.toFixed(0)} ms; largest: ${cold.biggest.join(', ')}`);
      }
      if (run > 0) {
        samples[name].cold.push(cold.ready);
        samples[name].nav.push(nav.routed);
        if (filterMs !== null) samples[name].filter.push(filterMs);
      }
    }
  }
} finally {
  await browser.close();
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const stat = (xs) => (xs.length ? { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length } : null);
const f = (s) => (s ? `${s.median.toFixed(0).padStart(5)} (${s.min.toFixed(0)}–${s.max.toFixed(0)})` : '    —');
if (process.env.JSON) {
  for (const [name, s] of Object.entries(samples)) {
    console.log(JSON.stringify({ page: name, cold_ms: stat(s.cold), nav_ms: stat(s.nav), filter_ms: stat(s.filter) }));
  }
} else {
  console.log(`\nadmin console, ${RUNS} runs per page: median (min–max) in ms; target: interactive within 300 ms`);
  console.log(`${'page'.padEnd(14)}${'cold load'.padEnd(18)}${'in-app nav'.padEnd(18)}filter keystroke`);
  for (const [name, s] of Object.entries(samples)) {
    console.log(`${name.padEnd(14)}${f(stat(s.cold)).padEnd(18)}${f(stat(s.nav)).padEnd(18)}${f(stat(s.filter))}`);
  }
}
if (errors.length) {
  console.error(`page errors: ${errors.join('; ')}`);
  process.exit(1);
}
