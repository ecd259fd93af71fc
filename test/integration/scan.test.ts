import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { addDays } from '../../src/dates';
import { forecast } from '../../src/scan/forecast';
import { insertLicense, insertOrder } from '../helpers/fixtures';
import { createTestEnv, type TestEnv } from '../helpers/test-env';
import { SEND_JOB } from '../../src/delivery/send-job-payload';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '../..');
const T = '2027-03-01';

let t: TestEnv;
beforeAll(async () => {
  t = await createTestEnv('scan');
});
afterAll(async () => {
  await t?.cleanup();
});
beforeEach(async () => {
  await t.reset();
});

const scan = (date: string) => t.scan(date);
const ledger = () =>
  t.app.db
    .selectFrom('reminder_ledger')
    .select(['license_id', 'kind', 'expires_on', 'offset_days', 'recipient', 'status', 'reason', 'scan_date', 'group_key'])
    .orderBy('id')
    .execute();

async function annual(expiresOn: string | null, contacts = [{ email: 'ann@example.com' }], extra: Partial<Parameters<typeof insertLicense>[1]> = {}) {
  const { orderId } = await insertOrder(t.app.db, { contacts });
  const licenseId = await insertLicense(t.app.db, { orderId, type: 'annual', expiresOn, ...extra });
  return { orderId, licenseId };
}

describe('the scan for a business date', () => {
  it.each([90, 60, 30, 14, 7, 0])('queues the %i-day reminder on its day', async (offset) => {
    await annual(addDays(T, offset));
    const summary = await scan(T);
    expect(summary.counts).toEqual([{ kind: 'license', offset, queued: 1, late: 0, skipped: 0 }]);
    const rows = await ledger();
    expect(rows).toMatchObject([{ offset_days: offset, status: 'pending', scan_date: T, recipient: 'ann@example.com' }]);
    const jobs = await t.app.sendQueue().getJobs(['waiting', 'delayed', 'prioritized']);
    expect(jobs.map((j) => [j.data.groupKey, j.name])).toEqual([[rows[0]?.group_key, SEND_JOB]]);
    expect(jobs[0]?.id?.startsWith(`${rows[0]?.group_key}~`)).toBe(true);
  });

  it('queues nothing on days that are not due', async () => {
    for (const d of [91, 89, 59, 31, 29, 15, 13, 8, 6, 1, -1]) await annual(addDays(T, d), [{ email: `x${d}@example.com` }]);
    const summary = await scan(T);
    // 89, 59, 29, 13, 6 are inside catch-up windows: nothing was missed, so they are late sends only
    // when no scan ran on their day. Here the ledger is empty, so they catch up; the others stay silent.
    const due = (await ledger()).map((r) => r.recipient).sort();
    expect(due).toEqual(['x-1@example.com', 'x13@example.com', 'x29@example.com', 'x59@example.com', 'x6@example.com', 'x89@example.com']);
    expect(summary.caughtUp).toBe(6);
  });

  it('gives no reminders for NULL dates, cancelled licenses or unsubscribed contacts', async () => {
    await annual(null);
    await annual(addDays(T, 30), [{ email: 'c@example.com' }], { status: 'cancelled' });
    await annual(addDays(T, 30), [{ email: 'gone@example.com', unsubscribed: true } as never, { email: 'stays@example.com' }]);
    const { orderId } = await insertOrder(t.app.db, { contacts: [{ email: 'life@example.com' }] });
    await insertLicense(t.app.db, { orderId, type: 'lifetime', expiresOn: null, maintenanceExpiresOn: null });
    // An annual license's maintenance date is part of its subscription: no maintenance reminders.
    await annual(addDays(T, 60), [{ email: 'annual-maint@example.com' }], { maintenanceExpiresOn: addDays(T, 30) } as never);
    await scan(T);
    expect((await ledger()).map((r) => [r.recipient, r.kind, r.offset_days])).toEqual([
      ['stays@example.com', 'license', 30],
      ['annual-maint@example.com', 'license', 60],
    ]);
  });

  it('reads maintenance reminders from lifetime licenses', async () => {
    const { orderId } = await insertOrder(t.app.db, { contacts: [{ email: 'life@example.com' }] });
    await insertLicense(t.app.db, { orderId, type: 'lifetime', expiresOn: addDays(T, 14), maintenanceExpiresOn: addDays(T, 7) });
    await scan(T);
    expect((await ledger()).map((r) => [r.kind, r.offset_days])).toEqual([['maintenance', 7]]);
  });

  it('is idempotent: repeated scans record and queue the same set', async () => {
    await annual(addDays(T, 30), [{ email: 'a@example.com' }, { email: 'b@example.com' }]);
    await annual(addDays(T, 7));
    const first = await scan(T);
    const before = await ledger();
    const jobsBefore = (await t.app.sendQueue().getJobs(['waiting', 'delayed', 'prioritized'])).map((j) => j.id).sort();
    for (let i = 0; i < 3; i++) {
      const again = await scan(T);
      expect(again.queued).toBe(0);
    }
    expect(first.queued).toBe(3);
    expect(await ledger()).toEqual(before);
    expect((await t.app.sendQueue().getJobs(['waiting', 'delayed', 'prioritized'])).map((j) => j.id).sort()).toEqual(jobsBefore);
    expect(jobsBefore).toHaveLength(3);
  });

  it('rebuilds the queue from the ledger after Redis lost everything', async () => {
    await annual(addDays(T, 30));
    await scan(T);
    await t.app.sendQueue().obliterate({ force: true });
    const summary = await scan(T);
    expect(summary.queued).toBe(0);
    expect(summary.jobsSubmitted).toBe(1);
    expect(await t.app.sendQueue().getJobCounts('waiting')).toEqual({ waiting: 1 });
    // A row the ledger says went out is never queued again.
    await t.app.db.updateTable('reminder_ledger').set({ status: 'sent' }).execute();
    await t.app.sendQueue().obliterate({ force: true });
    await scan(T);
    expect(await t.app.sendQueue().getJobCounts('waiting')).toEqual({ waiting: 0 });
  });

  it('catches up inside the window and not outside it', async () => {
    await annual(addDays(T, 28), [{ email: 'inside@example.com' }]);
    await annual(addDays(T, 26), [{ email: 'outside@example.com' }]);
    const summary = await scan(T);
    expect((await ledger()).map((r) => [r.recipient, r.offset_days, r.status])).toEqual([['inside@example.com', 30, 'pending']]);
    expect(summary.caughtUp).toBe(1);
    expect(summary.counts).toEqual([{ kind: 'license', offset: 30, queued: 1, late: 1, skipped: 0 }]);
  });

  it('records superseded offsets as skipped when catching up over two offsets', async () => {
    const env = await createTestEnv('scan_window', { CATCHUP_DAYS: '10' });
    try {
      const { orderId } = await insertOrder(env.app.db, { contacts: [{ email: 'z@example.com' }] });
      await insertLicense(env.app.db, { orderId, expiresOn: addDays(T, 6) });
      await env.scan(T);
      const rows = await env.app.db.selectFrom('reminder_ledger').select(['offset_days', 'status', 'reason']).orderBy('offset_days').execute();
      expect(rows).toEqual([
        { offset_days: 7, status: 'pending', reason: null },
        { offset_days: 14, status: 'skipped', reason: expect.stringContaining('superseded') },
      ]);
    } finally {
      await env.cleanup();
    }
  });

  it('a license loaded with 20 days left first hears at 14', async () => {
    const expiry = addDays(T, 20);
    await annual(expiry);
    for (let day = T; day <= expiry; day = addDays(day, 1)) await scan(day);
    expect((await ledger()).map((r) => [r.offset_days, r.status])).toEqual([
      [14, 'pending'],
      [7, 'pending'],
      [0, 'pending'],
    ]);
  });

  it('sends the expiry-day reminder late after expiry, within the window', async () => {
    await annual(addDays(T, -2), [{ email: 'late@example.com' }]);
    await annual(addDays(T, -4), [{ email: 'too-late@example.com' }]);
    await scan(T);
    expect((await ledger()).map((r) => [r.recipient, r.offset_days])).toEqual([['late@example.com', 0]]);
  });

  it('a renewal mid-series stops the old series and starts a new one', async () => {
    const { licenseId } = await annual(addDays(T, 30));
    await scan(T);
    const renewed = addDays(T, 30 + 365);
    await t.app.db.updateTable('licenses').set({ expires_on: renewed }).where('id', '=', licenseId).execute();
    for (let day = addDays(T, 1); day <= addDays(T, 23); day = addDays(day, 1)) await scan(day);
    expect((await ledger()).map((r) => [r.expires_on, r.offset_days])).toEqual([[addDays(T, 30), 30]]);
    await scan(addDays(renewed, -90));
    expect((await ledger()).map((r) => [r.expires_on, r.offset_days])).toEqual([
      [addDays(T, 30), 30],
      [renewed, 90],
    ]);
  });

  it('groups one email per address across orders, case-insensitively', async () => {
    await annual(addDays(T, 30), [{ email: 'Buyer@Example.com' }]);
    await annual(addDays(T, 30), [{ email: 'buyer@example.com ' }]);
    await annual(addDays(T, 30), [{ email: 'other@example.com' }]);
    await annual(addDays(T, 60), [{ email: 'buyer@example.com' }]);
    await scan(T);
    const rows = await ledger();
    const buyer30 = rows.filter((r) => r.recipient === 'buyer@example.com' && r.offset_days === 30);
    expect(buyer30).toHaveLength(2);
    expect(new Set(buyer30.map((r) => r.group_key)).size).toBe(1);
    expect(new Set(rows.map((r) => r.group_key)).size).toBe(3);
    const jobs = await t.app.sendQueue().getJobs(['waiting']);
    const buyerJob = jobs.find((j) => j.data.groupKey === buyer30[0]?.group_key);
    expect(buyerJob?.data.ledgerIds).toHaveLength(2);
  });

  it('skips held licenses and suppressed addresses with the reason', async () => {
    const { licenseId } = await annual(addDays(T, 30), [{ email: 'held@example.com' }]);
    await annual(addDays(T, 30), [{ email: 'bounced@example.com' }]);
    await t.app.db.insertInto('license_holds').values({ license_id: licenseId, reason: 'renewal in progress' }).execute();
    await t.app.db.insertInto('suppressed_addresses').values({ address: 'bounced@example.com', reason: 'hard bounce' }).execute();
    await scan(T);
    expect((await ledger()).map((r) => [r.recipient, r.status, r.reason])).toEqual([
      ['held@example.com', 'skipped', 'on hold: renewal in progress'],
      ['bounced@example.com', 'skipped', 'suppressed: hard bounce'],
    ]);
  });

  it('daily scans across DST changes send each offset once', async () => {
    const env = await createTestEnv('scan_dst', { REMINDER_TIMEZONE: 'Europe/Berlin' });
    try {
      const { orderId } = await insertOrder(env.app.db, { contacts: [{ email: 'dst@example.com' }] });
      // 2026-10-25 (fall back) and 2027-03-28 (spring forward) fall inside the series.
      await insertLicense(env.app.db, { orderId, expiresOn: '2027-03-28' });
      for (let day = '2026-12-20'; day <= '2027-04-05'; day = addDays(day, 1)) {
        await env.scan(day);
      }
      const rows = await env.app.db.selectFrom('reminder_ledger').select(['offset_days', 'scan_date']).orderBy('id').execute();
      expect(rows).toEqual([
        { offset_days: 90, scan_date: '2026-12-28' },
        { offset_days: 60, scan_date: '2027-01-27' },
        { offset_days: 30, scan_date: '2027-02-26' },
        { offset_days: 14, scan_date: '2027-03-14' },
        { offset_days: 7, scan_date: '2027-03-21' },
        { offset_days: 0, scan_date: '2027-03-28' },
      ]);
    } finally {
      await env.cleanup();
    }
  });

  it('uses the offsets from configuration', async () => {
    const env = await createTestEnv('scan_offsets', { REMINDER_OFFSETS: '45,5', CATCHUP_DAYS: '0' });
    try {
      const { orderId } = await insertOrder(env.app.db, { contacts: [{ email: 'o@example.com' }] });
      await insertLicense(env.app.db, { orderId, expiresOn: addDays(T, 45) });
      const { orderId: o2 } = await insertOrder(env.app.db, { contacts: [{ email: 'p@example.com' }] });
      await insertLicense(env.app.db, { orderId: o2, expiresOn: addDays(T, 30) });
      const summary = await env.scan(T);
      expect(summary.counts).toEqual([{ kind: 'license', offset: 45, queued: 1, late: 0, skipped: 0 }]);
    } finally {
      await env.cleanup();
    }
  });

  it('reports missed days since the last completed scan', async () => {
    await annual(addDays(T, 28));
    await scan(addDays(T, -5));
    const summary = await scan(T);
    expect(summary.missedDays).toBe(4);
    expect(summary.caughtUp).toBe(1);
  });

  it('answers from the expiry indexes, not a table scan', async () => {
    await sql`insert into orders (id, order_number, customer_name) select g, 'BULK-' || g, 'Bulk' from generate_series(1, 20000) g`.execute(t.app.db);
    await sql`insert into licenses (order_id, license_key, product, license_type, expires_on, maintenance_expires_on)
      select g, 'K' || g, 'P', case when g % 2 = 0 then 'annual' else 'lifetime' end,
             date '2020-01-01' + (g % 3000), date '2020-01-01' + (g % 3000) from generate_series(1, 20000) g`.execute(t.app.db);
    await sql`analyze licenses`.execute(t.app.db);
    for (const [column, type] of [['expires_on', 'annual'], ['maintenance_expires_on', 'lifetime']] as const) {
      const plan = await sql<{ 'QUERY PLAN': string }>`explain select id from licenses l
        where l.license_type = ${sql.lit(type)} and l.status = 'active' and l.${sql.ref(column)} is not null
          and l.${sql.ref(column)} = any(${[T, addDays(T, 30)]}::date[])`.execute(t.app.db);
      const text = plan.rows.map((r) => r['QUERY PLAN']).join('\n');
      expect(text).toMatch(/Index|Bitmap/);
      expect(text).toContain(type === 'annual' ? 'licenses_annual_expiry_idx' : 'licenses_maintenance_expiry_idx');
    }
  });
});

describe('forecast', () => {
  it('predicts the daily series and writes nothing', async () => {
    await annual(addDays(T, 16), [{ email: 'f@example.com' }, { email: 'g@example.com' }]);
    const days = await forecast(t.app.db, t.config, T, 20);
    const sending = days.filter((d) => d.sends.length > 0).map((d) => [d.date, d.sends]);
    expect(sending).toEqual([
      [addDays(T, 2), [{ kind: 'license', offset: 14, emails: 2, reminders: 2, late: 0 }]],
      [addDays(T, 9), [{ kind: 'license', offset: 7, emails: 2, reminders: 2, late: 0 }]],
      [addDays(T, 16), [{ kind: 'license', offset: 0, emails: 2, reminders: 2, late: 0 }]],
    ]);
    expect(await ledger()).toEqual([]);
  });
});

describe('the scan command line', () => {
  const cli = (args: string[]) => run('npx', ['tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, env: { ...process.env, ...t.env } });

  it('two processes scanning at once record and queue the same set as one', async () => {
    for (let i = 0; i < 20; i++) await annual(addDays(T, [90, 60, 30, 14, 7, 0][i % 6] as number), [{ email: `p${i}@example.com` }, { email: 'shared@example.com' }]);
    const [a, b] = await Promise.all([cli(['scan', '--date', T, '--json']), cli(['scan', '--date', T, '--json'])]);
    const queued = JSON.parse(a.stdout).queued + JSON.parse(b.stdout).queued;
    expect(queued).toBe(40);
    const rows = await ledger();
    expect(rows).toHaveLength(40);
    const groups = new Set(rows.map((r) => r.group_key));
    expect(groups.size).toBe(26);
    const jobs = await t.app.sendQueue().getJobs(['waiting']);
    expect(jobs).toHaveLength(26);
    expect(new Set(jobs.map((j) => j.data.groupKey))).toEqual(groups);
  });

  it('prints counts per kind and offset', async () => {
    await annual(addDays(T, 30));
    const { stdout } = await cli(['scan', '--date', T]);
    expect(stdout).toMatch(/Scan for 2027-03-01: 1 queued/);
    expect(stdout).toMatch(/license\s+30\s+1\s+0\s+0/);
  });

  it('rejects a bad date with one line and a non-zero exit', async () => {
    const failure = await cli(['scan', '--date', '2027-02-30']).catch((e: { code: number; stderr: string }) => e);
    expect(failure).toMatchObject({ code: 2 });
    expect((failure as { stderr: string }).stderr.trim().split('\n')[0]).toMatch(/YYYY-MM-DD/);
    expect((failure as { stderr: string }).stderr).not.toMatch(/at .*\.ts:\d+/);
  });

  it('names a bad variable in one line', async () => {
    const failure = await run('npx', ['tsx', 'src/cli/main.ts', 'scan'], {
      cwd: ROOT,
      env: { ...process.env, ...t.env, REMINDER_TIMEZONE: 'Mars/Olympus' },
    }).catch((e: { code: number; stderr: string }) => e);
    expect(failure).toMatchObject({ code: 2 });
    expect((failure as { stderr: string }).stderr).toMatch(/^reminders: Invalid configuration: REMINDER_TIMEZONE .*Mars\/Olympus/);
  });
});
