import { sql } from 'kysely';
import { claimNext } from '../../src/delivery/claim';
import { applyLeaseTransition, applyLeaseTransitions, applyTransition, type LeaseSettings, settleExpiredLeases, type TransitionRequest } from '../../src/delivery/ledger-sql';
import { TRANSITIONS, type TransitionName } from '../../src/delivery/transitions';
import { addDays } from '../../src/dates';
import { insertLicense, insertOrder } from '../helpers/fixtures';
import { createTestEnv, type TestEnv } from '../helpers/test-env';

/** The ledger's state machine on its own: who may move a row, and what a miss looks like. */
const T = '2027-10-04';
let t: TestEnv;
beforeAll(async () => {
  t = await createTestEnv('transitions');
});
afterAll(async () => {
  await t?.cleanup();
});
beforeEach(async () => {
  await t.reset();
});

const row = (id: string) => t.app.db.selectFrom('reminder_ledger').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
const events = (id: string) => t.app.db.selectFrom('reminder_events').select(['event', 'status', 'actor']).where('ledger_id', '=', id).orderBy('id').execute();

async function pendingRow(offset = 30, email = `c${offset}@example.com`): Promise<{ id: string; groupKey: string }> {
  const { orderId } = await insertOrder(t.app.db, { contacts: [{ email }] });
  await insertLicense(t.app.db, { orderId, expiresOn: addDays(T, offset) });
  await t.scan(T);
  const rows = await t.app.db.selectFrom('reminder_ledger').select(['id', 'group_key']).where('recipient', '=', email).execute();
  return { id: rows[0]!.id, groupKey: rows[0]!.group_key };
}

const settings: LeaseSettings = { leaseMs: 60_000, replayGraceMs: 0 };
const claim = (groupKey: string, actor = 'w') => claimNext(t.app.db, t.config, { groupKey, limit: 40, actor }, settings);
const transition = (name: TransitionName, request: TransitionRequest) => applyTransition(t.app.db, name, request, settings);
const expireLease = (id: string) => sql`update reminder_ledger set lease_expires_at = now() - interval '1 second' where id = ${id}`.execute(t.app.db);

it('no worker or sweep transition leaves sent, failed or unknown', () => {
  for (const spec of Object.values(TRANSITIONS)) {
    if (spec.by === 'operator' || spec.by === 'report') continue;
    for (const status of ['sent', 'failed', 'unknown'] as const) expect(spec.from).not.toContain(status);
  }
});

it('only one of two claims wins a row; the loser sees nothing to claim', async () => {
  const { id, groupKey } = await pendingRow();
  const [a, b] = await Promise.all([claim(groupKey, 'a'), claim(groupKey, 'b')]);
  expect([a.rows.length, b.rows.length].sort()).toEqual([0, 1]);
  expect((await row(id)).status).toBe('sending');
  expect((await events(id)).map((e) => e.event)).toEqual(['queued', 'claimed']);
});

it('a transition under another lease moves nothing and says so', async () => {
  const { id, groupKey } = await pendingRow();
  const mine = await claim(groupKey);
  expect(await row(id)).toMatchObject({ status: 'sending', lease_owner: mine.owner, attempts: 1, handed_over_at: null });
  const other = await transition('sent', { ids: [id], owner: 'not-mine', actor: 'x', detail: '250', messageId: 'm@x' });
  expect(other).toMatchObject({ moved: [], missed: [id] });
  expect((await row(id)).status).toBe('sending');
  const ok = await transition('sent', { ids: [id], owner: mine.owner, actor: 'w', detail: '250 ok', messageId: 'm@x' });
  expect(ok.moved.map((r) => r.id)).toEqual([id]);
  expect(await row(id)).toMatchObject({ status: 'sent', message_id: 'm@x', lease_expires_at: null });
  expect((await events(id)).map((e) => e.event)).toEqual(['queued', 'claimed', 'sent']);
  // Once sent, nothing a worker does moves it: not a retry, not a failure.
  for (const name of ['retry', 'failed', 'unknown', 'unreachable'] as const) {
    expect((await transition(name, { ids: [id], owner: mine.owner, actor: 'w', detail: 'late' })).missed).toEqual([id]);
  }
  expect((await row(id)).status).toBe('sent');
});

it('the sweep leaves a live lease alone whatever its age, and settles an expired one by its hand-over mark', async () => {
  const a = await pendingRow(30, 'a@example.com');
  const b = await pendingRow(30, 'b@example.com');
  const claimA = await claim(a.groupKey);
  const claimB = await claim(b.groupKey);
  await sql`update reminder_ledger set claimed_at = now() - interval '1 hour'`.execute(t.app.db);
  expect(await settleExpiredLeases(t.app.db, 'sweep', settings)).toEqual({ pending: [], unknown: [] });
  // B reached SMTP; A did not. Both attempts then die: their leases run out.
  expect((await transition('handOver', { ids: [b.id], owner: claimB.owner, actor: 'w', messageId: 'b@x' })).moved).toHaveLength(1);
  await expireLease(a.id);
  await expireLease(b.id);
  const settled = await settleExpiredLeases(t.app.db, 'sweep', settings);
  expect(settled.pending.map((r) => r.id)).toEqual([a.id]);
  expect(settled.unknown.map((r) => r.id)).toEqual([b.id]);
  expect(await row(a.id)).toMatchObject({ status: 'pending', lease_owner: null, handed_over_at: null });
  expect(await row(b.id)).toMatchObject({ status: 'unknown', message_id: 'b@x', reason: expect.stringMatching(/may have been delivered/) });
  // A late outcome of either attempt moves nothing: `sent` only from `sending`, under the lease.
  expect((await transition('sent', { ids: [b.id], owner: claimB.owner, actor: 'w', detail: '250' })).missed).toEqual([b.id]);
  expect((await transition('handOver', { ids: [a.id], owner: claimA.owner, actor: 'w' })).missed).toEqual([a.id]);
  // The expired lease cannot be marked handed over nor extended by its old owner either.
  expect((await row(b.id)).status).toBe('unknown');
});

it('an expired lease cannot be marked handed over: the attempt must not send', async () => {
  const { id, groupKey } = await pendingRow();
  const mine = await claim(groupKey);
  await expireLease(id);
  expect((await transition('handOver', { ids: [id], owner: mine.owner, actor: 'w' })).missed).toEqual([id]);
  expect((await row(id)).handed_over_at).toBeNull();
});

it('a replay waits out a lease and its grace; an unreached SMTP server gives the attempt back', async () => {
  const { id, groupKey } = await pendingRow();
  const first = await claim(groupKey);
  await transition('unreachable', { ids: [id], owner: first.owner, actor: 'w', detail: 'ECONNREFUSED' });
  expect(await row(id)).toMatchObject({ status: 'pending', attempts: 0 });
  const second = await claim(groupKey);
  await transition('handOver', { ids: [id], owner: second.owner, actor: 'w' });
  await transition('unknown', { ids: [id], owner: second.owner, actor: 'w', detail: 'lost after body' });
  await sql`update reminder_ledger set lease_expires_at = now() + interval '1 minute' where id = ${id}`.execute(t.app.db);
  expect((await applyTransition(t.app.db, 'replay', { ids: [id], actor: 'op' }, { leaseMs: 60_000, replayGraceMs: 0 })).missed).toEqual([id]);
  await expireLease(id);
  expect((await applyTransition(t.app.db, 'replay', { ids: [id], actor: 'op' }, { leaseMs: 60_000, replayGraceMs: 60_000 })).missed).toEqual([id]);
  expect((await applyTransition(t.app.db, 'replay', { ids: [id], actor: 'op' }, { leaseMs: 60_000, replayGraceMs: 0 })).moved).toHaveLength(1);
  expect(await row(id)).toMatchObject({ status: 'pending', lease_owner: null, handed_over_at: null });
});

it('a claim never sends an offset after a smaller one of the same expiry went out; a failed row is never reopened by a job', async () => {
  const { orderId } = await insertOrder(t.app.db, { contacts: [{ email: 'series@example.com' }] });
  await insertLicense(t.app.db, { orderId, expiresOn: addDays(T, 30) });
  await t.scan(T);
  const [thirty] = await t.app.db.selectFrom('reminder_ledger').select(['id', 'group_key']).execute();
  await t.app.db.updateTable('reminder_ledger').set({ status: 'failed', reason: '550 refused' }).execute();
  await t.scan(addDays(T, 16));
  await t.app.db.updateTable('reminder_ledger').set({ status: 'sent' }).where('offset_days', '=', 14).execute();
  // A retried or stale job of the 30-day group: the failed row stays failed.
  const stale = await claim(thirty!.group_key);
  expect(stale.examined).toBe(0);
  expect((await row(thirty!.id)).status).toBe('failed');
  // Pending again (as a replay would make it), the series rule skips it.
  await t.app.db.updateTable('reminder_ledger').set({ status: 'pending' }).where('id', '=', thirty!.id).execute();
  const result = await claim(thirty!.group_key);
  expect(result.rows).toEqual([]);
  expect(result.skipped).toEqual([{ id: thirty!.id, reason: expect.stringContaining('superseded: the 14-day reminder') }]);
  expect((await row(thirty!.id)).status).toBe('skipped');
  // A forced re-send is the operator's explicit exception.
  await t.app.db.updateTable('reminder_ledger').set({ status: 'pending', forced: true }).where('id', '=', thirty!.id).execute();
  const forced = await claim(thirty!.group_key);
  expect(forced.rows.map((r) => r.id)).toEqual([thirty!.id]);
});

it('claims at most the limit; the rest of the group stays pending for the next email', async () => {
  const { orderId } = await insertOrder(t.app.db, { contacts: [{ email: 'many@example.com' }] });
  for (let i = 0; i < 5; i++) await insertLicense(t.app.db, { orderId, expiresOn: addDays(T, 30), key: `K-${i}` });
  await t.scan(T);
  const groupKey = (await t.app.db.selectFrom('reminder_ledger').select('group_key').executeTakeFirstOrThrow()).group_key;
  const first = await claimNext(t.app.db, t.config, { groupKey, limit: 2, actor: 'w' }, settings);
  expect(first.rows).toHaveLength(2);
  expect(first.input?.items).toHaveLength(2);
  const statuses = await t.app.db.selectFrom('reminder_ledger').select('status').execute();
  expect(statuses.filter((s) => s.status === 'pending')).toHaveLength(3);
});

it('attempts of several groups claimed and recorded in shared statements: each row moves only under its own lease, with its own outcome', async () => {
  const groups = [await pendingRow(30, 'a@example.com'), await pendingRow(30, 'b@example.com'), await pendingRow(30, 'c@example.com')];
  const claims = await Promise.all(groups.map((g, i) => claim(g.groupKey, `w${i}`)));
  expect(claims.map((c) => c.rows.map((r) => r.id))).toEqual(groups.map((g) => [g.id]));
  expect(new Set(claims.map((c) => c.owner)).size).toBe(3);
  for (const [i, g] of groups.entries()) expect(await row(g.id)).toMatchObject({ status: 'sending', lease_owner: claims[i]!.owner });
  // One statement for three attempts; the second names a lease that is not its own.
  const results = await applyLeaseTransitions(
    t.app.db,
    'sent',
    groups.map((g, i) => ({ ids: [g.id], owner: i === 1 ? 'not-mine' : claims[i]!.owner, actor: `w${i}`, detail: `250 ok ${i}`, messageId: `m${i}@x` })),
    settings,
  );
  expect(results.map((r) => r.missed)).toEqual([[], [groups[1]!.id], []]);
  expect(results.map((r) => r.moved.map((m) => m.id))).toEqual([[groups[0]!.id], [], [groups[2]!.id]]);
  expect(await row(groups[0]!.id)).toMatchObject({ status: 'sent', message_id: 'm0@x' });
  expect(await row(groups[1]!.id)).toMatchObject({ status: 'sending', message_id: null });
  expect(await row(groups[2]!.id)).toMatchObject({ status: 'sent', message_id: 'm2@x' });
  const audit = await t.app.db.selectFrom('reminder_events').select(['ledger_id', 'actor', 'detail', 'message_id']).where('event', '=', 'sent').orderBy('ledger_id').execute();
  expect(audit).toEqual([
    { ledger_id: groups[0]!.id, actor: 'w0', detail: '250 ok 0', message_id: 'm0@x' },
    { ledger_id: groups[2]!.id, actor: 'w2', detail: '250 ok 2', message_id: 'm2@x' },
  ]);
  // Group-committed from concurrent callers: the same answers as one by one.
  const late = await Promise.all([
    applyLeaseTransition(t.app.db, 'failed', { ids: [groups[1]!.id], owner: claims[1]!.owner, actor: 'w1', detail: '550 no' }, settings),
    applyLeaseTransition(t.app.db, 'failed', { ids: [groups[0]!.id], owner: claims[0]!.owner, actor: 'w0', detail: '550 late' }, settings),
  ]);
  expect(late.map((r) => r.missed)).toEqual([[], [groups[0]!.id]]);
  expect(await row(groups[1]!.id)).toMatchObject({ status: 'failed', reason: '550 no', lease_expires_at: null });
  expect((await row(groups[0]!.id)).status).toBe('sent');
});
