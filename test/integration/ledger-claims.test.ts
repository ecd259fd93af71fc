import { sql } from 'kysely';
import { claimRows, recordOutcome } from '../../src/ledger/claims';
import { sweepStaleClaims } from '../../src/ledger/ledger';
import { addDays } from '../../src/scan/dates';
import { insertLicense, insertOrder } from '../helpers/fixtures';
import { createTestEnv, type TestEnv } from '../helpers/test-env';

/** The claim rules on their own: who may send a row, and what survives a presumed-dead worker. */
const T = '2027-10-04';
let t: TestEnv;
beforeAll(async () => {
  t = await createTestEnv('claims');
});
afterAll(async () => {
  await t?.cleanup();
});
beforeEach(async () => {
  await t.reset();
});

const row = (id: string) => t.app.db.selectFrom('reminder_ledger').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

async function pendingRow(offset = 30): Promise<string> {
  const { orderId } = await insertOrder(t.app.db, { contacts: [{ email: `c${offset}@example.com` }] });
  await insertLicense(t.app.db, { orderId, expiresOn: addDays(T, offset) });
  await t.scan(T);
  const rows = await t.app.db.selectFrom('reminder_ledger').select('id').where('offset_days', '=', offset).execute();
  return rows[0]!.id;
}

it('only one of two claims wins a row', async () => {
  const id = await pendingRow();
  const [a, b] = await Promise.all([
    claimRows(t.app.db, { ledgerIds: [id] }, 'a', { staleClaimMs: 60_000 }),
    claimRows(t.app.db, { ledgerIds: [id] }, 'b', { staleClaimMs: 60_000 }),
  ]);
  expect([a.claimed.length, b.claimed.length].sort()).toEqual([0, 1]);
  expect([...a.busy, ...b.busy]).toEqual([id]);
  expect((await row(id)).status).toBe('sending');
});

it('a fresh claim is left to its owner; a stale one becomes unknown', async () => {
  const id = await pendingRow();
  const first = await claimRows(t.app.db, { ledgerIds: [id] }, 'first', { staleClaimMs: 60_000 });
  const again = await claimRows(t.app.db, { ledgerIds: [id] }, 'again', { staleClaimMs: 60_000 });
  expect(again).toMatchObject({ claimed: [], orphaned: [], busy: [id] });
  await sql`update reminder_ledger set claimed_at = now() - interval '2 minutes' where id = ${id}`.execute(t.app.db);
  const late = await claimRows(t.app.db, { ledgerIds: [id] }, 'late', { staleClaimMs: 60_000 });
  expect(late).toMatchObject({ claimed: [], orphaned: [id] });
  expect((await row(id)).status).toBe('unknown');
  // The first attempt was alive after all and its send succeeded: that is what the ledger keeps.
  const recorded = await recordOutcome(t.app.db, [id], first.claimToken, { status: 'sent', event: 'sent', detail: '250 ok', messageId: 'm@x' }, 'first');
  expect(recorded).toEqual([id]);
  expect(await row(id)).toMatchObject({ status: 'sent', message_id: 'm@x' });
});

it('the stale-claim sweep keeps the claim so a late success still records sent', async () => {
  const id = await pendingRow();
  const claim = await claimRows(t.app.db, { ledgerIds: [id] }, 'slow', { staleClaimMs: 60_000 });
  expect(await sweepStaleClaims(t.app.db, 0)).toBe(1);
  expect((await row(id)).status).toBe('unknown');
  await recordOutcome(t.app.db, [id], claim.claimToken, { status: 'sent', event: 'sent', detail: '250 ok', messageId: 'late@x' }, 'slow');
  expect((await row(id)).status).toBe('sent');
  // Another claim's token cannot record anything.
  await recordOutcome(t.app.db, [id], 'not-the-token', { status: 'failed', event: 'failed', detail: 'x' }, 'other');
  expect((await row(id)).status).toBe('sent');
});

it('a retried job never sends an offset after a smaller one of the same expiry went out', async () => {
  const { orderId } = await insertOrder(t.app.db, { contacts: [{ email: 'series@example.com' }] });
  await insertLicense(t.app.db, { orderId, expiresOn: addDays(T, 30) });
  await t.scan(T);
  const [thirty] = await t.app.db.selectFrom('reminder_ledger').select('id').execute();
  await t.app.db.updateTable('reminder_ledger').set({ status: 'failed', reason: '550 refused' }).execute();
  await t.scan(addDays(T, 16));
  await t.app.db.updateTable('reminder_ledger').set({ status: 'sent' }).where('offset_days', '=', 14).execute();
  // Bull Board's retry of the old 30-day job: the failed row is reopened, then skipped.
  const result = await claimRows(t.app.db, { ledgerIds: [thirty!.id] }, 'worker', { reopenFailedAs: 'dashboard retry', staleClaimMs: 60_000 });
  expect(result.claimed).toEqual([]);
  expect(result.skipped).toEqual([{ id: thirty!.id, reason: expect.stringContaining('superseded: the 14-day reminder') }]);
  // A forced re-send is the operator's explicit exception.
  await t.app.db.updateTable('reminder_ledger').set({ status: 'pending', forced: true }).where('id', '=', thirty!.id).execute();
  const forced = await claimRows(t.app.db, { ledgerIds: [thirty!.id] }, 'worker', { staleClaimMs: 60_000 });
  expect(forced.claimed.map((r) => r.id)).toEqual([thirty!.id]);
});
