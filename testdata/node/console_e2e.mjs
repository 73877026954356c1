// End-to-end test of the moderation console in headless Chromium, driven
// by cmd/palisade's TestConsoleEndToEndInChromium against a running node.
// It acts as a moderator would, through the pages only (clicks and forms,
// no JavaScript of ours), saves a screenshot of every page, and prints one
// JSON line with what it saw. Any unexpected page fails it (exit 1).
//
// Environment: CONSOLE_URL (http://host:port), MOD_LOGIN, PLAIN_LOGIN,
// PASSWORD, BLOCK_DOMAIN, SHADOW_RULE, SHOTS (directory), CHROMIUM.
import { chromium } from 'playwright-core';
import path from 'node:path';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const base = env('CONSOLE_URL');
const shots = env('SHOTS');
const seen = {};
const steps = [];
const t0 = Date.now();

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

async function shot(page, name) {
  const file = path.join(shots, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  steps.push(`${((Date.now() - t0) / 1000).toFixed(1)}s ${name}`);
}

async function signIn(page, login) {
  await page.goto(`${base}/console/sign-in`);
  await page.fill('input[name=login]', login);
  await page.fill('input[name=password]', env('PASSWORD'));
  await Promise.all([page.waitForLoadState('load'), page.click('form button[type=submit]')]);
}

async function flash(page) {
  const f = page.locator('p.flash');
  return (await f.count()) ? (await f.innerText()) : '';
}

const browser = await chromium.launch({
  executablePath: env('CHROMIUM'),
  headless: true,
  // Fewer processes and no background work: the test machine is small.
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-extensions', '--no-first-run',
    '--disable-background-networking', '--disable-features=site-per-process,IsolateOrigins,Translate', '--mute-audio'],
});
try {
  // A non-moderator is refused.
  {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(`${base}/console/sign-in`);
    await shot(page, '00-sign-in');
    const resp = page.waitForResponse((r) => r.url().endsWith('/console/sign-in') && r.request().method() === 'POST');
    await page.fill('input[name=login]', env('PLAIN_LOGIN'));
    await page.fill('input[name=password]', env('PASSWORD'));
    await page.click('form button[type=submit]');
    seen.plainStatus = (await resp).status();
    await page.waitForLoadState('load');
    const text = await page.innerText('main');
    check(text.includes('no moderator or admin role'), `refusal page says why (got: ${text})`);
    await shot(page, '01-non-moderator-refused');
    const r2 = await page.goto(`${base}/console/domains`);
    check(r2.url().includes('/console/sign-in'), 'a refused user has no session');
    await ctx.close();
  }

  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  await signIn(page, env('MOD_LOGIN'));
  check(page.url() === `${base}/console/`, `signed in lands on the overview (at ${page.url()})`);
  check((await page.innerText('h1')) === 'Overview', 'overview heading');
  check(await page.locator('svg.chart').count() > 0, 'the overview draws charts');
  await shot(page, '02-overview');

  // Block a domain: the impact preview comes first, then Apply.
  const domain = env('BLOCK_DOMAIN');
  await page.click('nav a[href="/console/domains"]');
  await page.fill('#edit input[name=domain]', domain);
  await page.selectOption('#edit select[name=severity]', 'suspend');
  await page.fill('#edit input[name=public_comment]', 'spam wave (e2e)');
  await Promise.all([page.waitForLoadState('load'), page.click('#edit button[type=submit]')]);
  check((await page.innerText('h1')).startsWith('Preview'), 'a preview before applying');
  check((await page.innerText('pre.preview')).includes(domain), 'the preview names the domain');
  await shot(page, '03-domain-impact-preview');
  await Promise.all([page.waitForLoadState('load'), page.click('text=Apply')]);
  seen.blockFlash = await flash(page);
  check(seen.blockFlash.includes(`${domain} is now suspend`), `block applied (flash: ${seen.blockFlash})`);
  await page.goto(`${base}/console/domains`);
  check((await page.innerText('table')).includes(domain), 'the domain is listed');
  await shot(page, '04-domains');

  // Flip a rule to shadow mode.
  const rule = env('SHADOW_RULE');
  await page.click('nav a[href="/console/rules"]');
  const row = page.locator(`tr[id="rule-${rule}"]`);
  check(await row.count() === 1, `rule ${rule} is listed`);
  check((await row.innerText()).includes('enforce'), 'the rule starts enforced');
  await Promise.all([page.waitForLoadState('load'), row.locator('button[value=on]').click()]);
  seen.shadowFlash = await flash(page);
  check(seen.shadowFlash.includes('shadow mode'), `shadow flash (${seen.shadowFlash})`);
  check((await page.locator(`tr[id="rule-${rule}"]`).innerText()).includes('shadow'), 'the rule shows shadow');
  await shot(page, '05-rules');

  // Rule test against a pasted activity.
  await page.goto(`${base}/console/rules/test?rule=${encodeURIComponent(rule)}`);
  await page.fill('textarea[name=activity]', JSON.stringify({
    '@context': 'https://www.w3.org/ns/activitystreams', id: 'https://t.example/a/1', type: 'Create',
    actor: 'https://t.example/users/x',
    object: { id: 'https://t.example/n/1', type: 'Note', content: '<p>buy cheap pills</p>' },
  }));
  await Promise.all([page.waitForLoadState('load'), page.click('main form button[type=submit]')]);
  seen.ruleTest = await page.innerText('p.verdict');
  await shot(page, '06-rule-test');

  // Release the held post.
  await page.click('nav a[href="/console/quarantine"]');
  const held = page.locator('div.held');
  seen.held = await held.count();
  check(seen.held >= 1, 'a post is held');
  seen.heldText = await held.first().locator('.content').innerText();
  await shot(page, '07-quarantine');
  await Promise.all([page.waitForLoadState('load'), held.first().locator('button[value^="release:"]').click()]);
  seen.releaseFlash = await flash(page);
  check(seen.releaseFlash.startsWith('Released 1'), `release flash (${seen.releaseFlash})`);

  // Resolve a report (assigned first).
  await page.click('nav a[href="/console/reports"]');
  const rep = page.locator('section.report').first();
  check(await rep.count() === 1, 'a report is open');
  seen.reportText = await rep.innerText();
  await shot(page, '08-reports');
  await Promise.all([page.waitForLoadState('load'), rep.locator('button[value=assign]').click()]);
  check((await flash(page)).includes('assigned to you'), 'assigned');
  await Promise.all([page.waitForLoadState('load'), page.locator('section.report').first().locator('button[value=resolve]').click()]);
  seen.resolveFlash = await flash(page);
  check(seen.resolveFlash.startsWith('Resolved report'), `resolve flash (${seen.resolveFlash})`);

  await page.click('nav a[href="/console/decisions"]');
  seen.decisions = await page.locator('table.decisions tbody tr').count();
  await shot(page, '09-decisions');
  const explain = page.locator('table.decisions a[href^="/console/decisions/explain"]').first();
  if (await explain.count()) {
    await Promise.all([page.waitForLoadState('load'), explain.click()]);
    check((await page.innerText('h1')) === 'Decision', `the explain link opens the decision (${await page.innerText('main')})`);
    await shot(page, '10-decision-explained');
  }
  await page.click('nav a[href="/console/relay"]');
  await shot(page, '11-relay');
  await page.click('nav a[href="/console/audit"]');
  seen.audit = await page.innerText('table');
  check(seen.audit.includes('console:'), 'the audit log names the moderator');
  await shot(page, '12-audit');

  // Usable on a phone: the menu folds behind a toggle, pages fit.
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true,
    storageState: await ctx.storageState() });
  const p2 = await phone.newPage();
  await p2.goto(`${base}/console/`);
  check(!(await p2.locator('nav.menu').isVisible()), 'the menu is folded on a phone');
  await p2.click('label.menu-button');
  check(await p2.locator('nav.menu').isVisible(), 'the menu opens');
  const overflow = await p2.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  seen.phoneOverflow = overflow;
  check(overflow <= 1, `the overview fits a phone's width (overflows by ${overflow}px)`);
  await shot(p2, '13-phone-overview');
  await p2.goto(`${base}/console/quarantine`);
  await shot(p2, '14-phone-quarantine');
  await phone.close();

  check(pageErrors.length === 0, `no script errors (${pageErrors.join('; ')})`);

  // Sign out.
  await Promise.all([page.waitForLoadState('load'), page.click('form.signout button')]);
  check(page.url().includes('/console/sign-in'), 'signed out');
  console.log(JSON.stringify({ ok: true, seen, steps }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, error: String(e && e.stack || e), seen, steps }));
  process.exitCode = 1;
} finally {
  await browser.close();
}
