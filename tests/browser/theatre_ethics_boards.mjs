// A theatre administrator approves a week's theatre lists in the browser, seeing the
// lists as a Gantt chart, who is deferred and why, and the meaning of the signature;
// the ethics secretary returns a submission as incomplete and its applicant resubmits
// a new version on the page; the secretary, two members and the chair take it through
// a meeting whose quorum the page recomputes as attendance is ticked; a department
// head sees the charts drawn from the data: the theatre lists in force, a booked
// imaging week with its attendance, a published ward roster.
//
// Run by the e2e test `browser` (tests/e2e/browser.rs) against a real `careflow serve`.
// Exit code 0 when every check held. Screenshots go to $SHOTS_DIR.
//
// Environment: CAREFLOW_URL, PASSWORD, SHOTS_DIR, THEATRE_TASK, THEATRE_ADMIN,
// SUBMISSION_ID, APPLICANT, SECRETARY, REVIEWERS (two, comma-separated), CHAIR,
// DEPARTMENT_HEAD, SCANS_BOOKED and NO_SHOWS (the imaging week's booked scans and
// recorded no-shows), CHROMIUM (default /usr/bin/chromium).

import { join } from 'node:path';
import { base, check, env, logIn, password, run, shots, submit, watch } from './lib.mjs';

const theatreTask = env('THEATRE_TASK');
const theatreAdmin = env('THEATRE_ADMIN');
const submission = env('SUBMISSION_ID');
const applicant = env('APPLICANT');
const scansBooked = Number(env('SCANS_BOOKED'));
const noShows = Number(env('NO_SHOWS'));
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

  // Returned as incomplete; the applicant resubmits a new version on the page.
  await page.selectOption('#complete', 'no');
  await page.fill('#comments', 'The consent plan does not say how patients are told');
  await step(page, 'Record the completeness check');
  check((await page.locator('#state').innerText()) === 'returned', 'the incomplete submission is returned to its applicant');
  check((await page.locator('#no-step').count()) === 1, 'the secretary has no step on a returned submission');
  const lead = await as(browser, applicant);
  check((await lead.page.locator('#my-queue').innerText()).includes('resubmit'), 'the returned submission waits for its applicant');
  await lead.page.click(`#my-queue a[href="/ethics/${submission}"]`);
  await lead.page.waitForURL(url);
  check((await lead.page.locator('#returned-because').innerText()).includes('how patients are told'), 'the applicant reads why it was returned');
  check((await lead.page.inputValue('#title')) === 'ED arrivals forecaster', 'the form starts from the submitted content');
  await lead.page.fill('#consent_plan', 'Aggregate counts only; posters on every ward tell patients <script>document.title="owned"</script>');
  await lead.page.fill('#doc-name-2', 'poster.md');
  await lead.page.fill('#doc-content-2', 'Your hospital counts arrivals by the hour to plan beds.');
  await lead.page.screenshot({ path: join(shots, 'ethics-resubmit.png'), fullPage: true });
  await step(lead.page, 'Resubmit as a new version');
  check((await lead.page.locator('#state').innerText()) === 'submitted', 'the new version goes back to the completeness check');
  const versions = await lead.page.locator('#versions').innerText();
  check(versions.includes('2 (current)') && versions.includes('poster.md'), `the new version and its document are listed (${versions})`);
  const history = await lead.page.locator('#history').innerText();
  check(history.includes('ethics.resubmitted') && history.includes('resubmitted as version 2'), 'the resubmission is in the submission\'s history');
  check((await lead.page.title()).indexOf('owned') === -1, 'the script in the consent plan did not run');
  await done('the applicant', lead);

  await page.goto(url);
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

  // The imaging board: the booked week's waiting times and its recorded no-shows.
  await page.click('nav a[href="/dashboard/scanner"]');
  await page.waitForURL(`${base}/dashboard/scanner`);
  check(Number(await page.locator('#scans-booked').innerText()) === scansBooked, `the imaging board counts the ${scansBooked} booked scans`);
  const waits = await page.locator('#waits tbody tr').allInnerTexts();
  check(waits.length > 0, `waiting times are listed by modality and urgency (${waits.length} rows)`);
  const scans = waits.reduce((n, row) => n + Number(row.split('\t')[1]), 0);
  check(scans === scansBooked, `the waiting-time rows hold every booked scan (${scans})`);
  check(waits.every((row) => /^\d+(\.\d)?$/.test(row.split('\t')[2])), `each row has its mean days to scan (${waits.join(' | ')})`);
  check((await page.locator('svg.bars').count()) === 2, 'waiting times and no-show rates are drawn');
  const shows = await page.locator('#no-shows tbody tr').allInnerTexts();
  const recorded = shows.reduce((n, row) => n + Number(row.split('\t')[1]), 0);
  const missed = shows.reduce((n, row) => n + Number(row.split('\t')[2]), 0);
  check(recorded === scansBooked && missed === noShows, `observed no-shows by modality: ${missed} of ${recorded} (${shows.join(' | ')})`);
  await page.screenshot({ path: join(shots, 'dashboard-scanner.png'), fullPage: true });

  // The roster board: the published roster's grid with its cover per shift and day.
  await page.click('nav a[href="/dashboard/roster"]');
  await page.waitForURL(`${base}/dashboard/roster`);
  check((await page.locator('main h2').first().innerText()).includes('roster in force'), 'the roster board shows the published roster in force');
  const rows = await page.locator('#roster-grid tbody tr').count();
  check(rows === 14, `the grid has a row per nurse (${rows})`);
  const worked = await page.locator('#roster-grid tbody td').evaluateAll((cells) => cells.filter((c) => /^[ELN]/.test(c.textContent.trim())).length);
  check(worked > 0, `the grid shows the shifts worked (${worked})`);
  const cover = await page.locator('#roster-grid tfoot td').allInnerTexts();
  check(cover.length === 3 * 7 && cover.every((c) => /^\d+\/\d+$/.test(c.trim())), `a cover cell per shift and day, rostered/required (${cover.slice(0, 7).join(' ')} ...)`);
  const rostered = cover.reduce((n, c) => n + Number(c.split('/')[0]), 0);
  check(rostered === worked, `the cover cells add up to the shifts in the grid (${rostered})`);
  check(/\d+ %/.test(await page.locator('ul.kpis li').first().innerText()), 'the roster\'s cover is given as a percentage');
  await page.screenshot({ path: join(shots, 'dashboard-roster.png'), fullPage: true });
  const models = await page.goto(`${base}/models`);
  check(models.status() === 403, 'the model board is not the department head\'s');
  await done('the department head', s);
}

await run(theatreAdminApproves, committeeDecides, departmentHeadSeesTheCharts);
