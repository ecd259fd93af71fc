import type { Kysely, Transaction } from 'kysely';
import type { Database, IsoDate, LedgerStatus, ReminderKind } from '../db/types';
import { normalizeAddress } from '../send/address';
import { type PortalState, type SeriesMember, seriesKey } from './eligibility';

type Db = Kysely<Database> | Transaction<Database>;

/** The columns of a ledger row the eligibility rule reads. */
export interface RowRef {
  id: string;
  kind: ReminderKind;
  license_id: string;
  order_id: string;
  expires_on: IsoDate;
  offset_days: number;
  recipient: string;
}

/** The portal rows read for the rule; the claim reuses them to build the email. */
export interface EligibilityReads {
  /** Each ledger row's portal state and the other rows of its series. */
  byRow: Map<string, { portal: PortalState; series: SeriesMember[] }>;
  licenses: Array<{ id: string; product: string }>;
  /** Every contact of the rows' orders, subscribed or not, in id order. */
  contacts: Array<{ id: string; order_id: string; email: string; name: string | null; locale: string; unsubscribed_at: Date | null }>;
}

/**
 * Reads what the eligibility rule needs for ledger rows, in a few set-based queries: each row's
 * portal state (license, contacts with its address on its order, hold, suppression) and the other
 * rows of its series.
 */
export async function readEligibilityInputs(db: Db, rows: readonly RowRef[]): Promise<EligibilityReads> {
  const result = new Map<string, { portal: PortalState; series: SeriesMember[] }>();
  if (rows.length === 0) return { byRow: result, licenses: [], contacts: [] };
  const licenseIds = [...new Set(rows.map((r) => r.license_id))];
  const orderIds = [...new Set(rows.map((r) => r.order_id))];
  const recipients = [...new Set(rows.map((r) => r.recipient))];
  const [licenses, holds, suppressed, contacts, series] = await Promise.all([
    db.selectFrom('licenses').select(['id', 'product', 'status', 'license_type', 'expires_on', 'maintenance_expires_on']).where('id', 'in', licenseIds).execute(),
    db.selectFrom('license_holds').select(['license_id', 'reason']).where('license_id', 'in', licenseIds).execute(),
    db.selectFrom('suppressed_addresses').select(['address', 'reason']).where('address', 'in', recipients).execute(),
    db.selectFrom('order_contacts').select(['id', 'order_id', 'email', 'name', 'locale', 'unsubscribed_at']).where('order_id', 'in', orderIds).orderBy('id').execute(),
    readSeries(db, rows),
  ]);
  const license = new Map(licenses.map((l) => [l.id, l]));
  const hold = new Map(holds.map((h) => [h.license_id, h.reason]));
  const suppression = new Map(suppressed.map((s) => [s.address, s.reason]));
  const contactsOf = new Map<string, Array<{ unsubscribed: boolean }>>();
  for (const c of contacts) {
    const key = `${c.order_id}|${normalizeAddress(c.email)}`;
    contactsOf.set(key, [...(contactsOf.get(key) ?? []), { unsubscribed: c.unsubscribed_at !== null }]);
  }
  for (const row of rows) {
    const l = license.get(row.license_id);
    result.set(row.id, {
      portal: {
        license: l ? { status: l.status, licenseType: l.license_type, expiresOn: l.expires_on, maintenanceExpiresOn: l.maintenance_expires_on } : null,
        contacts: contactsOf.get(`${row.order_id}|${row.recipient}`) ?? [],
        hold: hold.get(row.license_id) ?? null,
        suppression: suppression.get(row.recipient) ?? null,
      },
      series: (series.get(seriesKey(row.kind, row.license_id, row.expires_on, row.recipient)) ?? []).filter((m) => m.id !== row.id),
    });
  }
  return { byRow: result, licenses, contacts };
}

/** Every ledger row of the rows' series (item, kind, expiry date, recipient), by series key. */
export async function readSeries(db: Db, rows: readonly Pick<RowRef, 'kind' | 'license_id' | 'expires_on' | 'recipient'>[]): Promise<Map<string, SeriesMember[]>> {
  const series = new Map<string, SeriesMember[]>();
  if (rows.length === 0) return series;
  const found = await db
    .selectFrom('reminder_ledger')
    .select(['id', 'kind', 'license_id', 'expires_on', 'recipient', 'offset_days', 'status'])
    .where('license_id', 'in', [...new Set(rows.map((r) => r.license_id))])
    .execute();
  const wanted = new Set(rows.map((r) => seriesKey(r.kind, r.license_id, r.expires_on, r.recipient)));
  for (const row of found) {
    const key = seriesKey(row.kind, row.license_id, row.expires_on, row.recipient);
    if (!wanted.has(key)) continue;
    series.set(key, [...(series.get(key) ?? []), { id: row.id, offset: row.offset_days, status: row.status as LedgerStatus }]);
  }
  return series;
}
