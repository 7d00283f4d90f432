// console.mjs — the admin console's scenario in a real Chromium (Playwright).
// Run by tests/console.rs against a real server; every step throws on failure.
// Env: BASE, WS, OWNER_KEY (user key of olivia), ADMIN_KEY (user key of adam,
// an Administrator), RECORD (a VIP customer not owned by rita), SHOTS (dir), CHROMIUM.

import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(`missing env ${k}`); return v; };
const BASE = env('BASE'); const WS = env('WS'); const SHOTS = env('SHOTS'); const RECORD = env('RECORD');
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

let n = 0;
async function step(name, fn) {
  n++;
  try { await fn(); console.log(`ok ${n} - ${name}`); } catch (e) { console.log(`not ok ${n} - ${name}\n  ${String(e.stack || e).split('\n').join('\n  ')}`); throw e; }
}
const expect = (cond, what) => { if (!cond) throw new Error(`expected: ${what}`); };

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
const page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
const consoleErrors = [];
page.on('pageerror', (e) => consoleErrors.push(String(e)));
const seriousViolations = [];

async function axe(label) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  for (const v of result.violations) {
    if (v.impact === 'serious' || v.impact === 'critical') seriousViolations.push(`${label}: ${v.id} (${v.impact}) ${v.help} — ${v.nodes.slice(0, 3).map((x) => x.target.join(' ')).join(', ')}`);
  }
}
// A save's toast fades after 4 s; the guide's pictures show the page, not the last toast.
const shot = async (name) => {
  await page.evaluate(() => document.querySelectorAll('.toast').forEach((t) => t.remove()));
  await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: false });
};

async function signIn(key, actor) {
  await page.goto(`${BASE}/admin`);
  await page.fill('input[name=ws]', WS);
  await page.fill('input[name=key]', key);
  await page.fill('input[name=actor]', actor);
  await page.click('#signin button[type=submit]');
  await page.waitForSelector('#nav:not([hidden])');
}

async function confirm(reason) {
  await page.waitForSelector('dialog[open] #confirm-change');
  if (reason) await page.fill('dialog[open] input[name=reason]', reason);
  await page.click('dialog[open] #confirm-change');
  await page.waitForSelector('dialog[open]', { state: 'detached' }).catch(() => {});
  await page.waitForFunction(() => !document.querySelector('dialog').open);
}

async function explain(user, permission) {
  await page.goto(`${BASE}/admin#troubleshoot`);
  await page.waitForSelector('#ts-user');
  await page.fill('#ts-user', user);
  await page.fill('#ts-permission', permission);
  await page.selectOption('#ts-object', 'customers');
  await page.fill('#ts-record', RECORD);
  await page.click('#ts-go');
  await page.waitForSelector('#ts-decision');
  return page.textContent('#ts-decision');
}

try {
  await step('the key stays out of the URL and sign-in works', async () => {
    await signIn(env('OWNER_KEY'), 'olivia');
    expect(!page.url().includes('psk_'), 'no key in the URL');
    expect((await page.textContent('#who')).includes('account owner'), 'olivia shown as account owner');
  });
  await step('server text is shown as text, never run as markup', async () => {
    await page.goto(`${BASE}/admin#roles/hostile_markup`);
    await page.waitForSelector('#role-description');
    expect((await page.inputValue('#role-description')).includes('<img src=x'), 'description shown literally');
    await page.goto(`${BASE}/admin#roles`);
    await page.fill('input[aria-label="Filter permission sets"]', 'hostile');
    await page.waitForSelector('a[href="#roles/hostile_markup"]');
    expect(await page.evaluate(() => window.__pwned === undefined && !document.querySelector('img')), 'no injected element ran');
  });
  await step('system roles are marked and locked', async () => {
    await page.goto(`${BASE}/admin#roles/support_agent`);
    await page.waitForSelector('#save-role');
    expect(await page.isDisabled('#save-role'), 'save disabled on a system role');
    expect(await page.isDisabled('select[data-perm=customers_update]'), 'cells locked on a system role');
    await shot('permission-sets');
    await axe('permission sets');
  });
  await step('a permission set shows who holds it directly and through which teams, and where team roles do not count', async () => {
    await page.goto(`${BASE}/admin#roles/support_agent`);
    await page.waitForSelector('.team-holders');
    const holders = await page.textContent('.team-holders');
    expect(holders.includes('tier1') && holders.includes('lena') && holders.includes('gina'), `tier1's members: ${holders}`);
    expect(/nina \(does not count: no teams_view\)/.test(holders), `nina gated: ${holders}`);
    await page.fill('input[aria-label="Filter permission sets"]', 'support_agent');
    const line = await page.textContent('a[href="#roles/support_agent"] .holders-line');
    expect(line.includes('teams: tier1 (3)'), `list line names the team and its size: ${line}`);
  });
  await step('troubleshoot before, by search: rita may not update the VIP customer, and the near misses say why', async () => {
    await page.goto(`${BASE}/admin#troubleshoot`);
    await page.waitForSelector('#ts-user');
    await page.fill('#ts-user', 'rita');
    await page.fill('#ts-permission', 'customers_update');
    await page.selectOption('#ts-object', 'customers');
    await page.fill('#ts-search', 'Vera');
    await page.click(`#ts-found button[data-record="${RECORD}"]`);
    expect(await page.inputValue('#ts-record') === RECORD, 'the picked record fills the id');
    await page.click('#ts-go');
    await page.waitForSelector('#ts-decision');
    const text = await page.textContent('#ts-decision');
    expect(text.startsWith('DENY'), `deny, got ${text}`);
    const misses = await page.textContent('#ts-near-misses');
    expect(misses.includes('not assigned') && misses.includes('support_agent'), `near misses: ${misses}`);
    await shot('troubleshoot-deny');
  });
  await step('clone support_agent with a preview', async () => {
    await page.goto(`${BASE}/admin#roles/support_agent`);
    await page.waitForSelector('#clone-role:not([disabled])');
    await page.fill('#clone-name', 'vip_desk_agent');
    await page.click('#clone-role');
    await page.waitForSelector('dialog[open] ul.plan li');
    await confirm('a support agent for the VIP desk');
    await page.waitForFunction(() => location.hash === '#roles/vip_desk_agent');
    await page.waitForSelector('#save-role:not([disabled])');
  });
  await step('set customers_update to a rule and save with a reason', async () => {
    await page.selectOption('select[data-perm=customers_update]', 'rule');
    await page.selectOption('select[aria-label="customers_update rule"]', 'premium');
    // a custom action takes the same choices as a standard one
    await page.selectOption('select[data-perm=customers_merge]', 'rule');
    await page.selectOption('select[aria-label="customers_merge rule"]', 'premium');
    // a module without records offers only what the API takes: none or all
    const moduleChoices = await page.$$eval('select[data-perm=wallet_refill] option', (os) => os.map((o) => o.value));
    expect(moduleChoices.join() === 'none,all', `wallet_refill offers none/all, got ${moduleChoices}`);
    expect(await page.isVisible('.badge.draft:not([hidden])'), 'unsaved changes shown');
    // the draft survives leaving the page
    await page.goto(`${BASE}/admin#people`);
    await page.goto(`${BASE}/admin#roles/vip_desk_agent`);
    await page.waitForSelector('#save-role');
    expect(await page.inputValue('select[data-perm=customers_update]') === 'rule', 'draft kept');
    await page.click('#save-role');
    await page.waitForSelector('dialog[open] ul.plan li');
    const plan = await page.textContent('dialog[open] ul.plan');
    expect(plan.includes('customers_update'), `plan names customers_update: ${plan}`);
    await shot('save-preview');
    await axe('save preview');
    await confirm('VIP desk updates premium customers only');
    // saved: the editor is drawn again from the server, with no draft left
    await page.waitForFunction(() => ![...document.querySelectorAll('.badge.draft')].some((b) => !b.hidden));
    expect(await page.inputValue('select[data-perm=customers_update]') === 'rule', 'the saved role has the rule');
  });
  await step('assign the role to rita with an expiry', async () => {
    await page.goto(`${BASE}/admin#people/user/rita`);
    await page.waitForSelector('#assign-role');
    await page.selectOption('#assign-role', 'vip_desk_agent');
    await page.fill('#assign-expiry', '2030-06-30T18:00');
    await page.click('#assign');
    await page.waitForSelector('dialog[open] ul.plan li');
    await confirm('covering the VIP desk until mid 2030');
    await page.waitForSelector('.editor a[href="#roles/vip_desk_agent"]');
    expect((await page.textContent('.editor table')).includes('2030-06-30'), 'expiry shown');
    await shot('people');
    await axe('people');
  });
  await step('People shows the teams_view gate, and a direct role with teams_view lifts it', async () => {
    await page.goto(`${BASE}/admin#people/user/nina`);
    await page.waitForSelector('#teams-view-gate');
    const notice = await page.textContent('#teams-view-gate');
    expect(notice.includes('do not count for nina') && notice.includes('teams_view'), `gate notice: ${notice}`);
    expect((await page.textContent('.editor')).includes('does not count'), 'the team role marked');
    await shot('people-teams-view');
    await axe('people, teams_view gate');
    await page.selectOption('#assign-role', 'light_agent');
    await page.click('#assign');
    await page.waitForSelector('dialog[open] ul.plan li');
    await confirm('nina works tier1 conversations');
    await page.waitForSelector('.editor a[href="#roles/light_agent"]');
    expect(!(await page.$('#teams-view-gate')), 'the gate notice is gone');
    expect((await page.textContent('.editor')).includes('Team roles count for nina'), 'says why they count now');
  });
  await step('troubleshoot after: the decision changed', async () => {
    const text = await explain('rita', 'customers_update');
    expect(text.startsWith('ALLOW'), `allow, got ${text}`);
    expect((await page.textContent('#ts-result')).includes('vip_desk_agent'), 'path names the new role');
    await shot('troubleshoot');
    await axe('troubleshoot');
  });
  await step('demoting the last account owner is refused with the reason', async () => {
    await page.goto(`${BASE}/admin#people/user/olivia`);
    await page.waitForSelector('#owner-toggle');
    await page.click('#owner-toggle');
    await page.waitForSelector('.refusal');
    const text = await page.textContent('.refusal');
    expect(text.includes('last_owner') && text.includes('no account owner'), `last_owner refusal: ${text}`);
    expect(await page.isChecked('#owner-toggle'), 'still checked');
    await shot('last-owner-refused');
  });
  await step('an access rule is validated as you type', async () => {
    await page.goto(`${BASE}/admin#rules`);
    const input = page.locator('input[aria-label="New rule name on customers"]');
    await input.fill('bad_rule');
    await page.locator('input[aria-label="Condition of customers.new rule"]').fill('tier == ');
    await page.waitForFunction(() => [...document.querySelectorAll('.validity.bad')].some((e) => e.textContent.includes('column')));
    // The roles using a rule come from the role summaries (no grants loaded): the role saved above uses premium.
    const premium = await page.textContent('section.card:has(h2:text-is("customers")) .rule:has(strong:text-is("premium"))');
    expect(/used by [^\n]*vip_desk_agent/.test(premium), `premium used by vip_desk_agent: ${premium}`);
    await shot('access-rules');
    await axe('access rules');
  });
  await step("an object's definition: add a protected field through the preview", async () => {
    await page.goto(`${BASE}/admin#rules`);
    const card = page.locator('section.card:has(h2:text-is("customers"))');
    await card.locator('details.object-def summary').click();
    await card.locator('input[aria-label="New field name on customers"]').fill('loyalty_id');
    await card.locator('input[aria-label="New field on customers protected"]').check();
    await card.locator('button:text-is("Add field")').click();
    await card.locator('.badge.draft').waitFor();
    await shot('object-fields');
    await axe('object fields');
    await card.locator('[data-save-object=customers]').click();
    await page.waitForSelector('dialog[open] ul.plan li');
    const plan = await page.textContent('dialog[open] ul.plan');
    expect(plan.includes('loyalty_id'), `plan names the field: ${plan}`);
    await confirm('loyalty ids are personal data');
    await page.waitForFunction(() => [...document.querySelectorAll('section.card')].some((c) => c.querySelector('h2')?.textContent === 'customers'
      && c.textContent.includes('protected: loyalty_id, ssn')));
  });
  await step('+ New object: a custom object with fields, a protected field, an owner field and admins-only lists', async () => {
    await page.goto(`${BASE}/admin#rules`);
    await page.click('#new-object');
    await page.fill('#new-object-name', 'returns');
    await page.fill('#new-object-actions', 'approve');
    await page.press('#new-object-name', 'Enter');
    const card = page.locator('section[data-new-object="returns"]');
    await card.waitFor();
    const addField = async (name, type, values, protect) => {
      await card.locator('input[aria-label="New field name on returns"]').fill(name);
      await card.locator('select[aria-label="New field type on returns"]').selectOption(type);
      await card.locator('input[aria-label="New field values or target on returns"]').fill(values);
      if (protect) await card.locator('input[aria-label="New field on returns protected"]').check();
      else await card.locator('input[aria-label="New field on returns protected"]').uncheck();
      await card.locator('button:text-is("Add field")').click();
      await card.locator(`table.object-fields th:text-is("${name}")`).waitFor();
    };
    await addField('customer', 'lookup', 'customers', false);
    await addField('handled_by', 'user', '', false);
    await addField('refund_iban', 'string', '', true);
    await card.locator('select[aria-label="returns owner field"]').selectOption('handled_by');
    await card.locator('select[aria-label="returns list visibility"]').selectOption('admins');
    await shot('new-object');
    await axe('new object');
    await card.locator('[data-save-object=returns]').click();
    await page.waitForSelector('dialog[open] ul.plan li');
    const plan = await page.textContent('dialog[open] ul.plan');
    expect(plan.includes('returns'), `plan names the object: ${plan}`);
    await confirm('returns are tracked per agent');
    // Saved: it is listed like any object, with its rules section, and the draft is gone.
    await page.waitForFunction(() => [...document.querySelectorAll('section.card:not(.new-object)')].some((c) => c.querySelector('h2')?.textContent === 'returns'
      && c.textContent.includes('owner field: handled_by') && c.textContent.includes('protected: refund_iban')));
    expect(!(await page.$('section[data-new-object="returns"]')), 'no draft card left');
  });
  await step('the audit page shows the entries and a verified chain', async () => {
    await page.goto(`${BASE}/admin#changes`);
    await page.waitForSelector('#chain-status.ok');
    expect((await page.textContent('#chain-status')).startsWith('Chain verified'), 'verified');
    const log = await page.textContent('table.audit');
    expect(log.includes('VIP desk updates premium customers only') && log.includes('covering the VIP desk'), 'reasons in the log');
    // What changed comes from the server's summary (no models on the page): the rule save's path.
    expect(/vip_desk_agent\.grants\.customers_update/.test(log), `the save's diff in the log: ${log.slice(0, 400)}`);
    await shot('changes');
    await axe('changes');
  });
  await step('an Administrator without roles_manage sees editing disabled, and a forced save is refused', async () => {
    await page.click('#signout');
    await signIn(env('ADMIN_KEY'), 'adam');
    await page.goto(`${BASE}/admin#roles/set_a`);
    await page.waitForSelector('#save-role');
    expect(await page.isDisabled('#save-role'), 'save disabled');
    expect(await page.isDisabled('select[data-perm=customers_delete]'), 'cells disabled');
    expect(await page.isDisabled('#clone-role'), 'clone disabled');
    await page.evaluate(() => document.querySelectorAll('[disabled]').forEach((e) => e.removeAttribute('disabled')));
    await page.selectOption('select[data-perm=customers_delete]', 'all');
    await page.click('#save-role');
    await page.waitForSelector('.refusal');
    const text = await page.textContent('.refusal');
    expect(text.includes('403') && text.includes('roles_manage'), `403 naming roles_manage: ${text}`);
    await shot('administrator-refused');
  });
  await step("an Administrator's removal of a protected field is refused with the excess named", async () => {
    await page.goto(`${BASE}/admin#rules`);
    const card = page.locator('section.card:has(h2:text-is("customers"))');
    await card.locator('details.object-def summary').click();
    await card.locator('button[aria-label="Remove field customers.ssn"]').click();
    await card.locator('[data-save-object=customers]').click();
    await card.locator('.refusal').waitFor();
    const text = await card.locator('.refusal').textContent();
    expect(text.includes('403') && text.includes('customers.ssn'), `refusal naming customers.ssn: ${text}`);
    await shot('object-refused');
  });
  expect(consoleErrors.length === 0, `no page errors: ${consoleErrors.join('; ')}`);
  await step('axe-core: no serious violations', async () => {
    expect(seriousViolations.length === 0, `none, got:\n  ${seriousViolations.join('\n  ')}`);
  });
} finally {
  await browser.close();
}
console.log(`1..${n}`);
