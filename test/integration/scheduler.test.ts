import { registerDailyScan, scanTodayIfMissed, lastFireDate, requeuePending } from '../../src/queue/scheduler';
import { addDays } from '../../src/dates';
import { insertLicense, insertOrder } from '../helpers/fixtures';
import { createTestEnv, type TestEnv } from '../helpers/test-env';

/** The daemon's own bookkeeping of the daily scan: the scheduler, missed days, lost jobs. */
let t: TestEnv;
beforeAll(async () => {
  t = await createTestEnv('sched', { SCAN_CRON: '0 8 * * *', REMINDER_TIMEZONE: 'Europe/Berlin' });
});
afterAll(async () => {
  await t?.cleanup();
});
beforeEach(async () => {
  await t.reset();
});

const scanJobs = () => t.app.scanQueue().getJobs(['waiting', 'delayed', 'prioritized', 'active']);

it('knows the business date of the latest fire time', () => {
  // 08:00 in Berlin is 07:00 UTC in winter.
  expect(lastFireDate('0 8 * * *', 'Europe/Berlin', new Date('2026-11-27T06:59:00Z'))).toBe('2026-11-26');
  expect(lastFireDate('0 8 * * *', 'Europe/Berlin', new Date('2026-11-27T07:01:00Z'))).toBe('2026-11-27');
  expect(lastFireDate('0 8 * * *', 'America/New_York', new Date('2026-11-28T02:00:00Z'))).toBe('2026-11-27');
});

it('queues a missed scan only after today’s cron time, once however often it is asked', async () => {
  const beforeCron = new Date('2026-11-27T06:30:00Z');
  const afterCron = new Date('2026-11-27T09:00:00Z');
  expect(await scanTodayIfMissed(t.app, beforeCron)).toBe(false);
  expect(await scanTodayIfMissed(t.app, afterCron)).toBe(true);
  expect(await scanTodayIfMissed(t.app, afterCron)).toBe(false);
  const jobs = await scanJobs();
  expect(jobs.map((j) => [j.id, j.data])).toEqual([['catchup.2026-11-27', { date: '2026-11-27' }]]);
});

it('does not queue a scan when today’s has completed, even after a future date was scanned', async () => {
  await t.scan('2026-12-05');
  expect(await scanTodayIfMissed(t.app, new Date('2026-11-27T09:00:00Z'))).toBe(true);
  await t.app.scanQueue().obliterate({ force: true });
  await t.scan('2026-11-27');
  expect(await scanTodayIfMissed(t.app, new Date('2026-11-27T09:00:00Z'))).toBe(false);
});

it('registers the schedule again after Redis lost it, and leaves an identical one alone', async () => {
  await registerDailyScan(t.app);
  const first = await t.app.scanQueue().getJobScheduler('daily-scan');
  expect(first).toMatchObject({ pattern: '0 8 * * *', tz: 'Europe/Berlin' });
  await registerDailyScan(t.app, { quiet: true });
  expect((await t.app.scanQueue().getJobScheduler('daily-scan'))?.next).toBe(first?.next);
  await t.app.scanQueue().obliterate({ force: true });
  expect(await t.app.scanQueue().getJobScheduler('daily-scan')).toBeUndefined();
  await registerDailyScan(t.app, { quiet: true });
  expect(await t.app.scanQueue().getJobSchedulers()).toHaveLength(1);
});

it('resubmits a send job for every pending ledger group', async () => {
  const { orderId } = await insertOrder(t.app.db, { contacts: [{ email: 'p@example.com' }] });
  await insertLicense(t.app.db, { orderId, expiresOn: addDays('2027-01-04', 30) });
  await t.scan('2027-01-04');
  await t.app.sendQueue().obliterate({ force: true });
  expect(await requeuePending(t.app)).toBe(1);
  expect(await t.app.sendQueue().getJobCounts('waiting')).toEqual({ waiting: 1 });
  expect(await requeuePending(t.app)).toBe(1);
  expect(await t.app.sendQueue().getJobCounts('waiting')).toEqual({ waiting: 1 });
});
