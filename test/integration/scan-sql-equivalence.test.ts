import fc from 'fast-check';
import { sql } from 'kysely';
import { addDays } from '../../src/dates';
import type { LedgerStatus } from '../../src/db/types';
import { planScanInDatabase, recordDueInDatabase } from '../../src/scan/due-sql';
import { planScan } from '../../src/scan/run-scan';
import { createTestEnv, type TestEnv } from '../helpers/test-env';

/**
 * The scan records its due rows with one SQL statement (src/scan/due-sql.ts). The rule's
 * definition is the pure code (due-rule.ts, eligibility.ts) that `planScan` runs; on random
 * portal data, ledgers, holds and suppressions the two must give the same rows, in the same order.
 */

const T = '2031-05-10';
const STATUSES: LedgerStatus[] = ['pending', 'sending', 'sent', 'failed', 'skipped', 'unknown'];
// Variants of a few addresses: case, surrounding whitespace (also the kinds JavaScript's trim
// removes and a plain SQL trim would not), non-ASCII letters, and blanks that are no address.
const EMAILS = ['ann@example.com', 'ANN@example.com ', ' Ann@Example.COM', '\tbob@example.com\u00a0', 'bob@example.com', 'zoë@exämple.com', 'ZOË@EXÄMPLE.COM', 'cy@example.org\ufeff', '   ', ''];

const contact = fc.record({ email: fc.constantFrom(...EMAILS), unsubscribed: fc.boolean() });
const license = fc.record({
  type: fc.constantFrom('annual' as const, 'lifetime' as const),
  status: fc.constantFrom('active', 'active', 'active', 'cancelled'),
  // Days from T: around every offset of the default and of the random configurations below.
  expires: fc.option(fc.integer({ min: -8, max: 95 }), { nil: null, freq: 8 }),
  maintenance: fc.option(fc.integer({ min: -8, max: 95 }), { nil: null, freq: 8 }),
  order: fc.integer({ min: 0, max: 5 }),
  held: fc.boolean(),
});
const recorded = fc.record({
  license: fc.integer({ min: 0, max: 11 }),
  kind: fc.constantFrom('license' as const, 'maintenance' as const),
  offset: fc.constantFrom(0, 5, 7, 14, 30, 45, 60, 90),
  email: fc.constantFrom(...EMAILS.slice(0, 8)),
  status: fc.constantFrom(...STATUSES),
  oldExpiry: fc.boolean(),
});
const world = fc.record({
  orders: fc.array(fc.array(contact, { maxLength: 4 }), { minLength: 6, maxLength: 6 }),
  licenses: fc.array(license, { minLength: 1, maxLength: 12 }),
  recorded: fc.array(recorded, { maxLength: 12 }),
  suppressed: fc.subarray(['ann@example.com', 'bob@example.com', 'zoë@exämple.com']),
  config: fc.oneof(
    fc.constant({ offsets: [90, 60, 30, 14, 7, 0], catchupDays: 3 }),
    fc.record({
      offsets: fc.uniqueArray(fc.integer({ min: 0, max: 90 }), { minLength: 1, maxLength: 6 }),
      catchupDays: fc.integer({ min: 0, max: 12 }),
    }),
  ),
});

let t: TestEnv;
beforeAll(async () => {
  t = await createTestEnv('scan_sql');
});
afterAll(async () => {
  await t?.cleanup();
});

type World = typeof world extends fc.Arbitrary<infer W> ? W : never;

async function load(w: World): Promise<void> {
  const db = t.app.db;
  await t.reset();
  await db.insertInto('orders').values(w.orders.map((_, i) => ({ id: String(i + 1), order_number: `ORD-${i + 1}`, customer_name: `Customer ${i + 1}` }))).execute();
  const contacts = w.orders.flatMap((list, i) =>
    list.map((c) => ({ order_id: String(i + 1), email: c.email, unsubscribed_at: c.unsubscribed ? new Date('2031-01-01T00:00:00Z') : null })),
  );
  if (contacts.length > 0) await db.insertInto('order_contacts').values(contacts).execute();
  const licenses = w.licenses.map((l, i) => ({
    id: String(i + 1),
    order_id: String(l.order + 1),
    license_key: `KEY-${i + 1}`,
    product: 'Dynamic Web TWAIN',
    license_type: l.type,
    expires_on: l.expires === null ? null : addDays(T, l.expires),
    maintenance_expires_on: l.maintenance === null ? null : addDays(T, l.maintenance),
    status: l.status,
  }));
  await db.insertInto('licenses').values(licenses).execute();
  const holds = w.licenses.flatMap((l, i) => (l.held ? [{ license_id: String(i + 1), reason: `hold ${i + 1}` }] : []));
  if (holds.length > 0) await db.insertInto('license_holds').values(holds).execute();
  if (w.suppressed.length > 0) await db.insertInto('suppressed_addresses').values(w.suppressed.map((address) => ({ address, reason: `bounced ${address}` }))).execute();
  const rows = w.recorded.flatMap((r) => {
    const l = licenses[r.license % licenses.length];
    if (!l) return [];
    const expiry = (r.kind === 'license' ? l.expires_on : l.maintenance_expires_on) ?? addDays(T, 30);
    return [
      {
        kind: r.kind,
        license_id: l.id,
        license_key: l.license_key,
        order_id: l.order_id,
        order_number: `ORD-${l.order_id}`,
        expires_on: r.oldExpiry ? addDays(expiry, -365) : expiry,
        offset_days: r.offset,
        recipient: r.email.trim().toLowerCase(),
        scan_date: addDays(T, -1),
        group_key: 'earlier',
        status: r.status,
      },
    ];
  });
  if (rows.length > 0) await db.insertInto('reminder_ledger').values(rows).onConflict((oc) => oc.constraint('reminder_ledger_key').doNothing()).execute();
}

describe('the scan in SQL and the pure rule', () => {
  it('plan the same rows, statuses, reasons and order on random data', async () => {
    await fc.assert(
      fc.asyncProperty(world, async (w) => {
        await load(w);
        const pure = await planScan(t.app.db, w.config, T);
        const inDatabase = await planScanInDatabase(t.app.db, w.config, T);
        expect(inDatabase).toEqual(pure.map((row) => ({ ...row, license_id: String(row.license_id), order_id: String(row.order_id) })));
      }),
      { numRuns: 60 },
    );
  }, 300_000);

  it('record exactly the pure plan, with an audit event per row, once however often they run', async () => {
    await fc.assert(
      fc.asyncProperty(world, async (w) => {
        await load(w);
        const before = await t.app.db.selectFrom('reminder_ledger').select('id').execute();
        const pure = await planScan(t.app.db, w.config, T);
        const counts = await recordDueInDatabase(t.app.db, w.config, T);
        const again = await recordDueInDatabase(t.app.db, w.config, T);
        const created = await t.app.db
          .selectFrom('reminder_ledger')
          .select(['kind', 'license_id', 'license_key', 'order_id', 'order_number', 'expires_on', 'offset_days', 'recipient', 'scan_date', 'group_key', 'status', 'reason'])
          .where('id', 'not in', before.length > 0 ? before.map((r) => r.id) : ['0'])
          .orderBy('id')
          .execute();
        expect(created).toEqual(pure.map(({ days_left: _, ...row }) => ({ ...row, license_id: String(row.license_id), order_id: String(row.order_id) })));
        expect(again).toEqual([]);
        expect(counts.reduce((n, c) => n + c.queued + c.skipped, 0)).toBe(pure.length);
        expect(counts.reduce((n, c) => n + c.late, 0)).toBe(pure.filter((r) => r.status === 'pending' && r.days_left < r.offset_days).length);
        const { rows: events } = await sql<{ n: string }>`
          select count(*) as n from reminder_events e join reminder_ledger l on l.id = e.ledger_id where l.scan_date = ${T}::date and e.actor = 'scan'`.execute(t.app.db);
        expect(Number(events[0]?.n)).toBe(pure.length);
      }),
      { numRuns: 30 },
    );
  }, 300_000);
});
