// A bed manager approves a bed plan in the browser, signing with their password; the
// workflow goes on (the plan is published) and the audit entry appears; an auditor
// verifies the chain, searches it and exports it as CSV and JSON.
//
// Run by the e2e test `browser` (tests/e2e/browser.rs) against a real `careflow serve`,
// in Debian's chromium driven by playwright-core. Exit code 0 when every check held;
// otherwise 1 with the failed check on stderr. Screenshots go to $SHOTS_DIR.
//
// Environment: CAREFLOW_URL, TASK_ID, PLAN_ID, BED_MANAGER, AUDITOR, PASSWORD,
// SHOTS_DIR, CHROMIUM (default /usr/bin/chromium).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { base, check, env, logIn, password, run, shots, submit, watch } from './lib.mjs';

const taskId = env('TASK_ID');
const planId = env('PLAN_ID');
const bedManager = env('BED_MANAGER');
const auditor = env('AUDITOR');
const reason = 'Moves and reserve agreed at the 8am bed meeting <script>document.title="owned"</script>';

async function bedManagerApproves(browser) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const problems = watch(page);
  await logIn(page, bedManager);
  check(new URL(page.url()).pathname === '/inbox', 'the bed manager lands on the approval inbox');
  const link = page.locator(`a[href="/inbox/${taskId}"]`);
  check((await link.count()) === 1, 'the bed-plan task is in the inbox');
  check((await page.locator('nav a[href="/audit"]').count()) === 0, 'the bed manager has no audit menu entry');
  await page.screenshot({ path: join(shots, 'inbox.png'), fullPage: true });

  await link.click();
  await page.waitForURL(`${base}/inbox/${taskId}`);
  check((await page.locator('ul.kpis li').count()) >= 5, 'the proposal\'s KPIs are shown');
  check((await page.locator('svg polygon.band').count()) === 1, 'the forecast is drawn as a p10-p90 fan');
  const steps = await page.locator('main').innerText();
  check(steps.includes('ed-arrivals'), 'the model behind the forecast is named');
  check(steps.includes(planId), 'the plan id is shown');
  check((await page.locator('#meaning').innerText()).includes('I approve what I signed'), 'the page states the meaning of the signature');

  await submit(page, 'Claim this task');
  check((await page.locator('#claimed-by').innerText()) === bedManager, 'the task is claimed by the bed manager');

  // A wrong password signs nothing and says how many attempts are left.
  await page.fill('#reason', reason);
  await page.fill('#password', 'not the password');
  await submit(page, 'Approve and sign');
  const refused = await page.locator('.notice.error').innerText();
  check(refused.includes('Not signed') && refused.includes('attempts left'), `a wrong password is refused (${refused})`);
  check((await page.locator('#task-status').innerText()) === 'claimed', 'nothing was decided with the wrong password');

  await page.fill('#reason', reason);
  await page.fill('#password', password);
  await submit(page, 'Approve and sign');
  const done = await page.locator('.notice.ok').innerText();
  check(done.includes(`Approved and signed by ${bedManager}`), `the approval is confirmed (${done})`);

  // The workflow goes on: the decision lands in the history, and the plan is published.
  let history = '';
  for (let i = 0; i < 120; i++) {
    await page.goto(`${base}/inbox/${taskId}`);
    history = await page.locator('#history').innerText();
    if (history.includes('task.approved') && history.includes('bed_plan.published')) break;
    await page.waitForTimeout(500);
  }
  check(history.includes('task.approved'), 'the approval is in the workflow\'s audit history');
  check(history.includes('<script>document.title="owned"</script>'), 'the reason is shown as typed, as text');
  check((await page.title()).indexOf('owned') === -1, 'the script in the reason did not run');
  await page.screenshot({ path: join(shots, 'task-approved.png'), fullPage: true });

  await page.goto(`${base}/dashboard`);
  const dash = await page.locator('main').innerText();
  check(dash.includes(`bed plan ${planId} (published)`), 'the dashboard forecast comes from the now published plan');
  check((await page.locator('svg polygon.band').count()) === 1, 'the dashboard draws the occupancy fan chart');
  await page.screenshot({ path: join(shots, 'dashboard.png'), fullPage: true });

  // Pages of other roles are refused.
  const audit = await page.goto(`${base}/audit`);
  check(audit.status() === 403, 'the bed manager may not open the audit viewer');

  await page.goto(`${base}/inbox`);
  await submit(page, 'Log out');
  check(page.url() === `${base}/login`, 'logging out leads to the login page');
  await page.goto(`${base}/inbox`);
  check(page.url() === `${base}/login`, 'after logout the inbox needs a new login');
  check(problems.length === 0, `the bed manager's pages were careflow's own (${problems.join('; ')})`);
  await context.close();
}

async function auditorVerifiesAndExports(browser) {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const problems = watch(page);
  await logIn(page, auditor);
  check(new URL(page.url()).pathname === '/audit', 'the auditor lands on the audit viewer');
  check((await page.locator('#chain-status').innerText()).startsWith('Intact'), 'the chain verifies');

  await page.fill('#actor', bedManager);
  await page.fill('#workflow', planId);
  await submit(page, 'Search');
  const rows = await page.locator('#entries tbody').innerText();
  check(rows.includes('task.approved') && rows.includes('Moves and reserve agreed'), 'the search finds the bed manager\'s approval');
  check(!rows.includes('user.logged_in'), 'the workflow filter leaves out entries of other workflows');
  await page.screenshot({ path: join(shots, 'audit.png'), fullPage: true });

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-csv')]);
  const csv = readFileSync(await download.path(), 'utf8');
  check(csv.startsWith('seq,recorded_at,actor,role,action,meaning,reason'), 'the CSV export has its header');
  check(csv.includes('task.approved') && csv.includes(bedManager), 'the CSV export holds the approval');

  const json = await page.request.get(await page.locator('#export-json').getAttribute('href').then((h) => `${base}${h}`));
  check(json.ok(), 'the JSON export answers');
  const entries = await json.json();
  const approved = entries.find((e) => e.action === 'task.approved');
  check(approved && approved.actor === bedManager && approved.meaning, 'the JSON export holds the approval with its meaning');
  check(entries.every((e) => e.workflow_id && e.workflow_id.includes(planId)), 'the JSON export keeps the search');

  const inbox = await page.goto(`${base}/inbox`);
  check(inbox.status() === 403, 'the auditor may not open the approval inbox');
  check(problems.length === 0, `the auditor's pages were careflow's own (${problems.join('; ')})`);
  await context.close();
}

await run(bedManagerApproves, auditorVerifiesAndExports);
