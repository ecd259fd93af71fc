import { type Kysely, sql, type Transaction } from 'kysely';
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
  /** The rows' orders and their customer names. */
  orders: Array<{ id: string; customer_name: string }>;
}

/**
 * Reads what the eligibility rule needs for ledger rows in ONE statement (each set aggregated as
 * JSON): each row's portal state (license, contacts with its address on its order, hold,
 * suppression), the other rows of its series, and the orders' customer names the email shows.
 * One statement, not six: on the send path each statement's submission costs more than its plan.
 */
export async function readEligibilityInputs(db: Db, rows: readonly RowRef[]): Promise<EligibilityReads> {
  const result = new Map<string, { portal: PortalState; series: SeriesMember[] }>();
  if (rows.length === 0) return { byRow: result, licenses: [], contacts: [], orders: [] };
  const licenseIds = [...new Set(rows.map((r) => r.license_id))];
  const orderIds = [...new Set(rows.map((r) => r.order_id))];
  const recipients = [...new Set(rows.map((r) => r.recipient))];
  const { rows: answer } = await sql<ReadsRow>`
    select
      (select coalesce(json_agg(json_build_object('id', l.id::text, 'product', l.product, 'status', l.status, 'license_type', l.license_type,
          'expires_on', l.expires_on, 'maintenance_expires_on', l.maintenance_expires_on)), '[]'::json)
        from licenses l where l.id = any(${licenseIds}::bigint[])) as licenses,
      (select coalesce(json_agg(json_build_object('license_id', h.license_id::text, 'reason', h.reason)), '[]'::json)
        from license_holds h where h.license_id = any(${licenseIds}::bigint[])) as holds,
      (select coalesce(json_agg(json_build_object('address', s.address, 'reason', s.reason)), '[]'::json)
        from suppressed_addresses s where s.address = any(${recipients}::text[])) as suppressed,
      (select coalesce(json_agg(json_build_object('id', c.id::text, 'order_id', c.order_id::text, 'email', c.email, 'name', c.name, 'locale', c.locale,
          'unsubscribed_at', c.unsubscribed_at) order by c.id), '[]'::json)
        from order_contacts c where c.order_id = any(${orderIds}::bigint[])) as contacts,
      (select coalesce(json_agg(json_build_object('id', o.id::text, 'customer_name', o.customer_name)), '[]'::json)
        from orders o where o.id = any(${orderIds}::bigint[])) as orders,
      (select coalesce(json_agg(json_build_object('id', r.id::text, 'kind', r.kind, 'license_id', r.license_id::text, 'expires_on', r.expires_on,
          'recipient', r.recipient, 'offset_days', r.offset_days, 'status', r.status)), '[]'::json)
        from reminder_ledger r where r.license_id = any(${licenseIds}::bigint[])) as series`.execute(db);
  const reads = answer[0] as ReadsRow;
  const contacts = reads.contacts.map((c) => ({ ...c, unsubscribed_at: c.unsubscribed_at === null ? null : new Date(c.unsubscribed_at) }));
  const license = new Map(reads.licenses.map((l) => [l.id, l]));
  const hold = new Map(reads.holds.map((h) => [h.license_id, h.reason]));
  const suppression = new Map(reads.suppressed.map((s) => [s.address, s.reason]));
  const series = seriesByKey(rows, reads.series);
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
  return { byRow: result, licenses: reads.licenses, contacts, orders: reads.orders };
}

/** The one row of the reads statement: each set as JSON (ids as text, dates as YYYY-MM-DD). */
interface ReadsRow {
  licenses: Array<{ id: string; product: string; status: string; license_type: string; expires_on: IsoDate | null; maintenance_expires_on: IsoDate | null }>;
  holds: Array<{ license_id: string; reason: string }>;
  suppressed: Array<{ address: string; reason: string }>;
  contacts: Array<{ id: string; order_id: string; email: string; name: string | null; locale: string; unsubscribed_at: string | null }>;
  orders: Array<{ id: string; customer_name: string }>;
  series: Array<{ id: string; kind: ReminderKind; license_id: string; expires_on: IsoDate; recipient: string; offset_days: number; status: LedgerStatus }>;
}

function seriesByKey(rows: readonly Pick<RowRef, 'kind' | 'license_id' | 'expires_on' | 'recipient'>[], found: ReadsRow['series']): Map<string, SeriesMember[]> {
  const series = new Map<string, SeriesMember[]>();
  const wanted = new Set(rows.map((r) => seriesKey(r.kind, r.license_id, r.expires_on, r.recipient)));
  for (const row of found) {
    const key = seriesKey(row.kind, row.license_id, row.expires_on, row.recipient);
    if (!wanted.has(key)) continue;
    series.set(key, [...(series.get(key) ?? []), { id: row.id, offset: row.offset_days, status: row.status }]);
  }
  return series;
}

/** Every ledger row of the rows' series (item, kind, expiry date, recipient), by series key. */
export async function readSeries(db: Db, rows: readonly Pick<RowRef, 'kind' | 'license_id' | 'expires_on' | 'recipient'>[]): Promise<Map<string, SeriesMember[]>> {
  if (rows.length === 0) return new Map();
  const found = await db
    .selectFrom('reminder_ledger')
    .select(['id', 'kind', 'license_id', 'expires_on', 'recipient', 'offset_days', 'status'])
    .where('license_id', 'in', [...new Set(rows.map((r) => r.license_id))])
    .execute();
  return seriesByKey(rows, found as ReadsRow['series']);
}
