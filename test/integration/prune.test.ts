import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { addDays } from '../../src/dates';
import { pruneLedger } from '../../src/ops/prune';
import { parseAge } from '../../src/ops/prune-age';
import { insertLicense, insertOrder } from '../helpers/fixtures';
import { createTestEnv, type TestEnv } from '../helpers/test-env';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '../..');
const T0 = '2027-03-01';
const TODAY = addDays(T0, 400);

let t: TestEnv;
beforeAll(async () => {
  t = await createTestEnv('prune');
});
afterAll(async () => {
  await t?.cleanup();
});
beforeEach(async () => {
  await t.reset();
  await sql`truncate ledger_prunes, reminder_ledger_archive, reminder_events_archive`.execute(t.app.db);
});

async function license(expiresOn: string, email: string) {
  const { orderId } = await insertOrder(t.app.db, { contacts: [{ email }] });
  return insertLicense(t.app.db, { orderId, expiresOn });
}
const ledger = () => t.app.db.selectFrom('reminder_ledger').select(['id', 'recipient', 'expires_on', 'offset_days', 'status']).orderBy('id').execute();
const markSent = (recipient: string) => t.app.db.updateTable('reminder_ledger').set({ status: 'sent' }).where('recipient', '=', recipient).execute();
const prune = (age: string, today = TODAY) => pruneLedger(t.app.db, { today, age: parseAge(age), catchupDays: t.config.catchupDays, actor: 'test' });

describe('reminders prune', () => {
  it('archives series that expired before the cutoff, with their events, and keeps the rest', async () => {
    await license(T0, 'old@example.com');
    await license(T0, 'old-pending@example.com');
    await license(addDays(TODAY, 30), 'future@example.com');
    await t.scan(T0);
    await t.scan(TODAY);
    await markSent('old@example.com');
    const before = await ledger();
    expect(before.map((r) => [r.recipient, r.status])).toEqual([
      ['old@example.com', 'sent'],
      ['old-pending@example.com', 'pending'],
      ['future@example.com', 'pending'],
    ]);
    const oldRow = before[0]!;

    const result = await prune('365d');
    expect(result).toEqual({ expiredBefore: addDays(T0, 35), ledgerRows: 1, eventRows: 1 });
    // Pending rows are never moved, however old their series: they may still be on their way.
    expect((await ledger()).map((r) => r.recipient)).toEqual(['old-pending@example.com', 'future@example.com']);
    const { rows: archived } = await sql<{ id: string; status: string; row: Record<string, unknown> }>`select id, status, row from reminder_ledger_archive`.execute(t.app.db);
    expect(archived).toEqual([{ id: oldRow.id, status: 'sent', row: expect.objectContaining({ recipient: 'old@example.com', expires_on: T0, offset_days: 0, status: 'sent' }) }]);
    const { rows: events } = await sql<{ ledger_id: string; row: { event: string } }>`select ledger_id, row from reminder_events_archive`.execute(t.app.db);
    expect(events).toEqual([{ ledger_id: oldRow.id, row: expect.objectContaining({ event: 'queued', actor: 'scan' }) }]);
    expect(await t.app.db.selectFrom('reminder_events').select('ledger_id').where('ledger_id', '=', oldRow.id).execute()).toEqual([]);
    // Nothing is left to move the second time.
    expect(await prune('365d')).toMatchObject({ ledgerRows: 0, eventRows: 0 });
  });

  it('keeps the rows of series still within the catch-up window, so they are not sent again', async () => {
    const expiry = addDays(TODAY, -2);
    await license(expiry, 'live@example.com');
    await t.scan(expiry);
    await markSent('live@example.com');
    // CATCHUP_DAYS is 3: the series can still be due until three days after its expiry.
    expect(t.config.catchupDays).toBe(3);
    expect(await prune('3d')).toMatchObject({ expiredBefore: addDays(TODAY, -3), ledgerRows: 0 });
    const again = await t.scan(TODAY);
    expect(again.queued).toBe(0);
    expect((await ledger()).map((r) => [r.recipient, r.status])).toEqual([['live@example.com', 'sent']]);
  });

  it('refuses an age inside the catch-up window', async () => {
    await expect(prune('2d')).rejects.toThrow(/series expiring on or after .* must keep their rows/);
    expect((await sql<{ n: string }>`select count(*) as n from ledger_prunes`.execute(t.app.db)).rows[0]?.n).toBe('0');
  });

  it('makes a scan for a date reaching back before the cutoff refuse to run', async () => {
    await license(T0, 'old@example.com');
    await t.scan(T0);
    await markSent('old@example.com');
    await prune('365d');
    // The archived 0-day reminder is no longer in the ledger: a scan for T0 would send it again.
    await expect(t.scan(T0)).rejects.toThrow(/cannot scan 2027-03-01: .* pruned of series expiring before 2027-04-05/);
    expect(await ledger()).toEqual([]);
    await expect(t.scan(TODAY)).resolves.toMatchObject({ queued: 0 });
  });

  it('moves the rows in batches', async () => {
    for (let i = 0; i < 7; i++) await license(T0, `batch${i}@example.com`);
    await t.scan(T0);
    await t.app.db.updateTable('reminder_ledger').set({ status: 'skipped' }).execute();
    const result = await pruneLedger(t.app.db, { today: TODAY, age: parseAge('1y'), catchupDays: 3, actor: 'test', batchSize: 3 });
    expect(result).toMatchObject({ ledgerRows: 7, eventRows: 7 });
    expect(await ledger()).toEqual([]);
  });
});

describe('the prune command line', () => {
  const cli = (args: string[]) => run('npx', ['tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, env: { ...process.env, ...t.env } });

  it('counts with --dry-run, then archives, and reports in JSON', async () => {
    const today = new Date().toISOString().slice(0, 10);
    await license(addDays(today, -800), 'cli@example.com');
    await t.scan(addDays(today, -800));
    const dry = JSON.parse((await cli(['prune', '--older-than', '2y', '--dry-run', '--json'])).stdout);
    expect(dry).toMatchObject({ ledgerRows: 0, dryRun: true });
    await markSent('cli@example.com');
    expect(JSON.parse((await cli(['prune', '--older-than', '2y', '--dry-run', '--json'])).stdout)).toMatchObject({ ledgerRows: 1, eventRows: 1 });
    expect(await ledger()).toHaveLength(1);
    const { stdout } = await cli(['prune', '--older-than', '2y']);
    expect(stdout).toMatch(/^Archived 1 ledger row\(s\) and 1 event\(s\) of series that expired before \d{4}-\d{2}-\d{2}\./);
    expect(await ledger()).toEqual([]);
  });

  it('rejects a bad age with one line and exit 2', async () => {
    const failure = await cli(['prune', '--older-than', '2 years']).catch((e: { code: number; stderr: string }) => e);
    expect(failure).toMatchObject({ code: 2 });
    expect((failure as { stderr: string }).stderr.trim().split('\n')).toHaveLength(1);
    expect((failure as { stderr: string }).stderr).toMatch(/not an age/);
  });
});
