import type { Command } from 'commander';
import pg from 'pg';
import { buildProgram } from '../../src/cli/program';
import { addDays, businessDate } from '../../src/dates';
import { exited, runCli, spawnCli } from '../helpers/cli';
import { insertLicense, insertOrder } from '../helpers/fixtures';
import { startSmtpServer, type SmtpTestServer } from '../helpers/smtp';
import { createTestEnv, type TestEnv, waitFor } from '../helpers/test-env';

// A newcomer's first commands, run as a user would: on a database nobody migrated, with a URL
// copied from a provider, and with the output piped somewhere.
jest.setTimeout(180_000);

const TODAY = businessDate(new Date(), 'UTC');
const STACK_TRACE = /\n\s+at .+:\d+/;

let t: TestEnv;
let smtp: SmtpTestServer;
/** The variables of `t`, pointed at a database that exists but was never migrated. */
let fresh: Record<string, string>;
let freshName: string;

async function admin(text: string, database = 'postgres'): Promise<void> {
  const url = new URL(t.env.DATABASE_URL as string);
  url.pathname = `/${database}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  t = await createTestEnv('first_run');
  smtp = await startSmtpServer();
  const url = new URL(t.env.DATABASE_URL as string);
  freshName = `${url.pathname.slice(1)}_fresh`;
  await admin(`create database ${freshName}`);
  url.pathname = `/${freshName}`;
  fresh = { ...t.env, DATABASE_URL: url.toString() };
});

afterAll(async () => {
  if (freshName) await admin(`drop database if exists ${freshName} with (force)`).catch(() => undefined);
  await smtp?.close();
  await t?.cleanup();
});

/** One line on stderr, starting "reminders:", no stack trace, nothing on stdout. */
function expectOneLine(result: { stdout: string; stderr: string }, pattern: RegExp): void {
  const lines = result.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^reminders: /);
  expect(lines[0]).toMatch(pattern);
  expect(result.stderr).not.toMatch(STACK_TRACE);
  expect(result.stdout).toBe('');
}

/** Every command that reads or writes the database, with arguments that would otherwise work. */
const NEEDS_TABLES: Record<string, string[]> = {
  scan: ['scan'],
  forecast: ['forecast'],
  work: ['work', '--drain'],
  start: ['start', '--no-http'],
  failed: ['failed'],
  replay: ['replay', '1'],
  history: ['history', '--license', 'KEY-1'],
  hold: ['hold', 'KEY-1', '--reason', 'disputed invoice'],
  release: ['release', 'KEY-1'],
  suppress: ['suppress', 'someone@example.com', '--reason', 'asked by phone'],
  unsuppress: ['unsuppress', 'someone@example.com'],
  'demo-data': ['demo-data'],
  'templates render': ['templates', 'render', '--kind', 'annual', '--offset', '30', '--license', 'KEY-1'],
  'templates version': ['templates', 'version', '1'],
  'users list': ['users', 'list'],
  'users remove': ['users', 'remove', 'alice'],
  'users email': ['users', 'email', 'alice', 'alice@example.com'],
  console: ['console'],
  prune: ['prune', '--older-than', '2y'],
  'report outcomes': ['report', 'outcomes'],
  'report deliverability': ['report', 'deliverability'],
  unreachable: ['unreachable'],
  'templates publish': ['templates', 'publish'],
  'templates versions': ['templates', 'versions'],
  'templates rollback': ['templates', 'rollback', 'abc123'],
  'templates end-experiment': ['templates', 'end-experiment', '--kind', 'annual', '--offset', '30', '--keep', 'A'],
  'templates status': ['templates', 'status'],
  'templates diff': ['templates', 'diff', 'abc123', 'def456'],
};
/** Commands that need the tables too, but read a password from standard input before anything else. */
const PASSWORD_FIRST = ['users add', 'users passwd'];
/**
 * Commands that need no tables: `migrate` creates them; the groups only list their commands; the
 * others read only the template files; `bounces ingest` stores the raw message or exits 75 for
 * the MTA to try again (tested with the bounces).
 */
const NO_TABLES = ['migrate', 'users', 'report', 'bounces', 'bounces ingest', 'templates', 'templates validate', 'templates render', 'templates preview', 'templates send-test'];

function commandPaths(command: Command, prefix = ''): string[] {
  return command.commands.flatMap((sub) => [`${prefix}${sub.name()}`, ...commandPaths(sub, `${prefix}${sub.name()} `)]);
}

describe('a database nobody migrated', () => {
  it('every command is listed here as needing the tables or not (a new command must be too)', () => {
    const listed = new Set([...Object.keys(NEEDS_TABLES), ...NO_TABLES, ...PASSWORD_FIRST]);
    expect(commandPaths(buildProgram()).filter((path) => !listed.has(path))).toEqual([]);
  });

  it.each(Object.entries(NEEDS_TABLES))('%s says to run `reminders migrate` first, in one line, exit 2', async (_name, args) => {
    const result = await runCli(args, fresh);
    expect(result.code).toBe(2);
    expectOneLine(result, /^reminders: The database at postgres:\/\/\S+_fresh has no reminder tables yet: run `reminders migrate` first\.$/);
  });

  it('after `migrate` they run; a database a migration behind names it', async () => {
    const migrated = await runCli(['migrate'], fresh);
    expect(migrated.code).toBe(0);
    expect(migrated.stdout).toMatch(/^Applied \d+ migration\(s\): 0001-portal-tables, /);
    const loaded = await runCli(['demo-data'], fresh);
    expect(loaded.code).toBe(0);
    expect(loaded.stdout).toMatch(/^Loaded \d+ orders/);

    await admin(`delete from kysely_migration where name = (select max(name) from kysely_migration)`, freshName);
    const behind = await runCli(['failed'], fresh);
    expect(behind.code).toBe(2);
    expectOneLine(behind, /lacks 1 migration\(s\) of this release \(\d{4}-[a-z-]+\): run `reminders migrate` first\.$/);
  });
});

describe('a database URL with sslmode', () => {
  it.each([['sslmode=require'], ['sslmode=prefer'], ['sslmode=verify-ca'], ['uselibpqcompat=true&sslmode=require']])(
    '%s against a server without TLS: the one-line error, no driver warning',
    async (query) => {
      const result = await runCli(['failed'], { ...t.env, DATABASE_URL: `${t.env.DATABASE_URL}?${query}` });
      expect(result.code).toBe(2);
      expect(result.stderr).not.toMatch(/SECURITY WARNING|Warning:/);
      expectOneLine(result, /answers, but takes no TLS connections \(The server does not support SSL connections\)/);
    },
  );
});

describe('logs on stderr, results on stdout', () => {
  beforeEach(async () => {
    await t.reset();
    smtp.clear();
  });

  async function due(email: string): Promise<void> {
    const { orderId } = await insertOrder(t.app.db, { contacts: [{ email }] });
    await insertLicense(t.app.db, { orderId, expiresOn: addDays(TODAY, 30) });
    await t.scan(TODAY);
  }

  it('`work --drain` prints only its summary on stdout; every log line on stderr is JSON', async () => {
    await due('stdout@example.com');
    const result = await runCli(['work', '--drain'], { ...t.env, SMTP_URL: smtp.url, LOG_LEVEL: 'info' });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('Drained: 1 sent, 0 failed, 0 unknown, 0 skipped, 0 retried later.\n');
    const logs = result.stderr.trim().split('\n');
    expect(logs.map((line) => (JSON.parse(line) as { msg: string }).msg)).toEqual(expect.arrayContaining(['send worker started: sending what is queued, then exiting', 'drain finished', 'stopped']));
    expect(logs.some((line) => line.includes('"outcome":"sent"'))).toBe(true);
  });

  it('LOG_FORMAT=pretty writes readable lines for a terminal, still on stderr', async () => {
    await due('pretty@example.com');
    const result = await runCli(['work', '--drain'], { ...t.env, SMTP_URL: smtp.url, LOG_LEVEL: 'info', LOG_FORMAT: 'pretty' });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('Drained: 1 sent, 0 failed, 0 unknown, 0 skipped, 0 retried later.\n');
    expect(result.stderr).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: send worker started/m);
    expect(result.stderr).toMatch(/INFO: stopped$/m);
    expect(result.stderr.split('\n').filter((line) => line.startsWith('{'))).toEqual([]);
  });

  it('`start` writes nothing on stdout, from start to SIGTERM', async () => {
    const daemon = spawnCli(['start'], { ...t.env, SMTP_URL: smtp.url, HTTP_PORT: '0', LOG_LEVEL: 'info' });
    await waitFor(() => daemon.stderrText().includes('daemon started'), 'the daemon to start', 90_000);
    daemon.kill('SIGTERM');
    expect({ code: await exited(daemon), stderr: daemon.stderrText() }).toEqual({ code: 0, stderr: expect.any(String) });
    expect(daemon.stdoutText()).toBe('');
    const logs = daemon.stderrText().trim().split('\n');
    expect(logs.map((line) => (JSON.parse(line) as { msg: string }).msg).pop()).toBe('stopped');
  });
});
