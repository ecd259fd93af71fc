import type { Kysely, Selectable } from 'kysely';
import type { Database, LedgerRow, ReminderEventsTable } from '../db/types';

export type LedgerEventRow = Selectable<ReminderEventsTable>;

export interface HistoryEntry {
  row: LedgerRow;
  events: LedgerEventRow[];
}

export interface HistoryResult {
  entries: HistoryEntry[];
  /** What blocks reminders right now: holds, suppression, unsubscribed contacts, license state. */
  notes: string[];
}

/**
 * The full audit of one license key and/or one address: every ledger row with its events in
 * order, plus the current holds, suppressions and unsubscriptions that explain a skip.
 */
export async function ledgerHistory(db: Kysely<Database>, filter: { licenseKey?: string; recipient?: string }): Promise<HistoryResult> {
  const rows = await db
    .selectFrom('reminder_ledger')
    .selectAll()
    .$if(filter.licenseKey !== undefined, (q) => q.where('license_key', '=', filter.licenseKey as string))
    .$if(filter.recipient !== undefined, (q) => q.where('recipient', '=', filter.recipient as string))
    .orderBy('license_key')
    .orderBy('kind')
    .orderBy('expires_on')
    .orderBy('offset_days', 'desc')
    .orderBy('recipient')
    .orderBy('id')
    .execute();
  const events =
    rows.length === 0
      ? []
      : await db
          .selectFrom('reminder_events')
          .selectAll()
          .where(
            'ledger_id',
            'in',
            rows.map((r) => r.id),
          )
          .orderBy('id')
          .execute();
  const entries = rows.map((row) => ({ row, events: events.filter((e) => e.ledger_id === row.id) }));
  return { entries, notes: await currentState(db, filter) };
}

async function currentState(db: Kysely<Database>, filter: { licenseKey?: string; recipient?: string }): Promise<string[]> {
  const notes: string[] = [];
  if (filter.licenseKey !== undefined) {
    const licenses = await db
      .selectFrom('licenses')
      .leftJoin('license_holds', 'license_holds.license_id', 'licenses.id')
      .innerJoin('orders', 'orders.id', 'licenses.order_id')
      .select(['licenses.id', 'licenses.status', 'licenses.license_type', 'licenses.expires_on', 'licenses.maintenance_expires_on', 'orders.order_number', 'license_holds.reason as hold', 'license_holds.created_at as heldSince'])
      .where('licenses.license_key', '=', filter.licenseKey)
      .orderBy('licenses.id')
      .execute();
    if (licenses.length === 0) notes.push(`license ${filter.licenseKey}: not in the portal's licenses table`);
    for (const l of licenses) {
      const expiry = l.license_type === 'annual' ? `expires ${l.expires_on ?? '(no date)'}` : `maintenance expires ${l.maintenance_expires_on ?? '(no date)'}`;
      notes.push(`license ${filter.licenseKey} (order ${l.order_number}): ${l.status}, ${l.license_type}, ${expiry}`);
      if (l.hold) notes.push(`license ${filter.licenseKey} (order ${l.order_number}): ON HOLD since ${l.heldSince?.toISOString()}: ${l.hold}`);
    }
  }
  if (filter.recipient !== undefined) {
    const [suppression, contacts] = await Promise.all([
      db.selectFrom('suppressed_addresses').selectAll().where('address', '=', filter.recipient).executeTakeFirst(),
      db
        .selectFrom('order_contacts')
        .innerJoin('orders', 'orders.id', 'order_contacts.order_id')
        .select(['orders.order_number', 'order_contacts.unsubscribed_at'])
        .where((eb) => eb(eb.fn('lower', [eb.fn('btrim', ['order_contacts.email'])]), '=', filter.recipient as string))
        .orderBy('orders.order_number')
        .execute(),
    ]);
    if (suppression) notes.push(`${filter.recipient}: SUPPRESSED since ${suppression.created_at.toISOString()}: ${suppression.reason}`);
    if (contacts.length === 0) notes.push(`${filter.recipient}: not a contact of any order`);
    for (const c of contacts) {
      notes.push(`${filter.recipient}: contact of order ${c.order_number}${c.unsubscribed_at ? `, UNSUBSCRIBED ${c.unsubscribed_at.toISOString()}` : ''}`);
    }
  }
  return notes;
}
