import { type Kysely, sql } from 'kysely';
import type { Database, IsoDate, ReminderKind } from '../db/types';
import { EXPIRY_SOURCE } from '../delivery/eligibility';
import { normalizeAddress } from '../send/address';

/** One (item, recipient) pair the scan considers: an active license with a due expiry date. */
export interface Candidate {
  kind: ReminderKind;
  licenseId: string;
  licenseKey: string;
  orderId: string;
  orderNumber: string;
  expiresOn: IsoDate;
  /** Lower-cased, trimmed address: the recipient identity for grouping and dedup. */
  recipient: string;
}


/**
 * Active items of `kind` whose expiry date is one of `expiryDates`, each with every subscribed
 * contact of its order. The predicates repeat the partial indexes' own (literal type and status)
 * so PostgreSQL answers from `licenses_*_expiry_idx`: the cost follows the due items.
 */
export async function findCandidates(db: Kysely<Database>, kind: ReminderKind, expiryDates: IsoDate[]): Promise<Candidate[]> {
  if (expiryDates.length === 0) return [];
  // Literals, not parameters: the planner matches them against the partial index's predicate.
  const { column, type } = EXPIRY_SOURCE[kind];
  // Three key lookups rather than one join: joined, the planner hash-joins a sequential scan of
  // the whole orders table once it overestimates the due licenses (it does at 1M licenses), and
  // the scan's cost would follow the table instead of the due items.
  const { rows: licenses } = await sql<{ id: string; license_key: string; order_id: string; expires_on: IsoDate }>`
    select id, license_key, order_id, ${sql.ref(column)} as expires_on
    from licenses
    where license_type = ${sql.lit(type)} and status = 'active' and ${sql.ref(column)} is not null
      and ${sql.ref(column)} = any(${expiryDates}::date[])
    order by id`.execute(db);
  if (licenses.length === 0) return [];
  const orderIds = [...new Set(licenses.map((l) => l.order_id))];
  const [{ rows: orders }, { rows: contacts }] = await Promise.all([
    sql<{ id: string; order_number: string }>`select id, order_number from orders where id = any(${orderIds}::bigint[])`.execute(db),
    sql<{ order_id: string; email: string }>`
      select order_id, email from order_contacts where order_id = any(${orderIds}::bigint[]) and unsubscribed_at is null
      order by order_id, id`.execute(db),
  ]);
  const orderNumber = new Map(orders.map((o) => [o.id, o.order_number]));
  const emailsOf = new Map<string, string[]>();
  for (const c of contacts) {
    const list = emailsOf.get(c.order_id);
    if (list) list.push(c.email);
    else emailsOf.set(c.order_id, [c.email]);
  }
  const candidates: Candidate[] = [];
  for (const license of licenses) {
    const seen = new Set<string>();
    for (const email of emailsOf.get(license.order_id) ?? []) {
      const recipient = normalizeAddress(email);
      if (recipient === '' || seen.has(recipient)) continue;
      seen.add(recipient);
      candidates.push({
        kind,
        licenseId: license.id,
        licenseKey: license.license_key,
        orderId: license.order_id,
        orderNumber: orderNumber.get(license.order_id) ?? '',
        expiresOn: license.expires_on,
        recipient,
      });
    }
  }
  return candidates;
}

