import { formatHistory, formatReplay, formatUndelivered } from '../../src/cli/ops-format';
import { UserError } from '../../src/user-error';
import { ledgerHistory } from '../../src/ops/history';
import { holdLicense, releaseLicense, suppressAddress, unsuppressAddress } from '../../src/ops/holds';
import { replay, type ReplayOptions, type ReplaySelection } from '../../src/ops/replay';
import { DEFAULT_UNDELIVERED, listUndelivered } from '../../src/ops/undelivered';
import { addDays } from '../../src/dates';
import { insertLicense, insertOrder } from '../helpers/fixtures';
import { useMailTestEnv } from '../helpers/mail-test-env';
import type { SmtpTestServer } from '../helpers/smtp';
import type { TestEnv } from '../helpers/test-env';

const T = '2027-08-02';
let t: TestEnv;
let smtp: SmtpTestServer;
useMailTestEnv('opsreplay', { SEND_ATTEMPTS: '3', SEND_BACKOFF_MS: '50' }, (env, server) => {
  t = env;
  smtp = server;
});

const scan = (date: string) => t.scan(date);
const replayRows = (selection: ReplaySelection, options: Partial<ReplayOptions> = {}) =>
  replay({ db: t.app.db, sendQueue: t.app.sendQueue(), config: t.config }, selection, { actor: 'operator test', ...options });

const drain = () => t.drain();

const ledger = () => t.app.db.selectFrom('reminder_ledger').selectAll().orderBy('id').execute();
const events = (ledgerId: string) => t.app.db.selectFrom('reminder_events').selectAll().where('ledger_id', '=', ledgerId).orderBy('id').execute();
const to = (address: string) => smtp.received.filter((m) => m.to === address);

/** One license expiring in 30 days whose only contact's first delivery is refused with a 550. */
async function bouncedOnce(address: string, key: string): Promise<string> {
  const { orderId } = await insertOrder(t.app.db, { contacts: [{ email: address }] });
  await insertLicense(t.app.db, { orderId, expiresOn: addDays(T, 30), key });
  smtp.forceReply(address, { code: 550, message: '5.1.1 Mailbox unavailable', times: 1 });
  await scan(T);
  await drain();
  const [row] = await ledger();
  expect(row).toMatchObject({ status: 'failed', recipient: address });
  return row!.id;
}

describe('failed, replay and history', () => {
  it('lists a 550 with its reply; a replay delivers it once and history shows both attempts', async () => {
    const id = await bouncedOnce('bounce@example.com', 'KEY-BOUNCE');
    const { rows, total } = await listUndelivered(t.app.db, { statuses: DEFAULT_UNDELIVERED });
    expect(total).toBe(1);
    expect(rows[0]).toMatchObject({ id, status: 'failed', kind: 'license', license_key: 'KEY-BOUNCE', recipient: 'bounce@example.com', offset_days: 30, expires_on: addDays(T, 30), attempts: 1 });
    expect(rows[0]?.reason).toMatch(/550.*Mailbox unavailable/);
    const table = formatUndelivered(rows);
    expect(table.split('\n')[0]).toMatch(/^id\s+status\s+kind\s+license\s+order\s+recipient\s+offset\s+expires\s+attempts\s+when \(UTC\)$/);
    expect(table).toMatch(/failed\s+license\s+KEY-BOUNCE\s+ORD-\d+\s+bounce@example\.com\s+30\s+2027-09-01\s+1\s+\S+Z\n\s+550 5\.1\.1 Mailbox unavailable/);

    const failedJobs = await t.app.sendQueue().getJobs(['failed']);
    expect(failedJobs).toHaveLength(1);
    const result = await replayRows({ ids: [id] });
    expect(result.jobs).toEqual([{ groupKey: `replay.${id}.1`, ledgerIds: [id] }]);
    // The dashboard no longer shows the replayed reminder's old job as failed.
    expect(result.removedJobs).toBe(1);
    expect(await t.app.sendQueue().getJobs(['failed'])).toEqual([]);
    expect(formatReplay(result)).toMatch(/Replayed 1 reminder\(s\) in 1 send job\(s\)/);
    await drain();

    expect(to('bounce@example.com')).toHaveLength(1);
    expect(smtp.attempts.get('bounce@example.com')).toBe(2);
    const [row] = await ledger();
    expect(row).toMatchObject({ id, status: 'sent', attempts: 2, forced: false, group_key: `replay.${id}.1` });
    expect((await listUndelivered(t.app.db, { statuses: DEFAULT_UNDELIVERED })).total).toBe(0);

    const history = await ledgerHistory(t.app.db, { recipient: 'bounce@example.com' });
    expect(history.entries).toHaveLength(1);
    expect(history.entries[0]?.events.map((e) => [e.event, e.status])).toEqual([
      ['queued', 'pending'],
      ['claimed', 'sending'],
      ['failed', 'failed'],
      ['replayed', 'pending'],
      ['claimed', 'sending'],
      ['sent', 'sent'],
    ]);
    const text = formatHistory(history);
    expect(text).toContain('attempt 1');
    expect(text).toContain('attempt 2');
    expect(text).toMatch(/550 5\.1\.1 Mailbox unavailable/);
    expect(text).toContain(`message ${row!.message_id}`);
    expect(text).toContain(`template ${row!.template_version}`);
    expect(text).toMatch(/replayed\s+pending\s+operator test/);
    expect(history.notes).toContain(`bounce@example.com: contact of order ${row!.order_number}`);
  });

  it('replaying twice, or a sent row without --force, sends nothing; --force --reason re-sends once', async () => {
    const id = await bouncedOnce('twice@example.com', 'KEY-TWICE');
    await replayRows({ ids: [id] });
    const second = await replayRows({ ids: [id] });
    expect(second.jobs).toEqual([]);
    expect(second.entries.map((e) => e.action)).toEqual(['already-pending']);
    expect((await replayRows({ allFailed: true })).entries).toEqual([]);
    expect(await t.app.sendQueue().getJobCounts('waiting')).toEqual({ waiting: 1 });
    await drain();
    expect(to('twice@example.com')).toHaveLength(1);

    await expect(replayRows({ ids: [id] })).rejects.toThrow(UserError);
    await expect(replayRows({ ids: [id] })).rejects.toThrow(/refusing to re-send ledger row \d+ .*--force --reason/);
    await expect(replayRows({ ids: [id] }, { force: true })).rejects.toThrow(/--force needs --reason/);
    await expect(replayRows({ ids: ['999999999'] })).rejects.toThrow(/no ledger row with id 999999999/);
    await drain();
    expect(to('twice@example.com')).toHaveLength(1);

    const forced = await replayRows({ ids: [id] }, { force: true, reason: 'customer deleted it, ticket 42' });
    expect(forced.entries.map((e) => e.action)).toEqual(['force']);
    expect(forced.jobs).toEqual([{ groupKey: `replay.${id}.2`, ledgerIds: [id] }]);
    // A second forced replay while the first is still pending adds nothing either.
    expect((await replayRows({ ids: [id] }, { force: true, reason: 'again' })).jobs).toEqual([]);
    await drain();

    const mails = to('twice@example.com');
    expect(mails).toHaveLength(2);
    expect(new Set(mails.map((m) => m.parsed.messageId)).size).toBe(2);
    const [row] = await ledger();
    expect(row).toMatchObject({ status: 'sent', forced: true });
    const trail = await events(id);
    const forcedEvent = trail.filter((e) => e.event === 'replayed').at(-1);
    expect(forcedEvent).toMatchObject({ actor: 'operator test', status: 'pending' });
    expect(forcedEvent?.detail).toMatch(/^FORCED re-send of a reminder already sent .*: customer deleted it, ticket 42$/);
    expect(trail.slice(-2).map((e) => e.event)).toEqual(['claimed', 'sent']);

    // Replays that find nothing replayable, and queue re-runs, still send nothing more.
    await replayRows({ allFailed: true, allUnknown: true });
    await drain();
    expect(to('twice@example.com')).toHaveLength(2);
  });

  it('--dry-run shows the plan and changes nothing', async () => {
    const id = await bouncedOnce('dry@example.com', 'KEY-DRY');
    const before = { rows: await ledger(), events: await events(id), jobs: await t.app.sendQueue().getJobCounts() };
    const plan = await replayRows({ recipient: 'dry@example.com' }, { dryRun: true });
    expect(plan.dryRun).toBe(true);
    expect(plan.entries.map((e) => [e.row.id, e.action, e.jobId])).toEqual([[id, 'replay', `replay.${id}.1`]]);
    expect(formatReplay(plan)).toMatch(/DRY RUN: nothing changed\. Would put 1 reminder\(s\) back to pending in 1 send job\(s\)\./);
    expect(await ledger()).toEqual(before.rows);
    expect(await events(id)).toEqual(before.events);
    expect(await t.app.sendQueue().getJobCounts()).toEqual(before.jobs);
    // The real replay then does what the dry run showed.
    const real = await replayRows({ recipient: 'dry@example.com' });
    expect(real.entries.map((e) => [e.row.id, e.action, e.jobId])).toEqual([[id, 'replay', `replay.${id}.1`]]);
  });

  it('does not replay a reminder superseded by a later one that went out', async () => {
    const id = await bouncedOnce('late@example.com', 'KEY-LATE');
    await scan(addDays(T, 16));
    await drain();
    expect(to('late@example.com')).toHaveLength(1);
    const result = await replayRows({ allFailed: true });
    expect(result.entries.map((e) => [e.row.id, e.action])).toEqual([[id, 'superseded']]);
    expect(result.entries[0]?.note).toMatch(/the 14-day reminder \(#\d+\) of this expiry is already sent/);
    expect(result.jobs).toEqual([]);
    expect((await ledger())[0]).toMatchObject({ id, status: 'failed' });
  });
});

describe('holds and suppressions', () => {
  it('skips a held license; after release its next offset goes out', async () => {
    const { orderId } = await insertOrder(t.app.db, { orderNumber: 'ORD-HOLD', contacts: [{ email: 'held@example.com' }] });
    await insertLicense(t.app.db, { orderId, expiresOn: addDays(T, 30), key: 'KEY-HOLD' });
    const held = await holdLicense(t.app.db, 'KEY-HOLD', 'disputed invoice');
    expect(held).toMatchObject({ license: { licenseKey: 'KEY-HOLD', orderNumber: 'ORD-HOLD' }, previousReason: null });
    await scan(T);
    await drain();
    expect(to('held@example.com')).toHaveLength(0);
    expect((await ledger()).map((r) => [r.offset_days, r.status, r.reason])).toEqual([[30, 'skipped', 'on hold: disputed invoice']]);
    expect((await ledgerHistory(t.app.db, { licenseKey: 'KEY-HOLD' })).notes.join('\n')).toMatch(/ON HOLD since .*: disputed invoice/);

    expect((await releaseLicense(t.app.db, 'KEY-HOLD')).releasedReason).toBe('disputed invoice');
    expect((await releaseLicense(t.app.db, 'KEY-HOLD')).releasedReason).toBeNull();
    await scan(addDays(T, 16));
    await drain();
    expect(to('held@example.com')).toHaveLength(1);
    expect((await ledger()).map((r) => [r.offset_days, r.status])).toEqual([
      [30, 'skipped'],
      [14, 'sent'],
    ]);
  });

  it('a hold placed after the scan stops the queued reminder at send time', async () => {
    const { orderId } = await insertOrder(t.app.db, { contacts: [{ email: 'late-hold@example.com' }] });
    await insertLicense(t.app.db, { orderId, expiresOn: addDays(T, 7), key: 'KEY-LATE-HOLD' });
    await scan(T);
    await holdLicense(t.app.db, 'KEY-LATE-HOLD', 'customer asked to wait');
    await drain();
    expect(to('late-hold@example.com')).toHaveLength(0);
    expect((await ledger())[0]).toMatchObject({ status: 'skipped', reason: 'on hold: customer asked to wait' });
  });

  it('refuses unknown and ambiguous license keys with one clear message', async () => {
    const a = await insertOrder(t.app.db, { orderNumber: 'ORD-A1', contacts: [{ email: 'a@example.com' }] });
    const b = await insertOrder(t.app.db, { orderNumber: 'ORD-B1', contacts: [{ email: 'b@example.com' }] });
    await insertLicense(t.app.db, { orderId: a.orderId, expiresOn: addDays(T, 30), key: 'KEY-SHARED' });
    await insertLicense(t.app.db, { orderId: b.orderId, expiresOn: addDays(T, 30), key: 'KEY-SHARED' });
    await expect(holdLicense(t.app.db, 'KEY-NOPE', 'x')).rejects.toThrow(/^no license with key "KEY-NOPE"$/);
    await expect(holdLicense(t.app.db, 'KEY-SHARED', 'x')).rejects.toThrow(/license key "KEY-SHARED" is on several orders \(ORD-A1, ORD-B1\): add --order ORDER_NUMBER/);
    expect((await holdLicense(t.app.db, 'KEY-SHARED', 'x', { orderNumber: 'ORD-B1' })).license.orderNumber).toBe('ORD-B1');
  });

  it('suppresses an address case-insensitively until unsuppressed', async () => {
    const { orderId } = await insertOrder(t.app.db, { contacts: [{ email: 'Bouncy@Example.com' }] });
    await insertLicense(t.app.db, { orderId, expiresOn: addDays(T, 30) });
    expect(await suppressAddress(t.app.db, ' BOUNCY@example.com ', 'hard bounce')).toEqual({ address: 'bouncy@example.com', previousReason: null });
    await scan(T);
    await drain();
    expect(smtp.received).toHaveLength(0);
    expect((await ledger())[0]).toMatchObject({ status: 'skipped', reason: 'suppressed: hard bounce' });
    expect(await unsuppressAddress(t.app.db, 'bouncy@example.com')).toEqual({ address: 'bouncy@example.com', removedReason: 'hard bounce' });
    await scan(addDays(T, 16));
    await drain();
    expect(to('bouncy@example.com')).toHaveLength(1);
  });
});

/** The send job of a ledger group in the given state (job ids are the group key and a suffix). */
async function jobOfGroup(groupKey: string, state: 'failed' | 'completed') {
  return (await t.app.sendQueue().getJobs([state])).find((j) => j.data.groupKey === groupKey);
}

describe('retrying a send job from the dashboard', () => {
  it('a retried failed job reopens nothing (only a replay does); a retried completed job sends nothing', async () => {
    const id = await bouncedOnce('retry@example.com', 'KEY-RETRY');
    const [row] = await ledger();
    const job = await jobOfGroup(row!.group_key, 'failed');
    expect(await job?.getState()).toBe('failed');

    // The dashboard's retry re-runs the job: its group has nothing pending, so nothing goes out.
    await job!.retry('failed');
    await drain();
    expect(to('retry@example.com')).toHaveLength(0);
    expect((await ledger())[0]).toMatchObject({ id, status: 'failed', attempts: 1 });
    // The operator's replay is the one way back.
    await replayRows({ ids: [id] });
    await drain();
    expect(to('retry@example.com')).toHaveLength(1);
    expect((await ledger())[0]).toMatchObject({ id, status: 'sent', attempts: 2 });
    const trail = await events(id);
    expect(trail.map((e) => e.event)).toEqual(['queued', 'claimed', 'failed', 'replayed', 'claimed', 'sent']);

    const done = await jobOfGroup(trail.length ? (await ledger())[0]!.group_key : row!.group_key, 'completed');
    expect(await done?.getState()).toBe('completed');
    await done!.retry('completed');
    await drain();
    expect(to('retry@example.com')).toHaveLength(1);
    expect(await events(id)).toHaveLength(trail.length);
  });

  it('a retried job never re-sends rows that became unknown', async () => {
    const id = await bouncedOnce('unsure@example.com', 'KEY-UNSURE');
    // As if the outcome had been ambiguous (connection lost after DATA): only an operator replays it.
    await t.app.db.updateTable('reminder_ledger').set({ status: 'unknown', reason: 'connection lost after DATA', claim_token: null, lease_expires_at: null }).where('id', '=', id).execute();
    const [row] = await ledger();
    await (await jobOfGroup(row!.group_key, 'failed'))!.retry('failed');
    await drain();
    expect(smtp.received).toHaveLength(0);
    expect((await ledger())[0]).toMatchObject({ status: 'unknown' });
    expect((await listUndelivered(t.app.db, { statuses: ['unknown'] })).rows.map((r) => r.id)).toEqual([id]);
    // Filters alone do not pick unknown rows; --all-unknown does.
    expect((await replayRows({ recipient: 'unsure@example.com' })).entries).toEqual([]);
    expect((await replayRows({ recipient: 'unsure@example.com', allUnknown: true })).jobs).toHaveLength(1);
    await drain();
    expect(to('unsure@example.com')).toHaveLength(1);
  });
});
