import type { Browser, BrowserContext, Page } from 'playwright-core';
import { addUser } from '../../src/console/users';
import { addDays, businessDate } from '../../src/dates';
import { outcomesReport } from '../../src/outcomes/report';
import { runCli, spawnCli, stopDaemon } from '../helpers/cli';
import { launchBrowser, saveScreenshot } from '../helpers/browser';
import { insertLicense, insertOrder } from '../helpers/fixtures';
import { useMailTestEnv } from '../helpers/mail-test-env';
import { freePort, until } from '../helpers/servers';
import type { SmtpTestServer } from '../helpers/smtp';
import type { TestEnv } from '../helpers/test-env';

const MIA = { name: 'mia', password: 'marketing-password-123', email: 'mia@marketing.example' };
const MAX = { name: 'max', password: 'marketing-password-456', email: 'max@marketing.example' };
const VERA = { name: 'vera', password: 'viewer-password-4567' };
const NEW_SUBJECT =
  '{{#if single}}Keep your annual license: {{plural daysLeft one="# day" other="# days"}} left{{else}}Keep your {{itemCount}} annual licenses: {{plural daysLeft one="# day" other="# days"}} left{{/if}}';

let t: TestEnv;
let smtp: SmtpTestServer;
let base: string;
let browser: Browser;
let daemon: ReturnType<typeof spawnCli>;
let mia: { context: BrowserContext; page: Page };
let shippedVersion: string;
let today: string;

useMailTestEnv(
  'editor',
  {},
  async (env, server) => {
    t = env;
    smtp = server;
  },
  { resetEachTest: false },
);

const live = async (variant: string, arm: 'A' | 'B' = 'A') =>
  (await t.app.db.selectFrom('template_live').select('version').where('family', '=', variant.split('/')[0]!).where('locale', '=', variant.split('/')[1]!).where('variant', '=', variant.split('/')[2]!).where('arm', '=', arm).executeTakeFirst())?.version;

beforeAll(async () => {
  today = businessDate(new Date(), 'UTC');
  await addUser(t.app.db, MIA.name, 'marketing', MIA.password, { email: MIA.email });
  await addUser(t.app.db, MAX.name, 'marketing', MAX.password);
  await addUser(t.app.db, VERA.name, 'viewer', VERA.password);
  shippedVersion = (await live('annual/en/30'))!;
  expect(shippedVersion).toMatch(/^[0-9a-f]{12}$/);
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  // Workers re-read the live versions on a publish's NOTIFY, and at most TEMPLATE_POLL_MS after their
  // last check: with 1 s, and seconds between one test's sends and the next, a scan after a publish
  // is sent with the new version.
  daemon = spawnCli(['start'], { ...t.env, HTTP_PORT: String(port), WORKER_PROCESSES: '1', TEMPLATE_POLL_MS: '1000' });
  await until(async () => (await fetch(`${base}/healthz`).catch(() => null))?.ok === true, 'the daemon to answer /healthz', 60_000);
  browser = await launchBrowser();
  mia = await signedIn(MIA);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  if (daemon) await stopDaemon(daemon);
});

async function signedIn(user: { name: string; password: string }): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
  const page = await context.newPage();
  await page.goto(`${base}/console/login`);
  await page.getByLabel('User name').fill(user.name);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Today', exact: true }).waitFor();
  return { context, page };
}

/** Opens the editor on a variant and waits for its first preview. */
async function openEditor(page: Page, query: string): Promise<void> {
  await page.goto(`${base}/console/templates/edit?${query}`);
  await page.locator('body[data-editor="ready"]').waitFor();
  await page.locator('#preview[data-state="ready"]').waitFor();
}

/** Waits for the preview of the latest change (the editor debounces, then asks the server). */
async function previewSettled(page: Page): Promise<void> {
  await page.locator('#preview[data-state="ready"]').waitFor();
}

/** A license of one order whose contact gets the 30-day reminder of today's scan. */
async function dueIn30(key: string, email: string): Promise<void> {
  const { orderId } = await insertOrder(t.app.db, { orderNumber: `ORD-${key}`, customerName: `Customer ${key}`, contacts: [{ email }] });
  await insertLicense(t.app.db, { orderId, expiresOn: addDays(today, 30), key });
}

const mailTo = (address: string) => smtp.received.filter((m) => m.to === address);

async function sentSubject(address: string): Promise<string> {
  await until(() => mailTo(address).length > 0, `the worker to send the reminder to ${address}`, 30_000);
  return mailTo(address)[0]!.parsed.subject ?? '';
}

it('users email sets where the editor sends a person the tests, and refuses an account that does not exist or a bad address', async () => {
  const set = await runCli(['users', 'email', MAX.name, MAX.email], t.env);
  expect([set.code, set.stdout.trim()]).toEqual([0, `Tests from the template editor go to ${MAX.email} for ${MAX.name}.`]);
  expect(await t.app.db.selectFrom('console_users').select('email').where('name', '=', MAX.name).executeTakeFirstOrThrow()).toEqual({ email: MAX.email });
  const nobody = await runCli(['users', 'email', 'nobody', 'nobody@example.com'], t.env);
  expect(nobody.code).toBe(2);
  expect(nobody.stderr).toMatch(/no account named nobody/);
  const bad = await runCli(['users', 'email', MAX.name, 'not-an-address'], t.env);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toMatch(/"not-an-address" is not an email address/);
}, 60_000);

it('a marketer edits the 30-day subject, sees the preview change, sends herself a test, publishes, and the worker sends the new subject', async () => {
  const { page } = mia;
  await openEditor(page, 'family=annual&offset=30&locale=en');
  const before = await page.locator('#preview-subject').textContent();
  expect(before).toMatch(/annual licenses expire in 30 days/);
  await page.getByLabel('Subject').fill(NEW_SUBJECT);
  await page.locator('#preview-subject', { hasText: 'Keep your 2 annual licenses: 30 days left' }).waitFor();
  await previewSettled(page);
  // The subject field wrote into the copy file: the code editor shows the same line.
  await expect(page.locator('.cm-content').textContent()).resolves.toContain('Keep your annual license:');
  expect(await page.locator('#problems-summary').textContent()).toMatch(/No problems/);
  // The preview is the email the workers would send, at desktop and phone width and as text.
  const desktop = page.frameLocator('#preview-desktop');
  await desktop.getByText('Renew', { exact: false }).first().waitFor();
  expect(await page.locator('#preview-mobile').evaluate((frame) => frame.getBoundingClientRect().width)).toBeCloseTo(375, 0);
  expect(await page.locator('#preview-text').textContent()).toMatch(/Unsubscribe/);
  await saveScreenshot(page, 'console-template-editor');

  await page.getByRole('button', { name: 'Send me a test' }).click();
  await page.locator('#send-test-status', { hasText: `to ${MIA.email}` }).waitFor();
  await until(() => mailTo(MIA.email).length === 1, 'the test email to arrive');
  expect(mailTo(MIA.email)[0]!.parsed.subject).toBe('[TEST] Keep your 2 annual licenses: 30 days left');
  // A test is no reminder: nothing in the ledger.
  expect(await t.app.db.selectFrom('reminder_ledger').select('id').execute()).toEqual([]);

  await page.getByLabel('Message (what changed and why)').fill('Shorter 30-day subject');
  await page.getByRole('button', { name: 'Publish' }).click();
  await page.locator('.notice', { hasText: 'Published version' }).waitFor();
  const published = await live('annual/en/30');
  expect(published).not.toBe(shippedVersion);
  const publication = await t.app.db.selectFrom('template_publications').selectAll().where('version', '=', published!).executeTakeFirstOrThrow();
  expect(publication).toMatchObject({ actor: 'console mia', source: 'console', action: 'publish', message: 'Shorter 30-day subject' });
  // The other variants are untouched.
  expect(await live('annual/en/60')).toBeDefined();

  await dueIn30('KEY-NEW-SUBJECT', 'buyer@new-subject.example');
  await t.scan(today);
  expect(await sentSubject('buyer@new-subject.example')).toBe('Keep your annual license: 30 days left');
  // The worker records the send once the SMTP server has accepted it: a moment after the mail arrives.
  const row = () => t.app.db.selectFrom('reminder_ledger').select(['template_version', 'status']).where('license_key', '=', 'KEY-NEW-SUBJECT').executeTakeFirstOrThrow();
  await until(async () => (await row()).status === 'sent', 'the ledger to record the send');
  expect(await row()).toEqual({ template_version: published, status: 'sent' });
}, 120_000);

it('a broken edit shows each problem at its line, cannot be published, and the live version keeps sending', async () => {
  const { page } = mia;
  await openEditor(page, 'family=annual&offset=30&locale=en');
  const liveBefore = await live('annual/en/30');
  const publish = page.getByRole('button', { name: 'Publish' });
  const subject = page.getByLabel('Subject');

  // An unknown placeholder in the subject: the problem names it, at the subject's line.
  await subject.fill('Hello {{customerNmae}}');
  await page.locator('#problems', { hasText: 'customerNmae' }).waitFor();
  await previewSettled(page);
  expect(await page.locator('#problems').textContent()).toMatch(/annual\/en\.mjml:\d+/);
  await page.locator('.cm-lint-marker-error').first().waitFor();
  expect(await publish.isDisabled()).toBe(true);
  await subject.fill(NEW_SUBJECT);
  await page.locator('#problems-summary', { hasText: 'No problems' }).waitFor();

  // Broken markup in the copy file, typed in the code editor.
  await page.getByRole('button', { name: 'Edit block intro 30 in annual/en.mjml' }).click();
  await page.keyboard.press('End');
  await page.keyboard.insertText('\n<mj-text>An unclosed paragraph');
  await page.locator('#problems-summary', { hasText: 'problem(s)' }).waitFor();
  await previewSettled(page);
  expect(await page.locator('#problems').textContent()).toMatch(/annual\/en\.mjml:\d+/);
  expect(await publish.isDisabled()).toBe(true);
  await page.keyboard.press('Control+z');
  await page.locator('#problems-summary', { hasText: 'No problems' }).waitFor();

  // The unsubscribe link deleted from the shared footer copy.
  await page.getByLabel('File').selectOption('common/en.mjml');
  await page.locator('.cm-content').click();
  await page.keyboard.press('Control+a');
  const common = await t.app.db.selectFrom('template_versions').select('files').where('version', '=', liveBefore!).executeTakeFirstOrThrow();
  await page.keyboard.insertText(common.files['common/en.mjml']!.replace('<a href="{{links.unsubscribe}}">Unsubscribe from renewal reminders</a>', 'Reply to stop these emails.'));
  await page.locator('#problems', { hasText: /unsubscribe/i }).waitFor();
  await previewSettled(page);
  expect(await publish.isDisabled()).toBe(true);
  await saveScreenshot(page, 'console-template-editor-problem');

  // Publishing anyway (the button forced on, as a forged request would) is refused by the server.
  await page.getByLabel('Message (what changed and why)').fill('no unsubscribe');
  await publish.evaluate((button) => button.removeAttribute('disabled'));
  await publish.click();
  await page.locator('.error', { hasText: 'Not published: this edit fails the checks' }).waitFor();
  expect(await page.locator('#problems').textContent()).toMatch(/unsubscribe/i);
  expect(await live('annual/en/30')).toBe(liveBefore);

  await dueIn30('KEY-STILL-LIVE', 'buyer@still-live.example');
  await t.scan(today);
  expect(await sentSubject('buyer@still-live.example')).toBe('Keep your annual license: 30 days left');
}, 120_000);

it('two marketers edit one variant: the second to publish is told who published meanwhile, and keeps the edit', async () => {
  const max = await signedIn(MAX);
  try {
    await openEditor(mia.page, 'family=annual&offset=14&locale=en');
    await openEditor(max.page, 'family=annual&offset=14&locale=en');
    const start = await live('annual/en/14');
    await mia.page.getByLabel('Subject').fill('{{plural daysLeft one="# day" other="# days"}} left: renew {{#if single}}your license{{else}}your {{itemCount}} licenses{{/if}}');
    await max.page.getByLabel('Subject').fill('{{#if single}}Your license ends in {{plural daysLeft one="# day" other="# days"}}{{else}}Your {{itemCount}} licenses end in {{plural daysLeft one="# day" other="# days"}}{{/if}}');
    await previewSettled(mia.page);
    await previewSettled(max.page);
    expect(await mia.page.locator('#problems').textContent()).toBe('');
    expect(await max.page.locator('#problems').textContent()).toBe('');
    await mia.page.getByRole('button', { name: 'Publish' }).click();
    await mia.page.locator('.notice', { hasText: 'Published version' }).waitFor();
    const mias = await live('annual/en/14');
    expect(mias).not.toBe(start);

    await max.page.getByRole('button', { name: 'Publish' }).click();
    const told = max.page.getByRole('alert').filter({ hasText: 'someone else published this variant' });
    await told.waitFor();
    expect(await told.textContent()).toContain(`console mia published version ${mias}`);
    expect(await live('annual/en/14')).toBe(mias);
    // Max's text is still in the editor, to compare and publish deliberately.
    expect(await max.page.getByLabel('Subject').inputValue()).toContain('licenses end in {{plural');
  } finally {
    await max.context.close();
  }
}, 120_000);

it('the preview is filled with a real license chosen by key, and a saved draft reopens but is never sent', async () => {
  const { page } = mia;
  await openEditor(page, 'family=annual&offset=30&locale=en');
  const licenseField = page.getByLabel('Fill with license key (empty: the sample data)');
  await licenseField.fill('KEY-NOPE');
  await licenseField.press('Enter');
  await page.locator('#preview-license-problem', { hasText: 'no license with key "KEY-NOPE"' }).waitFor();
  expect(await page.locator('#preview-filled').textContent()).toBe('the sample data');
  await licenseField.fill('KEY-NEW-SUBJECT');
  await licenseField.press('Enter');
  await page.locator('#preview-filled', { hasText: 'license KEY-NEW-SUBJECT (buyer@new-subject.example)' }).waitFor();
  // One license: the subject's single wording, and the customer's own order in the email.
  expect(await page.locator('#preview-subject').textContent()).toBe('Keep your annual license: 30 days left');
  await page.frameLocator('#preview-desktop').getByText('Customer KEY-NEW-SUBJECT').first().waitFor();

  const liveBefore = await live('annual/en/30');
  await page.getByLabel('Subject').fill('{{#if single}}Draft: {{plural daysLeft one="# day" other="# days"}} left{{else}}Drafts: {{plural daysLeft one="# day" other="# days"}} left{{/if}}');
  await page.locator('#preview-subject', { hasText: 'Draft: 30 days left' }).waitFor();
  await page.getByLabel('Message (what changed and why)').fill('idea for later');
  await page.getByRole('button', { name: 'Save draft' }).click();
  await page.locator('.notice', { hasText: /Draft \d+ saved/ }).waitFor();
  await page.locator('body[data-editor="ready"]').waitFor();
  expect(await page.getByLabel('Subject').inputValue()).toContain('Draft: {{plural');
  expect(await page.locator('.strip').textContent()).toContain('draft saved by console mia');
  expect(await live('annual/en/30')).toBe(liveBefore);
  const drafts = await t.app.db.selectFrom('template_drafts').select(['actor', 'base_version', 'message']).execute();
  expect(drafts).toEqual([{ actor: 'console mia', base_version: liveBefore, message: 'idea for later' }]);
  // Opened again without the draft: the live version, with the draft listed.
  await openEditor(page, 'family=annual&offset=30&locale=en');
  expect(await page.getByLabel('Subject').inputValue()).toContain('Keep your annual license');
  await page.getByRole('link', { name: /^Draft \d+$/ }).click();
  await page.locator('body[data-editor="ready"]').waitFor();
  expect(await page.getByLabel('Subject').inputValue()).toContain('Draft: {{plural');
}, 60_000);

it('the history shows who published what and when, a diff between two versions, and rolls back from the page', async () => {
  const { page } = mia;
  await openEditor(page, 'family=annual&offset=30&locale=en');
  const history = page.getByRole('table', { name: 'History' });
  expect(await history.textContent()).toContain('console mia');
  expect(await history.textContent()).toContain('migrate');
  const published = (await live('annual/en/30'))!;
  await page.getByLabel('From version').selectOption(shippedVersion);
  await page.getByLabel('To version', { exact: true }).selectOption(published);
  await page.getByRole('button', { name: 'Show the differences' }).click();
  const diff = page.getByLabel('Differences');
  await diff.waitFor();
  expect(await diff.locator('.add').allTextContents()).toEqual(expect.arrayContaining([expect.stringContaining('Keep your annual license')]));
  expect(await diff.locator('.del').allTextContents()).toEqual(expect.arrayContaining([expect.stringContaining('Your annual license expires in')]));

  await openEditor(page, 'family=annual&offset=30&locale=en');
  await page.getByRole('button', { name: `Roll back to version ${shippedVersion}` }).click();
  await page.locator('.notice', { hasText: `Rolled back to version ${shippedVersion}` }).waitFor();
  expect(await live('annual/en/30')).toBe(shippedVersion);
  const last = await t.app.db.selectFrom('template_publications').selectAll().orderBy('id', 'desc').limit(1).executeTakeFirstOrThrow();
  expect(last).toMatchObject({ action: 'rollback', actor: 'console mia', source: 'console', version: shippedVersion });
  // The workers send the shipped subject again.
  await dueIn30('KEY-ROLLED-BACK', 'buyer@rolled-back.example');
  await t.scan(today);
  expect(await sentSubject('buyer@rolled-back.example')).toBe('Your annual license expires in 30 days');
}, 120_000);

it('arm B is written and published from the editor, and the experiment ends from the page keeping B', async () => {
  const { page } = mia;
  const a = await live('annual/en/60');
  await openEditor(page, 'family=annual&offset=60&locale=en&arm=B');
  expect(await page.locator('.strip').textContent()).toContain('arm B starts as a copy of it');
  await page.getByLabel('Subject').fill('{{#if single}}Renew early: {{plural daysLeft one="# day" other="# days"}} left on your license{{else}}Renew early: {{plural daysLeft one="# day" other="# days"}} left on your {{itemCount}} licenses{{/if}}');
  await page.locator('#preview-subject', { hasText: 'Renew early: 60 days left on your 2 licenses' }).waitFor();
  await previewSettled(page);
  await page.getByLabel('Message (what changed and why)').fill('Try an urgent 60-day subject');
  await page.getByRole('button', { name: 'Publish' }).click();
  await page.locator('.notice', { hasText: 'Published version' }).waitFor();
  const b = await live('annual/en/60', 'B');
  expect(b).toBeDefined();
  expect(b).not.toBe(a);
  expect(await live('annual/en/60')).toBe(a);

  await openEditor(page, 'family=annual&offset=60&locale=en');
  await page.getByRole('button', { name: 'End the experiment, keep B' }).click();
  await page.locator('.notice', { hasText: 'Experiment ended' }).waitFor();
  expect(await live('annual/en/60')).toBe(b);
  expect(await live('annual/en/60', 'B')).toBeUndefined();
  const last = await t.app.db.selectFrom('template_publications').selectAll().orderBy('id', 'desc').limit(1).executeTakeFirstOrThrow();
  expect(last).toMatchObject({ action: 'end-experiment', actor: 'console mia', source: 'console' });
}, 60_000);

it('a viewer reads the editor but cannot publish or roll back, even with a forged request carrying its own CSRF token', async () => {
  const vera = await signedIn(VERA);
  try {
    const { page, context } = vera;
    await openEditor(page, 'family=annual&offset=30&locale=en');
    expect(await page.getByRole('button', { name: 'Publish' }).count()).toBe(0);
    expect(await page.locator('.cm-content').getAttribute('contenteditable')).toBe('false');
    const csrf = await page.locator('input[name="_csrf"]').first().inputValue();
    const before = await live('annual/en/30');
    const files = await t.app.db.selectFrom('template_versions').select('files').where('version', '=', before!).executeTakeFirstOrThrow();
    const forged = { ...files.files, 'annual/en.mjml': files.files['annual/en.mjml']!.replace('Your annual license expires in', 'Forged: your annual license expires in') };
    const publish = await context.request.post(`${base}/console/templates/publish`, { form: { _csrf: csrf, variant: 'annual/en/30', arm: 'A', base: before!, files: JSON.stringify(forged), message: 'forged' } });
    expect(publish.status()).toBe(403);
    const rollback = await context.request.post(`${base}/console/templates/rollback`, { form: { _csrf: csrf, variant: 'annual/en/30', version: before! } });
    expect(rollback.status()).toBe(403);
    const test = await context.request.post(`${base}/console/templates/send-test`, { form: { _csrf: csrf, variant: 'annual/en/30', arm: 'A', files: JSON.stringify(forged) } });
    expect(test.status()).toBe(403);
    expect(await live('annual/en/30')).toBe(before);
    expect(await t.app.db.selectFrom('template_publications').select('id').where('message', '=', 'forged').execute()).toEqual([]);
  } finally {
    await vera.context.close();
  }
}, 60_000);

it('the outcomes page shows the table of report outcomes for the chosen dates, with its chart', async () => {
  const E = '2026-03-31';
  const seed = async (key: string, offset: number, version: string, arm: 'A' | 'B', renewedOn: string | null) => {
    const { orderId } = await insertOrder(t.app.db, { orderNumber: `ORD-OUT-${key}`, contacts: [{ email: `${key}@outcomes.example` }] });
    const licenseId = await insertLicense(t.app.db, { orderId, key, expiresOn: renewedOn ? addDays(E, 365) : E });
    const scanDate = addDays(E, -offset);
    await t.app.db
      .insertInto('reminder_ledger')
      .values({ kind: 'license', license_id: licenseId, license_key: key, order_id: orderId, order_number: `ORD-OUT-${key}`, expires_on: E, offset_days: offset, recipient: `${key}@outcomes.example`, scan_date: scanDate, group_key: `out-${key}`, status: 'sent', reason: null, sent_at: `${scanDate}T06:00:00Z`, template_version: version, template_arm: arm, template_locale: 'en' })
      .execute();
    if (renewedOn) await t.app.db.insertInto('license_renewals').values({ license_id: licenseId, kind: 'license', old_expires_on: E, new_expires_on: addDays(E, 365), observed_on: renewedOn }).execute();
  };
  await seed('o1', 30, 'aaaaaaaaaaaa', 'A', '2026-03-10');
  await seed('o2', 30, 'aaaaaaaaaaaa', 'A', null);
  await seed('o3', 30, 'bbbbbbbbbbbb', 'B', '2026-03-05');
  await seed('o4', 30, 'bbbbbbbbbbbb', 'B', '2026-04-10');

  const { page } = mia;
  await page.goto(`${base}/console/outcomes?from=2026-01-01&to=2026-06-30`);
  await page.locator('body[data-charts="drawn"]').waitFor();
  const table = page.getByRole('table', { name: 'Per variant, version and arm' });
  const cells = await table.locator('tbody tr').evaluateAll((rows) => rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent?.trim())));
  // The page shows exactly what `reminders report outcomes` computes, and the seeded history is known.
  expect(cells).toEqual([
    ['license', '30', 'en', 'aaaaaaaaaaaa', 'A', '2', '1', '0', '1', '9'],
    ['license', '30', 'en', 'bbbbbbbbbbbb', 'B', '2', '1', '1', '0', '22'],
  ]);
  const report = await outcomesReport(t.app.db, { from: '2026-01-01', to: '2026-06-30', asOf: today });
  expect(report.rows.map((r) => [r.kind, String(r.offset), r.locale, r.templateVersion, r.arm, String(r.sent), String(r.renewedBeforeExpiry), String(r.renewedAfterExpiry), String(r.notRenewed), String(r.medianDaysToRenewal ?? '—')])).toEqual(cells);
  expect(await page.getByRole('table', { name: 'Experiments: arm B against arm A' }).textContent()).toMatch(/not yet significant/i);
  expect(await page.locator('#chart-outcomes').evaluate((c) => c.clientWidth)).toBeGreaterThan(0);
  await saveScreenshot(page, 'console-outcomes');

  // A range without those reminders: none of them.
  await page.getByLabel('Sent from').fill('2026-07-01');
  await page.getByLabel('Sent to').fill('2026-07-31');
  await page.getByRole('button', { name: 'Show' }).click();
  await page.getByText('No reminders sent in that range.').waitFor();
}, 60_000);
