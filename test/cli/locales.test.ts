import path from 'node:path';
import { addDays, businessDate } from '../../src/dates';
import { runCli } from '../helpers/cli';
import { insertLicense, insertOrder } from '../helpers/fixtures';
import { duplicateDeliveries, startSmtpServer, type SmtpTestServer } from '../helpers/smtp';
import { editFile, useTemplateCopies } from '../helpers/template-copies';
import { createTestEnv, type TestEnv } from '../helpers/test-env';
import { COPY_FOOTERS } from '../helpers/copy-footers';

// Contacts everywhere, through the real command line: `scan`, `work --drain`, `templates render`
// and `send-test` read a contact's locale the same way.
jest.setTimeout(300_000);

const TODAY = businessDate(new Date(), 'UTC');

const copy = useTemplateCopies();
let t: TestEnv;
let smtp: SmtpTestServer;
let env: Record<string, string>;

beforeAll(async () => {
  smtp = await startSmtpServer();
  t = await createTestEnv('cli_locales');
  env = { ...t.env, SMTP_URL: smtp.url, SEND_RATE_PER_SEC: '1000' };
});

afterAll(async () => {
  await t?.cleanup();
  await smtp?.close();
});

beforeEach(async () => {
  await t.reset();
  smtp.clear();
});

const FOOTER = COPY_FOOTERS;

/** [contact locale as the portal stored it, copy expected, locale its dates are written in]. */
const CONTACTS: Array<[string, string, string]> = [
  ['en', 'en', 'en'],
  ['en-US', 'en', 'en-US'],
  ['en_GB', 'en', 'en-GB'],
  ['EN_us', 'en', 'en-US'],
  ['fr', 'fr', 'fr'],
  ['fr_FR', 'fr', 'fr-FR'],
  ['fr-CA', 'fr', 'fr-CA'],
  ['es', 'es', 'es'],
  ['es-MX', 'es', 'es-MX'],
  ['ja', 'ja', 'ja'],
  ['de', 'de', 'de'],
  ['de-CH', 'de', 'de-CH'],
  ['de-', 'de', 'de'],
  ['it', 'en', 'it'],
  ['nl', 'en', 'nl'],
  ['pt-BR', 'en', 'pt-BR'],
  ['pt_BR', 'en', 'pt-BR'],
  ['zh-CN', 'en', 'zh-CN'],
  ['ar', 'en', 'ar'],
  ['ko', 'en', 'ko'],
  ['xx', 'en', 'en'],
  ['', 'en', 'en'],
];

const escapeHtml = (value: string) => value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#x27;');
const longDate = (iso: string, locale: string) => new Intl.DateTimeFormat(locale, { year: 'numeric', month: 'long', day: 'numeric', timeZone: 'UTC' }).format(new Date(`${iso}T00:00:00Z`));
/** Which no-break space a date uses (U+00A0, U+202F or none) differs between ICU's entry points: it reads the same. */
const spaces = (text: string) => text.replace(/[\u00a0\u202f]/g, ' ');
const address = (index: number) => `contact${index}@example.com`;

/** What a user sees when something is wrong: one line starting "reminders:", exit 2. */
function expectRefused(result: { code: number | string; stderr: string; stdout: string }, pattern: RegExp): void {
  expect(result.code).toBe(2);
  const lines = result.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(result.stdout).toBe('');
}

it(`sends one email to each contact in ${CONTACTS.length} locales, in their copy and with their dates`, async () => {
  const expiresOn = addDays(TODAY, 30);
  for (const [index, [locale]] of CONTACTS.entries()) {
    const { orderId } = await insertOrder(t.app.db, { contacts: [{ email: address(index), name: `Contact ${index}`, locale }] });
    await insertLicense(t.app.db, { orderId, expiresOn, key: `KEY-LOCALE-${index}` });
  }
  const scan = await runCli(['scan'], env);
  expect(scan.code).toBe(0);
  expect(scan.stdout).toMatch(new RegExp(`Scan for ${TODAY}: ${CONTACTS.length} queued`));
  const work = await runCli(['work', '--drain'], env);
  expect(work.code).toBe(0);

  const rows = await t.app.db.selectFrom('reminder_ledger').select(['recipient', 'status', 'reason']).execute();
  expect(rows.filter((r) => r.status !== 'sent')).toEqual([]);
  expect(duplicateDeliveries(smtp.received)).toEqual([]);
  for (const [index, [locale, copy, format]] of CONTACTS.entries()) {
    const mails = smtp.received.filter((m) => m.to === address(index));
    expect({ locale, emails: mails.length }).toEqual({ locale, emails: 1 });
    const html = mails[0]!.parsed.html as string;
    expect({ locale, copy: html.includes(FOOTER[copy]!) }).toEqual({ locale, copy: true });
    expect({ locale, date: spaces(html).includes(spaces(escapeHtml(longDate(expiresOn, format)))) }).toEqual({ locale, date: true });
    expect(html).toContain(`KEY-LOCALE-${index}`);
  }

  // `render --license` shows exactly what the worker sent that contact: the same resolution.
  for (const index of [2, 5, 9, 15, 20]) {
    const rendered = await runCli(['templates', 'render', '--kind', 'annual', '--offset', '30', '--license', `KEY-LOCALE-${index}`], env);
    expect(rendered.code).toBe(0);
    const sent = smtp.received.find((m) => m.to === address(index))!;
    expect(rendered.stderr).toContain(`Subject: ${sent.parsed.subject} (`);
    expect(rendered.stdout.trim()).toBe((sent.parsed.html as string).trim());
  }
});

it('render and send-test use the worker\'s resolution for any locale, and refuse an offset no reminder is sent for', async () => {
  const gb = await runCli(['templates', 'render', '--kind', 'annual', '--offset', '30', '--locale', 'en_GB', '--text'], env);
  expect(gb.code).toBe(0);
  expect(gb.stderr).toMatch(/copy en, dates and numbers en-GB\)$/m);
  const day = (n: number) => addDays(TODAY, n);
  expect(spaces(gb.stdout)).toContain(spaces(longDate(day(30), 'en-GB')));

  const unknown = await runCli(['templates', 'render', '--kind', 'maintenance', '--offset', '7', '--locale', 'xx', '--text'], env);
  expect(unknown.code).toBe(0);
  expect(unknown.stderr).toMatch(/copy en, dates and numbers en\)$/m);
  expect(unknown.stdout).toContain(FOOTER.en);

  const lenient = await runCli(['templates', 'render', '--kind', 'annual', '--offset', '14', '--locale', 'de-', '--text'], env);
  expect(lenient.code).toBe(0);
  expect(lenient.stdout).toContain(FOOTER.de);

  expectRefused(
    await runCli(['templates', 'render', '--kind', 'annual', '--offset', '5'], env),
    /^reminders: --offset 5: no reminder is sent 5 day\(s\) before expiry \(REMINDER_OFFSETS is 90,60,30,14,7,0\)/,
  );
  expectRefused(
    await runCli(['templates', 'send-test', '--kind', 'annual', '--offset', '45', '--to', 'me@example.com'], env),
    /^reminders: --offset 45: no reminder is sent/,
  );
  expectRefused(await runCli(['templates', 'render', '--kind', 'annual', '--expired', '--offset', '30'], env), /^reminders: --expired is the expiry-day reminder/);
  expectRefused(await runCli(['templates', 'render', '--kind', 'annual', '--offset', '30', '--locale', '../x'], env), /"\.\.\/x" is not a language/);
  // A template the worker's guard would refuse is not shown as if it were sent.
  const dir = copy();
  editFile(path.join(dir, 'common/en.mjml'), (text) => text.replace(/<br \/><a href="\{\{links\.unsubscribe\}\}">[^<]*<\/a>/, ''));
  const refused = await runCli(['templates', 'render', '--kind', 'annual', '--offset', '30', '--locale', 'en_GB'], { ...env, TEMPLATES_DIR: dir });
  expect(refused.code).toBe(2);
  expect(refused.stdout).toBe('');
  expect(refused.stderr).toMatch(/common\/en\.mjml:\d+: the email does not show the unsubscribe link/);
  expect(refused.stderr.trim().split('\n').pop()).toMatch(/^reminders: the license template \(en_GB, offset 30\) fails the checks of `templates validate`: the worker would not send it/);

  // With other offsets configured, the one a worker of that configuration sends is accepted.
  const custom = await runCli(['templates', 'render', '--kind', 'annual', '--offset', '45', '--text'], { ...env, REMINDER_OFFSETS: '45,0' });
  expect(custom.code).toBe(0);
  expect(smtp.received).toHaveLength(0);

  const sent = await runCli(['templates', 'send-test', '--kind', 'annual', '--offset', '30', '--locale', 'fr_CA', '--to', 'marketer@example.com'], env);
  expect(sent.code).toBe(0);
  expect(sent.stdout).toMatch(/\(copy fr, dates and numbers fr-CA\)/);
  expect(smtp.received).toHaveLength(1);
  expect(smtp.received[0]!.parsed.subject).toBe('[TEST] Vos 2 licences annuelles expirent dans 30 jours');
  expect(spaces(smtp.received[0]!.parsed.html as string)).toContain(spaces(escapeHtml(longDate(day(30), 'fr-CA'))));
});

it('scan --date in the past needs --force, and the email states the days left as of the day it is sent', async () => {
  const { orderId } = await insertOrder(t.app.db, { contacts: [{ email: 'late@example.com', locale: 'en' }] });
  await insertLicense(t.app.db, { orderId, expiresOn: TODAY, key: 'KEY-LATE' });
  const past = addDays(TODAY, -14);

  const refused = await runCli(['scan', '--date', past], env);
  expectRefused(refused, new RegExp(`^reminders: ${past} is 14 day\\(s\\) before today \\(${TODAY} in UTC\\): .*--force`));
  expect(await t.app.db.selectFrom('reminder_ledger').select('id').execute()).toEqual([]);

  const forced = await runCli(['scan', '--date', past, '--force'], env);
  expect(forced.code).toBe(0);
  expect(forced.stdout).toMatch(new RegExp(`Scan for ${past}: 1 queued`));
  expect((await runCli(['work', '--drain'], env)).code).toBe(0);

  const mails = smtp.received.filter((m) => m.to === 'late@example.com');
  expect(mails).toHaveLength(1);
  // Sent on the expiry day: it says so, not "expires in 14 days" (nor 13).
  expect(mails[0]!.parsed.subject).toBe('Your annual license expires today');
  expect(mails[0]!.parsed.text).not.toMatch(/\b1[34] days\b/);
  const [row] = await t.app.db.selectFrom('reminder_ledger').select(['offset_days', 'status']).execute();
  expect(row).toEqual({ offset_days: 14, status: 'sent' });
});
