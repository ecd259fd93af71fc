import { spawn } from 'node:child_process';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { addUser } from '../../src/console/users';
import { addDays, businessDate } from '../../src/dates';
import { exited, ROOT, spawnCli, stopDaemon } from '../helpers/cli';
import { launchBrowser, saveScreenshot } from '../helpers/browser';
import { insertLicense, insertOrder } from '../helpers/fixtures';
import { useMailTestEnv } from '../helpers/mail-test-env';
import { freePort, until } from '../helpers/servers';
import type { SmtpTestServer } from '../helpers/smtp';
import type { TestEnv } from '../helpers/test-env';

const ADMIN_TOKEN = 'console-test-admin-token-0123456789';
const OPERATOR = { name: 'olivia', password: 'operator-password-123' };
const VIEWER = { name: 'vera', password: 'viewer-password-4567' };
const FAILING = 'buyer@acme.example';
const OTHER_FAILING = 'it@globex.example';

let t: TestEnv;
let smtp: SmtpTestServer;
let base: string;
let browser: Browser;
let daemon: ReturnType<typeof spawnCli>;
const seen: string[] = [];

useMailTestEnv(
  'console',
  { ADMIN_TOKEN, SEND_ATTEMPTS: '2' },
  async (env, server) => {
    t = env;
    smtp = server;
  },
  { resetEachTest: false },
);

/** `reminders users add` with the password on standard input, as an operator runs it. */
async function addUserWithCli(name: string, role: string, password: string): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'users', 'add', name, '--role', role], { cwd: ROOT, env: { ...process.env, ...t.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  child.stdin.end(`${password}\n`);
  expect(await exited(child)).toBe(0);
  return out;
}

const rowOf = (key: string) => t.app.db.selectFrom('reminder_ledger').selectAll().where('license_key', '=', key).executeTakeFirstOrThrow();
const mailTo = (address: string) => smtp.received.filter((m) => m.to === address);

beforeAll(async () => {
  // Today's scan, in process: one license whose contact refuses the first delivery (failed), one
  // more of the same kind for the CSRF and viewer checks, and one that is sent.
  const today = businessDate(new Date(), 'UTC');
  const acme = await insertOrder(t.app.db, { orderNumber: 'DS-ACME-1', customerName: 'Acme Imaging', contacts: [{ email: FAILING, name: 'Ann Buyer' }] });
  await insertLicense(t.app.db, { orderId: acme.orderId, expiresOn: addDays(today, 30), key: 'KEY-ACME-FAILED' });
  const globex = await insertOrder(t.app.db, { orderNumber: 'DS-GLOBEX-1', customerName: 'Globex', contacts: [{ email: OTHER_FAILING }] });
  await insertLicense(t.app.db, { orderId: globex.orderId, expiresOn: addDays(today, 14), key: 'KEY-GLOBEX-FAILED' });
  const initech = await insertOrder(t.app.db, { orderNumber: 'DS-INITECH-1', customerName: 'Initech', contacts: [{ email: 'ops@initech.example' }] });
  await insertLicense(t.app.db, { orderId: initech.orderId, type: 'lifetime', maintenanceExpiresOn: addDays(today, 7), key: 'KEY-INITECH-SENT' });
  await insertLicense(t.app.db, { orderId: initech.orderId, expiresOn: addDays(today, 60), key: 'KEY-INITECH-FORECAST' });
  smtp.forceReply(FAILING, { code: 550, message: '5.1.1 <buyer@acme.example>: Recipient address rejected', times: 1 });
  smtp.forceReply(OTHER_FAILING, { code: 550, message: '5.7.1 Blocked by policy', times: 1 });
  await t.scan(today);
  await t.drain();
  expect((await rowOf('KEY-ACME-FAILED')).status).toBe('failed');
  expect((await rowOf('KEY-INITECH-SENT')).status).toBe('sent');
  smtp.clear();

  expect(await addUserWithCli(OPERATOR.name, 'operator', OPERATOR.password)).toMatch(/Account olivia \(operator\) created/);
  await addUser(t.app.db, VIEWER.name, 'viewer', VIEWER.password);

  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  daemon = spawnCli(['start'], { ...t.env, HTTP_PORT: String(port), LOG_LEVEL: 'info', WORKER_PROCESSES: '1', OUTBOX_INTERVAL_MS: '500' });
  await until(async () => (await fetch(`${base}/healthz`)).ok, 'the daemon to answer /healthz', 60_000);
  browser = await launchBrowser();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  if (daemon) await stopDaemon(daemon);
});

async function signedIn(user: { name: string; password: string }, width = 1280): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width, height: 900 } });
  const page = await context.newPage();
  page.on('response', (response) => {
    if ((response.headers()['content-type'] ?? '').startsWith('text/html')) void response.text().then((body) => seen.push(body), () => undefined);
  });
  await page.goto(`${base}/console`);
  await page.waitForURL(/\/console\/login/);
  await page.getByLabel('User name').fill(user.name);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Today', exact: true }).waitFor();
  return { context, page };
}

it('answers nothing under /console but the sign-in page while signed out', async () => {
  for (const path of ['/console', '/console/reminders?q=KEY-ACME-FAILED', '/console/activity', '/console/templates', '/console/assets/activity.js', '/console/reminders/1', '/admin/queues']) {
    const response = await fetch(`${base}${path}`, { redirect: 'manual' });
    expect([path, response.status]).toEqual([path, 303]);
    expect(response.headers.get('location')).toMatch(/^\/console\/login\?next=/);
    expect(await response.text()).not.toMatch(/KEY-ACME|buyer@acme/);
  }
  const post = await fetch(`${base}/console/replay`, { method: 'POST', body: new URLSearchParams({ ids: '1' }), redirect: 'manual' });
  expect(post.status).toBe(401);
  const login = await fetch(`${base}/console/login`);
  expect(login.status).toBe(200);
  expect(await login.text()).toContain('<label for="user">User name</label>');
  // ADMIN_TOKEN still opens the dashboard on its own.
  expect((await fetch(`${base}/admin/queues`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status).toBe(200);
});

it('signs in by keyboard alone', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${base}/console/login`);
  // The user name field has the focus (autofocus lands after the load event); Tab reaches the password, Enter signs in.
  await page.waitForFunction("document.activeElement && document.activeElement.id === 'user'", undefined, { timeout: 10_000 });
  await page.keyboard.type(VIEWER.name);
  await page.keyboard.press('Tab');
  await page.keyboard.type(VIEWER.password);
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Today', exact: true }).waitFor();
  // The first Tab lands on the skip link, the next ones walk the navigation.
  await page.keyboard.press('Tab');
  expect(await page.evaluate<string>('document.activeElement.textContent')).toBe('Skip to content');
  await page.keyboard.press('Tab');
  expect(await page.evaluate<string>('document.activeElement.textContent')).toBe('Today');
  await page.keyboard.press('Tab');
  expect(await page.evaluate<string>('document.activeElement.textContent')).toBe('Activity');
  await context.close();
});

it('refuses a wrong password, then too many of them', async () => {
  const form = async (password: string) => {
    const page = await fetch(`${base}/console/login`);
    const cookie = (page.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const token = /name="_login" value="([^"]+)"/.exec(await page.text())?.[1] ?? '';
    return fetch(`${base}/console/login`, { method: 'POST', headers: { cookie }, body: new URLSearchParams({ _login: token, user: 'nobody', password }), redirect: 'manual' });
  };
  expect((await form('wrong-password-1')).status).toBe(401);
  for (let i = 0; i < 4; i++) await form('wrong-password-x');
  const locked = await form('wrong-password-y');
  expect(locked.status).toBe(429);
  expect(await locked.text()).toContain('Too many failed sign-ins');
});

it('lets an operator find a failed reminder, read its history and replay it once, after a confirmation that sends nothing', async () => {
  const { context, page } = await signedIn(OPERATOR);
  await page.getByRole('link', { name: '2 failed' }).waitFor().catch(async (error: unknown) => {
    console.log(await page.locator('body').innerText());
    throw error;
  });
  await saveScreenshot(page, 'console-today');

  await page.getByRole('link', { name: 'Reminders', exact: true }).click();
  await page.getByLabel('License key, order number, address or customer').fill('KEY-ACME-FAILED');
  await page.getByRole('button', { name: 'Search' }).click();
  const row = await rowOf('KEY-ACME-FAILED');
  await page.getByRole('link', { name: `Open reminder ${row.id} of license KEY-ACME-FAILED` }).waitFor();
  await saveScreenshot(page, 'console-reminders');
  await page.getByRole('link', { name: `Open reminder ${row.id} of license KEY-ACME-FAILED` }).click();

  await page.getByRole('heading', { level: 1, name: `Reminder ${row.id}` }).waitFor();
  const history = await page.locator('table').innerText();
  expect(history).toContain('Recipient address rejected');
  expect(history).toMatch(/claimed[\s\S]*failed/);
  await saveScreenshot(page, 'console-reminder');

  await page.getByRole('button', { name: 'Replay…' }).click();
  await page.getByRole('heading', { name: 'Replay: check before sending' }).waitFor();
  expect(await page.locator('main').innerText()).toMatch(/Nothing has been sent yet[\s\S]*buyer@acme\.example[\s\S]*sent again/);
  await saveScreenshot(page, 'console-replay-confirm');
  // The confirmation step changed nothing and sent nothing.
  expect((await rowOf('KEY-ACME-FAILED')).status).toBe('failed');
  expect(mailTo(FAILING)).toHaveLength(0);

  await page.getByRole('button', { name: 'Confirm replay' }).click();
  await page.getByRole('heading', { name: 'Replay done' }).waitFor();
  await until(async () => (await rowOf('KEY-ACME-FAILED')).status === 'sent', 'the replayed reminder to be sent', 60_000);
  // A second look a little later: still exactly one message to that address.
  await until(() => mailTo(FAILING).length >= 1, 'the replayed mail', 10_000);
  await new Promise((r) => setTimeout(r, 1500));
  expect(mailTo(FAILING)).toHaveLength(1);
  expect(mailTo(FAILING)[0]?.parsed.text).toContain('KEY-ACME-FAILED');
  const events = await t.app.db.selectFrom('reminder_events').select(['event', 'actor']).where('ledger_id', '=', row.id).orderBy('id').execute();
  expect(events).toContainEqual({ event: 'replayed', actor: 'console olivia' });
  const actions = await t.app.db.selectFrom('console_actions').select(['actor', 'action']).where('action', '=', 'replay').execute();
  expect(actions).toEqual([{ actor: 'console olivia', action: 'replay' }]);

  // What was sent, from the stored template version.
  await page.goto(`${base}/console/reminders/${row.id}/email`);
  expect(await page.frameLocator('iframe.email').locator('body').innerText()).toContain('KEY-ACME-FAILED');
  await context.close();
});

it('refuses a state change without its CSRF token and changes nothing', async () => {
  const { context, page } = await signedIn(OPERATOR);
  const row = await rowOf('KEY-GLOBEX-FAILED');
  expect(row.status).toBe('failed');
  const missing = await page.request.post(`${base}/console/replay`, { form: { ids: row.id }, maxRedirects: 0 });
  expect(missing.status()).toBe(403);
  const wrong = await page.request.post(`${base}/console/replay`, { form: { ids: row.id, _csrf: 'forged-token' }, maxRedirects: 0 });
  expect(wrong.status()).toBe(403);
  const hold = await page.request.post(`${base}/console/licenses/hold`, { form: { license: 'KEY-GLOBEX-FAILED', reason: 'forged' }, maxRedirects: 0 });
  expect(hold.status()).toBe(403);
  await new Promise((r) => setTimeout(r, 1000));
  expect((await rowOf('KEY-GLOBEX-FAILED')).status).toBe('failed');
  expect(await t.app.db.selectFrom('license_holds').selectAll().execute()).toEqual([]);
  expect(mailTo(OTHER_FAILING)).toHaveLength(0);
  await context.close();
});

it("shows a viewer no action controls and refuses the viewer's forged replay", async () => {
  const { context, page } = await signedIn(VIEWER, 375);
  const row = await rowOf('KEY-GLOBEX-FAILED');
  await page.goto(`${base}/console/reminders/${row.id}`);
  await page.getByRole('heading', { level: 1, name: `Reminder ${row.id}` }).waitFor();
  expect(await page.getByRole('button', { name: /Replay|Hold|Suppress|Force/ }).count()).toBe(0);
  expect(await page.getByRole('link', { name: /Queues/ }).count()).toBe(0);
  // Works at 375 px: nothing wider than the screen.
  expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(375);
  await saveScreenshot(page, 'console-reminder-viewer-375px');

  const csrf = await page.locator('input[name="_csrf"]').first().getAttribute('value');
  expect(csrf).toBeTruthy();
  const forged = await page.request.post(`${base}/console/replay`, { form: { ids: row.id, _csrf: csrf ?? '' }, maxRedirects: 0 });
  expect(forged.status()).toBe(403);
  const preview = await page.request.get(`${base}/console/replay?ids=${row.id}`, { maxRedirects: 0 });
  expect(preview.status()).toBe(403);
  const dashboard = await page.request.get(`${base}/admin/queues`, { maxRedirects: 0 });
  expect(dashboard.status()).toBe(403);
  await new Promise((r) => setTimeout(r, 1000));
  expect((await rowOf('KEY-GLOBEX-FAILED')).status).toBe('failed');
  expect(mailTo(OTHER_FAILING)).toHaveLength(0);

  // The viewer reads the Unreachable page too, at 375 px: an order whose only contact is suppressed.
  const hooli = await insertOrder(t.app.db, { orderNumber: 'DS-HOOLI-1', customerName: 'Hooli', contacts: [{ email: 'procurement@hooli.example' }] });
  await insertLicense(t.app.db, { orderId: hooli.orderId, expiresOn: addDays(businessDate(new Date(), 'UTC'), 21), key: 'KEY-HOOLI-UNREACHABLE' });
  await t.app.db.insertInto('suppressed_addresses').values({ address: 'procurement@hooli.example', reason: 'hard bounce: 5.1.1' }).execute();
  await page.getByRole('link', { name: 'Unreachable' }).click();
  await page.getByRole('heading', { level: 1, name: 'Unreachable' }).waitFor();
  await page.getByRole('link', { name: 'Reminders of order DS-HOOLI-1' }).waitFor();
  expect(await page.getByRole('table', { name: 'Unreachable renewals' }).innerText()).toMatch(/procurement@hooli\.example: suppressed: hard bounce: 5\.1\.1/);
  expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(375);
  await saveScreenshot(page, 'console-unreachable-375px');
  await context.close();
});

it('draws the activity charts with data, lists the templates, and opens the queue dashboard for an operator', async () => {
  const { context, page } = await signedIn(OPERATOR);
  await page.getByRole('link', { name: 'Activity' }).click();
  await page.locator('body[data-charts="drawn"]').waitFor();
  // Each chart's datasets as Chart.js holds them: [label, sum of the values].
  const sums = await page.evaluate<Array<Array<[string, number]>>>(`['chart-license', 'chart-maintenance', 'chart-forecast'].map((id) =>
    Chart.getChart(document.getElementById(id)).data.datasets.map((d) => [d.label, d.data.reduce((a, b) => a + b, 0)]))`);
  // Annual: two sent today (one of them the replay), one failed; maintenance: one sent.
  expect(Object.fromEntries(sums[0] ?? [])).toMatchObject({ sent: 2, failed: 1, unknown: 0 });
  expect(Object.fromEntries(sums[1] ?? [])).toMatchObject({ sent: 1, failed: 0 });
  expect(Object.fromEntries(sums[2] ?? [])['annual license emails']).toBeGreaterThan(0);
  await saveScreenshot(page, 'console-activity');

  await page.getByRole('link', { name: 'Templates' }).click();
  await page.getByRole('heading', { name: 'Live versions' }).waitFor();
  expect(await page.locator('main').innerText()).toMatch(/annual\/en\/30/);
  await saveScreenshot(page, 'console-templates');
  await page.getByRole('link', { name: /^Preview annual\/en\/30/ }).click();
  expect(await page.frameLocator('iframe.email').locator('body').innerText()).toMatch(/renew/i);

  const dashboard = await page.request.get(`${base}/admin/queues`, { maxRedirects: 0 });
  expect(dashboard.status()).toBe(200);

  await page.goto(`${base}/console`);
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/\/console\/login/);
  expect((await page.request.get(`${base}/console`, { maxRedirects: 0 })).status()).toBe(303);
  await context.close();
});

it('shows no secret on any page it served', async () => {
  expect(seen.length).toBeGreaterThan(10);
  for (const body of seen) {
    for (const secret of [ADMIN_TOKEN, t.env.UNSUBSCRIBE_SECRET as string, OPERATOR.password, VIEWER.password, 'scrypt$']) expect(body).not.toContain(secret);
  }
  expect(daemon.output()).not.toContain(OPERATOR.password);
});
