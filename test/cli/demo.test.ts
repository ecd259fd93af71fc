import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import pg from 'pg';
import { exited, ROOT, runCli } from '../helpers/cli';
import { deleteQueueKeys } from '../../src/queue/queue-keys';

// The newcomer's first hour: `npm run demo`, then the commands it suggests, exactly as printed.
jest.setTimeout(300_000);

const ADMIN_URL = process.env.TEST_ADMIN_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const suffix = randomBytes(4).toString('hex');
const database = `rt_demo_${suffix}`;
const prefix = `test-demo-${suffix}`;
const outbox = mkdtempSync(path.join(os.tmpdir(), 'demo-outbox-'));

afterAll(async () => {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  await client.query(`drop database if exists ${database} with (force)`);
  await client.end();
  await deleteQueueKeys(REDIS_URL, prefix);
  rmSync(outbox, { recursive: true, force: true });
});

/** Splits a printed command line into words, honouring single quotes and dropping a trailing comment. */
function words(line: string): string[] {
  const result: string[] = [];
  for (const match of line.replace(/\s+#.*$/, '').matchAll(/'((?:[^']|'\\'')*)'|(\S+)/g)) result.push(match[1] !== undefined ? match[1].replace(/'\\''/g, "'") : (match[2] as string));
  return result;
}

it('runs, says what it left out, and suggests commands that work as printed', async () => {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${database}`;
  const env = { ...process.env, DEMO_DATABASE_URL: url.toString(), DEMO_QUEUE_PREFIX: prefix, OUTBOX_DIR: outbox, REDIS_URL, SMTP_URL: '' };
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  expect(await exited(child)).toBe(0);

  // What the README promises the demo shows.
  expect(output).toMatch(/Left out of every scan by design.*: [1-9]\d* unsubscribed contact\(s\), [1-9]\d* cancelled license\(s\)/);
  expect(output).toMatch(/Also: [1-9]\d* "has expired" email\(s\)/);
  const index = readFileSync(path.join(outbox, 'index.html'), 'utf8');
  expect(index).toMatch(/<th>day<\/th><th>kind<\/th><th>reminder<\/th><th>to<\/th>/);
  expect(index).toMatch(/<td>\d{4}-\d{2}-\d{2}<\/td><td>annual license<\/td><td>expired \(sent late\)<\/td>/);
  expect(existsSync(path.join(outbox, 'index.html'))).toBe(true);

  // The suggested commands, run as printed after the printed `export`.
  const lines = output.split('\n');
  const exported = lines.find((line) => line.trim().startsWith('export '));
  expect(exported).toBeDefined();
  const cliEnv: Record<string, string> = { REDIS_URL, OUTBOX_DIR: outbox, LOG_LEVEL: 'silent' };
  for (const assignment of words(exported!.trim()).slice(1)) {
    const [name, ...value] = assignment.split('=');
    cliEnv[name as string] = value.join('=');
  }
  expect(cliEnv.DATABASE_URL).toBe(url.toString());
  const suggested = lines
    .filter((line) => line.trim().startsWith('npm run --silent cli --'))
    .map((line) => words(line.trim()).slice(5))
    .filter((args) => args[0] !== 'templates'); // the preview serves until stopped
  expect(suggested.map((args) => args[0])).toEqual(['failed', 'history', 'forecast']);
  for (const args of suggested) {
    const result = await runCli(args, cliEnv);
    expect({ args, code: result.code, stderr: result.stderr }).toEqual({ args, code: 0, stderr: '' });
    if (args[0] === 'failed') expect(result.stdout).toMatch(/failed/);
    if (args[0] === 'history') expect(result.stdout).toMatch(/status FAILED/);
    if (args[0] === 'forecast') expect(result.stdout).toMatch(/^[1-9]\d* email\(s\) on [1-9]\d* of 30 day\(s\)/m);
  }
});
