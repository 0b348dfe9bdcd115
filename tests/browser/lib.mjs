// What every browser scenario shares: the environment, checks that print what held,
// form submission, a watch that every page is careflow's own (nothing fetched from
// elsewhere, under 300 KB, no script error), and a keyboard-only login.

import { chromium } from 'playwright-core';

export const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined || v === '') throw new Error(`environment variable ${name} is not set`);
  return v;
};
export const base = env('CAREFLOW_URL');
export const password = env('PASSWORD');
export const shots = env('SHOTS_DIR');

// Clicks a form's button and waits for the page the form leads to.
export async function submit(page, button) {
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: button }).click()]);
}

export function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  console.log(`ok - ${what}`);
}

// Every page must be careflow's own: nothing fetched from elsewhere, each under 300 KB.
export function watch(page) {
  const problems = [];
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(base) && !u.startsWith('data:')) problems.push(`request to ${u}`);
  });
  page.on('response', async (r) => {
    if (r.request().resourceType() !== 'document') return;
    try {
      const body = await r.body();
      if (body.length >= 300 * 1024) problems.push(`${r.url()} is ${body.length} bytes`);
    } catch {
      // Redirects have no body.
    }
  });
  page.on('pageerror', (e) => problems.push(`script error: ${e.message}`));
  page.on('dialog', (d) => problems.push(`a dialog opened: ${d.message()}`));
  return problems;
}

// Logs in with the keyboard only, as someone without a mouse would.
export async function logIn(page, name) {
  await page.goto(`${base}/`);
  check(page.url() === `${base}/login`, `${name}: an anonymous visit is sent to the login page`);
  // The user name field has the focus on arrival (autofocus) or is the first stop of
  // the Tab key.
  await page.waitForLoadState('load');
  if ((await page.evaluate(() => document.activeElement && document.activeElement.id)) !== 'username') {
    await page.keyboard.press('Tab');
  }
  check((await page.evaluate(() => document.activeElement.id)) === 'username', `${name}: the keyboard starts on the user name`);
  await page.keyboard.type(name);
  await page.keyboard.press('Tab');
  await page.keyboard.type(password);
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  const notice = page.url().startsWith(`${base}/login`) ? await page.locator('main').innerText() : '';
  check(notice === '', `${name}: logged in (${page.url()}: ${notice})`);
  const cookie = (await page.context().cookies()).find((c) => c.name === 'careflow_session');
  check(cookie && cookie.httpOnly && cookie.sameSite === 'Strict', `${name}: the session cookie is HttpOnly and SameSite=Strict`);
  check((await page.evaluate(() => document.cookie)).indexOf('careflow_session') === -1, `${name}: scripts cannot read the session cookie`);
}

// Runs the scenarios in one chromium and prints the line the e2e test looks for.
export async function run(...scenarios) {
  // Chromium's sandbox refuses to run as root (CI runs as root).
  const sandbox = process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : [];
  const browser = await chromium.launch({ executablePath: env('CHROMIUM', '/usr/bin/chromium'), args: sandbox });
  try {
    for (const scenario of scenarios) await scenario(browser);
    console.log('browser scenario: all checks passed');
  } catch (e) {
    console.error(e.stack || String(e));
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}
