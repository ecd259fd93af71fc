import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { addDays, businessDate } from '../../src/dates';
import { closedPort, exited, runCli, spawnCli } from '../helpers/cli';
import { insertLicense, insertOrder } from '../helpers/fixtures';
import { startSmtpServer, type SmtpTestServer } from '../helpers/smtp';
import { createTestEnv, type TestEnv, waitFor } from '../helpers/test-env';

// Each test runs the real command line in a child process, as a user would.
jest.setTimeout(180_000);

const TODAY = businessDate(new Date(), 'UTC');
const STACK_TRACE = /\n\s+at .+:\d+/;

let t: TestEnv;
let smtp: SmtpTestServer;
let templates: string;

beforeAll(async () => {
  t = await createTestEnv('first_hour');
  smtp = await startSmtpServer();
});

afterAll(async () => {
  await smtp?.close();
  await t?.cleanup();
});

beforeEach(async () => {
  await t.reset();
  smtp.clear();
  templates = mkdtempSync(path.join(os.tmpdir(), 'first-hour-templates-'));
  cpSync(path.resolve(__dirname, '../../templates'), templates, { recursive: true });
});

afterEach(() => rmSync(templates, { recursive: true, force: true }));

/** One license of one order, expiring `days` from today, for `email`. */
async function due(email: string, days = 30, key?: string): Promise<void> {
  const { orderId } = await insertOrder(t.app.db, { contacts: [{ email }] });
  await insertLicense(t.app.db, { orderId, key, expiresOn: addDays(TODAY, days) });
}

/** What a user sees when something is wrong: one line starting "reminders:", no stack trace. */
function expectOneLine(result: { stderr: string }, pattern: RegExp): void {
  const lines = result.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^reminders: /);
  expect(lines[0]).toMatch(pattern);
  expect(result.stderr).not.toMatch(STACK_TRACE);
}

describe('everyone: option errors', () => {
  it.each([
    [['scan', '--date', '2026-13-01'], /2026-13-01.*YYYY-MM-DD/],
    [['bogus'], /unknown command 'bogus'/],
    [['failed', '--nope'], /unknown option '--nope'/],
    [['templates', 'render', '--kind', 'weekly', '--offset', '30'], /annual.*maintenance.*"weekly"/],
  ])('%j is one "reminders:" line and exit code 2', async (args, pattern) => {
    const result = await runCli(args, t.env);
    expect(result.code).toBe(2);
    expectOneLine(result, pattern);
  });
});

describe('operator', () => {
  it('tells a missing role, a missing database and a stopped server apart', async () => {
    const url = new URL(t.env.DATABASE_URL as string);
    const role = new URL(url);
    role.username = 'no_such_role_here';
    expectOneLine(await runCli(['failed'], { ...t.env, DATABASE_URL: role.toString() }), /answers, but has no role "no_such_role_here"/);
    const db = new URL(url);
    db.pathname = '/no_such_database_here';
    expectOneLine(await runCli(['failed'], { ...t.env, DATABASE_URL: db.toString() }), /database "no_such_database_here" does not exist.*createdb/);
    const server = new URL(url);
    server.port = String(await closedPort());
    expectOneLine(await runCli(['failed'], { ...t.env, DATABASE_URL: server.toString() }), /Cannot reach PostgreSQL.*ECONNREFUSED.*Start it/);
  });

  it('asks for --force before scanning a date after today', async () => {
    await due('early@example.com', 40);
    const future = addDays(TODAY, 10);
    const refused = await runCli(['scan', '--date', future], t.env);
    expect(refused.code).toBe(2);
    expectOneLine(refused, new RegExp(`${future} is 10 day\\(s\\) after today.*--force`));
    expect(await t.app.db.selectFrom('reminder_ledger').select('id').execute()).toEqual([]);

    const forced = await runCli(['scan', '--date', future, '--force'], t.env);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toMatch(new RegExp(`Scan for ${future}: 1 queued`));
  });

  it('fits `failed` to the width and shows the whole SMTP reply with --wide and in history', async () => {
    const reply = 'Recipient address rejected: this mailbox was closed in 2025 at the request of its owner, see https://example.com/policy/closed-mailboxes';
    smtp.forceReply('gone@example.com', { code: 550, message: reply });
    await due('gone@example.com', 30, 'KEY-GONE-0001');
    await t.scan(TODAY);
    const env = { ...t.env, SMTP_URL: smtp.url };
    const drained = await runCli(['work', '--drain'], env);
    expect(drained.code).toBe(1);
    expect(drained.stdout).toMatch(/Drained: 0 sent, 1 failed, 0 unknown, 0 skipped, 0 retried later\./);

    const narrow = await runCli(['failed'], env);
    expect(narrow.code).toBe(0);
    for (const line of narrow.stdout.trimEnd().split('\n')) expect(line.length).toBeLessThanOrEqual(120);
    expect(narrow.stdout).toMatch(/KEY-GONE-0001/);
    expect(narrow.stdout).toMatch(/550 .*…/);

    const wide = await runCli(['failed', '--wide'], env);
    expect(wide.stdout).toContain(reply);
    const history = await runCli(['history', '--license', 'KEY-GONE-0001'], env);
    expect(history.stdout).toContain(reply);
  });

  it('finds a recorded address that is not a valid one', async () => {
    await due('accounts payable at globex', 30);
    await t.scan(TODAY);
    await t.drain();
    const history = await runCli(['history', '--recipient', 'Accounts Payable at Globex'], t.env);
    expect(history.code).toBe(0);
    expect(history.stdout).toMatch(/status FAILED.*invalid email address "accounts payable at globex"/);
  });

  it('drains with SMTP down: says what it waits for and ends with a summary and a non-zero exit', async () => {
    await due('waiting@example.com', 30);
    const env = { ...t.env, SMTP_URL: `smtp://127.0.0.1:${await closedPort()}?ignoreTLS=true`, SEND_BACKOFF_MS: '600000', SEND_ATTEMPTS: '3', LOG_LEVEL: 'info' };
    // Queued by the command line, so that the jobs carry these attempts and back-off.
    expect((await runCli(['scan'], env)).code).toBe(0);

    // It says what it waits for; stopped by a signal then, it sums up and exits 75.
    const drain = spawnCli(['work', '--drain'], env);
    await waitFor(() => drain.output().includes('waiting: '), 'the drain to say what it waits for', 90_000);
    drain.kill('SIGTERM');
    expect(await exited(drain)).toBe(75);
    expect(drain.output()).toMatch(/waiting: 1 send\(s\) delayed for a retry after SMTP unreachable \([^)]*ECONNREFUSED[^)]*\); next retry in (9|10) min[^"]*\(attempt 2 of 3\)/);
    expect(drain.output()).toMatch(/Stopped by a signal: 0 sent, 0 failed, 0 unknown, 0 skipped, 1 retried later\./);

    // --max-wait bounds the wait: the retry, ten minutes away, stays queued.
    const bounded = await runCli(['work', '--drain', '--max-wait', '1'], env);
    expect(bounded.code).toBe(75);
    expect(bounded.stdout).toMatch(/Stopped at --max-wait: 0 sent, 0 failed, 0 unknown, 0 skipped, 1 retried later\./);
    const lines = bounded.stdout.trim().split('\n');
    expect(lines.filter((line) => line.startsWith('{')).pop()).toMatch(/"msg":"stopped"/);
  });

  it('logs "stopped" as the last line after SIGTERM', async () => {
    const worker = spawnCli(['work'], { ...t.env, LOG_LEVEL: 'info' });
    await waitFor(() => worker.output().includes('send worker started'), 'the worker to start', 60_000);
    worker.kill('SIGTERM');
    expect(await exited(worker)).toBe(0);
    const lines = worker.output().trim().split('\n');
    expect(lines[lines.length - 2]).toMatch(/stopping/);
    expect(lines[lines.length - 1]).toMatch(/"msg":"stopped"/);
  });

  it('forecast sums up the days with nothing due instead of listing zeros', async () => {
    await due('forecast@example.com', 20);
    const result = await runCli(['forecast', '--days', '30'], t.env);
    expect(result.code).toBe(0);
    expect(result.stdout).not.toMatch(/\s0\s+0\s+0\s*$/m);
    expect(result.stdout).toMatch(/3 email\(s\) on 3 of 30 day\(s\) from .* \(nothing due on the other 27\)/);
  });
});

describe('marketer', () => {
  const env = () => ({ ...t.env, TEMPLATES_DIR: templates });
  const edit = (file: string, change: (text: string) => string) => writeFileSync(path.join(templates, file), change(readFileSync(path.join(templates, file), 'utf8')));

  it('accepts the family names for --kind', async () => {
    const result = await runCli(['templates', 'render', '--kind', 'annual', '--offset', '30', '--text'], env());
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/Subject: Your 2 annual licenses expire in 30 days/);
    const lifetime = await runCli(['templates', 'render', '--kind', 'lifetime', '--offset', '30', '--text'], env());
    expect(lifetime.stderr).toMatch(/Subject: .*support & maintenance/i);
  });

  it('render writes the problems to stderr, nothing to stdout, and exits non-zero', async () => {
    edit('annual/en.mjml', (text) => text.replace('## intro 30\n', '## intro 30\n<mj-text>{{renewLink}}</mj-text>\n'));
    const result = await runCli(['templates', 'render', '--kind', 'annual', '--offset', '30'], env());
    expect(result.code).not.toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/annual\/en\.mjml:\d+: unknown variable "renewLink"/);
    expect(result.stderr).not.toMatch(STACK_TRACE);
  });

  it('send-test says in one line that SMTP is down, or what it replied', async () => {
    const down = await runCli(['templates', 'send-test', '--kind', 'annual', '--offset', '30', '--to', 'me@example.com'], {
      ...env(),
      SMTP_URL: `smtp://127.0.0.1:${await closedPort()}?ignoreTLS=true`,
    });
    expect(down.code).toBe(2);
    expectOneLine(down, /Cannot reach the SMTP server at smtp:\/\/127\.0\.0\.1:\d+.*ECONNREFUSED.*Nothing was sent/);

    smtp.forceReply('me@example.com', { code: 550, message: 'No such user here' });
    const refused = await runCli(['templates', 'send-test', '--kind', 'annual', '--offset', '30', '--to', 'me@example.com'], { ...env(), SMTP_URL: smtp.url });
    expect(refused.code).toBe(2);
    expectOneLine(refused, /refused the email to me@example\.com: 550 No such user here\. Nothing was sent\./);
  });

  it('says in one line when --out cannot be written or the templates folder is missing', async () => {
    const out = await runCli(['templates', 'render', '--kind', 'annual', '--offset', '30', '--out', path.join(templates, 'no-such-folder', 'email.html')], env());
    expect(out.code).toBe(2);
    expectOneLine(out, /cannot write --out .*email\.html: its folder does not exist/);
    for (const command of [['validate'], ['render', '--kind', 'annual', '--offset', '30']]) {
      const missing = await runCli(['templates', ...command], { ...env(), TEMPLATES_DIR: path.join(templates, 'nowhere') });
      expect(missing.code).toBe(2);
      expectOneLine(missing, /the templates folder .*nowhere does not exist: set TEMPLATES_DIR/);
    }
  });

  it('says where an item value is available when it is used outside the items loop', async () => {
    edit('annual/en.mjml', (text) => text.replace('## intro\n', '## intro\n<mj-text>Dear {{customerName}}</mj-text>\n'));
    const result = await runCli(['templates', 'validate'], env());
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/annual\/en\.mjml:\d+: "customerName" is a value of each license: use it inside \{\{#each items\}\}/);
    expect(result.stdout).not.toMatch(/unknown variable "customerName"/);
  });

  it('catches the example subject of the templates guide written for one license', async () => {
    const readme = readFileSync(path.resolve(__dirname, '../../docs/templates.md'), 'utf8');
    const example = /## subject 30\n(.+)\n/.exec(readme)?.[1];
    expect(example).toBeDefined();
    // The README's example itself is safe to follow…
    edit('annual/en.mjml', (text) => text.replace('## subject 14\n', `## subject 30\n${example}\n\n## subject 14\n`));
    const safe = await runCli(['templates', 'validate'], env());
    expect(safe.stdout).toMatch(/^Templates OK/m);
    // …and the singular version of it is caught.
    edit('annual/en.mjml', (text) => text.replace(example as string, '{{plural daysLeft one="# day" other="# days"}} left on your annual license: renew in two clicks'));
    const result = await runCli(['templates', 'validate'], env());
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/annual\/en\.mjml:\d+: the subject reads the same for one license and for several \("30 days left on your annual license/);
  });

  it('reports a deleted block once, at the file it was deleted from', async () => {
    edit('common/en.mjml', (text) => text.replace(/## sales-support\n[\s\S]*?(?=## footer)/, ''));
    const result = await runCli(['templates', 'validate'], env());
    expect(result.code).toBe(1);
    const problems = result.stdout.trim().split('\n').slice(0, -1);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/common\/en\.mjml:[1-9]\d*: the "## sales-support" block is missing here, before "## footer" \(common\/de\.mjml has one\)/);
  });
});
