// A theatre administrator approves a week's theatre lists in the browser, seeing the
// lists as a Gantt chart, who is deferred and why, and the meaning of the signature;
// the ethics secretary, two members and the chair take a submission through a meeting
// whose quorum the page recomputes as attendance is ticked; a department head sees
// the charts drawn from the data.
//
// Run by the e2e test `browser` (tests/e2e/browser.rs) against a real `careflow serve`.
// Exit code 0 when every check held. Screenshots go to $SHOTS_DIR.
//
// Environment: CAREFLOW_URL, PASSWORD, SHOTS_DIR, THEATRE_TASK, THEATRE_ADMIN,
// SUBMISSION_ID, SECRETARY, REVIEWERS (two, comma-separated), CHAIR, DEPARTMENT_HEAD,
// CHROMIUM (default /usr/bin/chromium).

import { join } from 'node:path';
import { base, check, env, logIn, password, run, shots, submit, watch } from './lib.mjs';

const theatreTask = env('THEATRE_TASK');
const theatreAdmin = env('THEATRE_ADMIN');
const submission = env('SUBMISSION_ID');
const secretary = env('SECRETARY');
const reviewers = env('REVIEWERS').split(',');
const chair = env('CHAIR');
const head = env('DEPARTMENT_HEAD');

// A page of a new browser context (its own cookies) with `name` logged in.
async function as(browser, name) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const problems = watch(page);
  await logIn(page, name);
  return { context, page, problems };
}

async function done(who, { context, problems }) {
  check(problems.length === 0, `${who}'s pages were careflow's own (${problems.join('; ')})`);
  await context.close();
}

async function theatreAdminApproves(browser) {
  const s = await as(browser, theatreAdmin);
  const { page } = s;
  check(new URL(page.url()).pathname === '/inbox', 'the theatre administrator lands on the approval inbox');
  await page.click(`a[href="/inbox/${theatreTask}"]`);
  await page.waitForURL(`${base}/inbox/${theatreTask}`);
  const cases = await page.locator('svg.gantt rect.case').count();
  check(cases > 0, `the proposed lists are drawn as a Gantt chart (${cases} cases)`);
  const booked = Number(await page.locator('#kpi-booked').innerText());
  check(booked === cases, `every booked case has its bar (${booked} booked)`);
  const main = await page.locator('main').innerText();
  check(main.includes('Who is deferred, and why'), 'the page says who is deferred and why');
  check(main.includes('surgery-duration'), 'the duration model behind the lists is named');
  check(main.includes('MIP gap'), 'the solver\'s gap is shown');
  check((await page.locator('#meaning').innerText()).includes('publishes these theatre lists'), 'the page states what the signature means and does');
  await page.screenshot({ path: join(shots, 'theatre-task.png'), fullPage: true });
  await page.fill('#reason', 'Lists agreed at the theatre scheduling meeting');
  await page.fill('#password', password);
  await submit(page, 'Approve and sign');
  const ok = await page.locator('.notice.ok').innerText();
  check(ok.includes(`Approved and signed by ${theatreAdmin}`), `the approval is confirmed (${ok})`);
  let history = '';
  for (let i = 0; i < 120; i++) {
    await page.goto(`${base}/inbox/${theatreTask}`);
    history = await page.locator('#history').innerText();
    if (history.includes('theatre_list.published')) break;
    await page.waitForTimeout(500);
  }
  check(history.includes('theatre_list.published'), 'the workflow published the approved lists');
  await done('the theatre administrator', s);
}

async function step(page, button) {
  await submit(page, button);
  const notice = await page.locator('#step-notice').innerText();
  check(notice.startsWith('Done'), `${button}: ${notice}`);
}

async function committeeDecides(browser) {
  const url = `${base}/ethics/${submission}`;
  const sec = await as(browser, secretary);
  let page = sec.page;
  check(new URL(page.url()).pathname === '/ethics', 'the secretary lands on the ethics queue');
  check((await page.locator('#my-queue').innerText()).includes('check completeness'), 'the submission waits for the completeness check');
  await page.click(`#my-queue a[href="/ethics/${submission}"]`);
  await page.waitForURL(url);
  check((await page.locator('#documents').innerText()).match(/[0-9a-f]{64}/) !== null, 'the documents are listed with their sha256');
  await page.selectOption('#complete', 'yes');
  await page.fill('#comments', 'All sections present');
  await step(page, 'Record the completeness check');
  await page.selectOption('#route', 'full_committee');
  await page.fill('#reason', 'Live operational data');
  await step(page, 'Route the submission');
  for (const r of reviewers) await page.check(`input[name=reviewers][value="${r}"]`);
  await step(page, 'Assign reviewers');
  check((await page.locator('#reviewers').innerText()).includes(reviewers[0]), 'the reviewers are assigned');

  for (const r of reviewers) {
    const m = await as(browser, r);
    await m.page.goto(url);
    await m.page.selectOption('#recommendation', 'approve');
    await m.page.fill('#comments', 'Aggregate data only; plans approved by people');
    await m.page.fill('#review-password', password);
    await step(m.page, 'Sign your review');
    await done(r, m);
  }

  // The attendance form recomputes the quorum as boxes are ticked.
  await page.goto(url);
  const quorum = page.locator('#quorum');
  await page.check(`input[name=present][value="${reviewers[0]}"]`);
  check((await quorum.innerText()).endsWith('not quorate'), `one member is no quorum (${await quorum.innerText()})`);
  for (const m of [chair, reviewers[1]]) await page.check(`input[name=present][value="${m}"]`);
  check((await quorum.innerText()).endsWith(': quorate'), `three members with a lay one are a quorum (${await quorum.innerText()})`);
  await page.screenshot({ path: join(shots, 'ethics-quorum.png'), fullPage: true });
  await step(page, 'Record the meeting\'s attendance');
  check((await page.locator('#state').innerText()) === 'in_meeting', 'the quorate meeting opens the vote');
  await done('the secretary', sec);

  for (const v of [chair, ...reviewers]) {
    const m = await as(browser, v);
    await m.page.goto(url);
    await m.page.selectOption('#vote', 'approve');
    await m.page.fill('#vote-password', password);
    await step(m.page, 'Sign your vote');
    await done(v, m);
  }

  const c = await as(browser, chair);
  page = c.page;
  await page.goto(url);
  await page.click('#meetings a');
  await page.waitForURL(/\/ethics\/meetings\//);
  check((await page.locator('#quorum-status').innerText()).startsWith('Quorate'), 'the meeting page shows the quorum');
  const tally = await page.locator('#tally').innerText();
  check(tally.startsWith('3 of 3') && tally.includes('approved'), `the meeting page shows the votes (${tally})`);
  await page.screenshot({ path: join(shots, 'ethics-meeting.png'), fullPage: true });
  await page.goto(url);
  await page.selectOption('#outcome', 'approved');
  await page.fill('#letter', 'The committee approves the forecaster for twelve months. <script>document.title="owned"</script>');
  await page.fill('#decision-password', password);
  await step(page, 'Sign the committee\'s decision');
  check((await page.locator('#state').innerText()) === 'approved', 'the submission is approved');
  check((await page.locator('#letter').innerText()).includes('<script>'), 'the letter is shown as typed, as text');
  check((await page.title()).indexOf('owned') === -1, 'the script in the letter did not run');
  await page.screenshot({ path: join(shots, 'ethics-decided.png'), fullPage: true });
  await done('the chair', c);
}

async function departmentHeadSeesTheCharts(browser) {
  const s = await as(browser, head);
  const { page } = s;
  await page.click('nav a[href="/dashboard"]');
  await page.waitForURL(`${base}/dashboard`);
  check((await page.locator('#wards svg rect').count()) > 0, 'the wards\' occupancy is drawn');
  await page.click('nav a[href="/dashboard/theatre"]');
  await page.waitForURL(`${base}/dashboard/theatre`);
  check((await page.locator('main').innerText()).includes('lists in force'), 'the theatre dashboard shows the approved lists in force');
  const bars = await page.locator('svg.gantt rect.case').count();
  const sessions = await page.locator('svg.gantt rect.session').count();
  check(bars > 0 && sessions > 0, `the Gantt chart has ${sessions} sessions and ${bars} cases`);
  const minutes = await page.locator('svg.gantt rect.case').first().getAttribute('data-minutes');
  check(Number(minutes) > 0, `a case bar carries its minutes (${minutes})`);
  check((await page.locator('table.sessions tbody tr').count()) === sessions, 'utilisation and overruns are listed per session');
  await page.screenshot({ path: join(shots, 'dashboard-theatre.png'), fullPage: true });
  for (const path of ['/dashboard/scanner', '/dashboard/roster']) {
    const r = await page.goto(`${base}${path}`);
    check(r.status() === 200, `the department head opens ${path}`);
  }
  const models = await page.goto(`${base}/models`);
  check(models.status() === 403, 'the model board is not the department head\'s');
  await done('the department head', s);
}

await run(theatreAdminApproves, committeeDecides, departmentHeadSeesTheCharts);
