import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { DateTime } from 'luxon';
import { addDays } from '../../src/dates';
import { exited, killLeftovers, ROOT } from '../helpers/cli';
import { insertLicense, insertOrder } from '../helpers/fixtures';
import { type PrivateRedis, startPrivateRedis, until } from '../helpers/servers';
import { createTestEnv, type TestEnv } from '../helpers/test-env';

/*
 * The daemon's own clock, moved with libfaketime (Debian's `faketime`) to just before local
 * midnight on the days the clocks change: the scheduler must scan the business date of the zone,
 * once, whether it fires a minute before midnight or at midnight.
 */

jest.setTimeout(6 * 60 * 1000);

let t: TestEnv;
let redis: PrivateRedis;
const children: ChildProcess[] = [];

/** libfaketime's library, preloaded into the daemon itself so that signals reach it directly. */
function faketimeLibrary(): string | undefined {
  try {
    return execFileSync('dpkg', ['-L', 'libfaketime'], { encoding: 'utf8' })
      .split('\n')
      .find((file) => file.endsWith('/libfaketime.so.1'));
  } catch {
    return undefined;
  }
}
let library: string | undefined;

/** `reminders start --no-worker --no-http` with its clock starting at `localStart` in `zone`. */
function startAt(localStart: string, zone: string, env: Record<string, string>): ChildProcess & { output: () => string } {
  const utc = DateTime.fromISO(localStart, { zone }).toUTC().toFormat('yyyy-MM-dd HH:mm:ss');
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'start', '--no-worker', '--no-http'], {
    cwd: ROOT,
    env: { ...process.env, ...env, TZ: 'UTC', LD_PRELOAD: library as string, FAKETIME: `@${utc}`, FAKETIME_DONT_FAKE_MONOTONIC: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return Object.assign(child, { output: () => output });
}

const scanDates = async () => (await t.app.db.selectFrom('scan_runs').select('scan_date').where('completed_at', 'is not', null).execute()).map((r) => r.scan_date).sort();

beforeAll(async () => {
  library = faketimeLibrary();
  if (!library) throw new Error('this test needs libfaketime: apt-get install -y faketime (.ci/run installs it)');
  redis = await startPrivateRedis();
  t = await createTestEnv('midnight', { REDIS_URL: redis.url });
});

afterAll(async () => {
  await killLeftovers(children);
  await t?.cleanup();
  await redis?.close();
});

beforeEach(async () => {
  await t.reset();
  await redis.flush();
});

it.each([
  // Spring forward: 2030-03-10 has 23 hours in New York. Fired at midnight, the scan is the 11th's.
  ['America/New_York', '2030-03-10T23:59:00', '0 0 * * *', '2030-03-11'],
  // Fall back: 2030-10-27 has 25 hours in London. Fired a minute before midnight, it is the 27th's.
  ['Europe/London', '2030-10-27T23:58:00', '59 23 * * *', '2030-10-27'],
  // Fall back in New York, fired at midnight after the 25-hour day.
  ['America/New_York', '2030-11-03T23:59:00', '0 0 * * *', '2030-11-04'],
])('in %s from %s, SCAN_CRON "%s" scans %s once', async (zone, localStart, cron, expected) => {
  const { orderId } = await insertOrder(t.app.db, { contacts: [{ email: 'midnight@example.com' }] });
  await insertLicense(t.app.db, { orderId, expiresOn: addDays(expected, 30) });
  // A minute before the firing: time for the daemon to start and register its schedule.
  const daemon = startAt(localStart, zone, { ...t.env, LOG_LEVEL: 'info', REMINDER_TIMEZONE: zone, SCAN_CRON: cron });
  await until(async () => (await scanDates()).includes(expected), `the scan of ${expected}`, 180_000).catch(async (error: Error) => {
    throw new Error(`${error.message}; scans: ${JSON.stringify(await scanDates())}; daemon said: ${daemon.output().slice(-2000)}`);
  });
  daemon.kill('SIGTERM');
  expect(await exited(daemon)).toBe(0);
  const dates = await scanDates();
  expect(dates.filter((d) => d > expected)).toEqual([]);
  const rows = await t.app.db.selectFrom('reminder_ledger').select(['scan_date', 'offset_days']).execute();
  expect(rows).toEqual([{ scan_date: expected, offset_days: 30 }]);
});
