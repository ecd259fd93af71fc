import { sql } from 'kysely';
import { claimNext } from '../../src/delivery/claim';
import { transition, sweepStaleClaims, TRANSITIONS } from '../../src/delivery/transitions';
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

const claim = (groupKey: string, actor = 'w') => claimNext(t.app.db, t.config, { groupKey, limit: 40, actor, earlierClaimGraceMs: 60_000 });

it('the table allows no way back to pending after a hand-over outcome', () => {
  // sent, unknown and failed can only be left by an operator's replay or force, never by a worker.
  const workerTransitions = ['claim', 'skip', 'retry', 'sent', 'failed', 'unknown', 'sweep'] as const;
  for (const name of workerTransitions) {
    const spec = TRANSITIONS[name];
    if (spec.to === 'pending') expect(spec.from).not.toContain('sent');
  }
  expect(TRANSITIONS.retry.from).toEqual(['sending', 'unknown']);
  expect(TRANSITIONS.retry.token).toBe(true);
});

it('only one of two claims wins a row; the loser sees nothing to claim', async () => {
  const { id, groupKey } = await pendingRow();
  const [a, b] = await Promise.all([claim(groupKey, 'a'), claim(groupKey, 'b')]);
  expect([a.rows.length, b.rows.length].sort()).toEqual([0, 1]);
  expect((await row(id)).status).toBe('sending');
  expect((await events(id)).map((e) => e.event)).toEqual(['queued', 'claimed']);
});

it('a transition under another claim token moves nothing and says so', async () => {
  const { id, groupKey } = await pendingRow();
  const mine = await claim(groupKey);
  const other = await transition(t.app.db, 'sent', { ids: [id], claimToken: 'not-mine', actor: 'x', detail: '250', messageId: 'm@x' });
  expect(other).toMatchObject({ moved: [], missed: [id] });
  expect((await row(id)).status).toBe('sending');
  const ok = await transition(t.app.db, 'sent', { ids: [id], claimToken: mine.token, actor: 'w', detail: '250 ok', messageId: 'm@x' });
  expect(ok.moved.map((r) => r.id)).toEqual([id]);
  expect(await row(id)).toMatchObject({ status: 'sent', message_id: 'm@x' });
  // Once sent, nothing a worker does moves it: not a retry, not a failure.
  for (const name of ['retry', 'failed', 'unknown'] as const) {
    expect((await transition(t.app.db, name, { ids: [id], claimToken: mine.token, actor: 'w', detail: 'late' })).missed).toEqual([id]);
  }
  expect((await row(id)).status).toBe('sent');
});

it('the sweep passes over a claim whose attempt holds its lock, and takes one that nobody holds', async () => {
  const { id, groupKey } = await pendingRow();
  const mine = await claim(groupKey);
  await sql`update reminder_ledger set claimed_at = now() - interval '1 hour' where id = ${id}`.execute(t.app.db);
  // A live attempt holds the row's lock during the hand-over: simulate it with a second connection.
  const locker = t.app.db.transaction().execute(async (trx) => {
    await trx.selectFrom('reminder_ledger').select('id').where('id', '=', id).forUpdate().execute();
    expect(await sweepStaleClaims(t.app.db, 0, 'sweep')).toEqual([]);
  });
  await locker;
  expect((await row(id)).status).toBe('sending');
  expect(await sweepStaleClaims(t.app.db, 0, 'sweep')).toEqual([id]);
  expect((await row(id)).status).toBe('unknown');
  // The attempt was alive after all and its send succeeded: the ledger keeps that.
  await transition(t.app.db, 'sent', { ids: [id], claimToken: mine.token, actor: 'w', detail: '250 ok', messageId: 'late@x' });
  expect(await row(id)).toMatchObject({ status: 'sent', message_id: 'late@x' });
});

it('a retried job never sends an offset after a smaller one of the same expiry went out', async () => {
  const { orderId } = await insertOrder(t.app.db, { contacts: [{ email: 'series@example.com' }] });
  await insertLicense(t.app.db, { orderId, expiresOn: addDays(T, 30) });
  await t.scan(T);
  const [thirty] = await t.app.db.selectFrom('reminder_ledger').select(['id', 'group_key']).execute();
  await t.app.db.updateTable('reminder_ledger').set({ status: 'failed', reason: '550 refused' }).execute();
  await t.scan(addDays(T, 16));
  await t.app.db.updateTable('reminder_ledger').set({ status: 'sent' }).where('offset_days', '=', 14).execute();
  // Bull Board's retry of the old 30-day job: the failed row is reopened, then skipped.
  const result = await claimNext(t.app.db, t.config, { groupKey: thirty!.group_key, limit: 40, actor: 'w', reopenIds: [thirty!.id], earlierClaimGraceMs: 60_000 });
  expect(result.reopened).toEqual([thirty!.id]);
  expect(result.rows).toEqual([]);
  expect(result.skipped).toEqual([{ id: thirty!.id, reason: expect.stringContaining('superseded: the 14-day reminder') }]);
  // A forced re-send is the operator's explicit exception.
  await t.app.db.updateTable('reminder_ledger').set({ status: 'pending', forced: true }).where('id', '=', thirty!.id).execute();
  const forced = await claimNext(t.app.db, t.config, { groupKey: thirty!.group_key, limit: 40, actor: 'w', earlierClaimGraceMs: 60_000 });
  expect(forced.rows.map((r) => r.id)).toEqual([thirty!.id]);
});

it('claims at most the limit; the rest of the group stays pending for the next email', async () => {
  const { orderId } = await insertOrder(t.app.db, { contacts: [{ email: 'many@example.com' }] });
  for (let i = 0; i < 5; i++) await insertLicense(t.app.db, { orderId, expiresOn: addDays(T, 30), key: `K-${i}` });
  await t.scan(T);
  const groupKey = (await t.app.db.selectFrom('reminder_ledger').select('group_key').executeTakeFirstOrThrow()).group_key;
  const first = await claimNext(t.app.db, t.config, { groupKey, limit: 2, actor: 'w', earlierClaimGraceMs: 60_000 });
  expect(first.rows).toHaveLength(2);
  expect(first.input?.items).toHaveLength(2);
  const statuses = await t.app.db.selectFrom('reminder_ledger').select('status').execute();
  expect(statuses.filter((s) => s.status === 'pending')).toHaveLength(3);
});
