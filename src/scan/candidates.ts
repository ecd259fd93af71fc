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
  const expiry = sql.ref(`l.${column}`);
  const query = sql<RawCandidate>`
    select l.id as license_id, l.license_key, l.order_id, o.order_number, ${expiry} as expires_on, c.email
    from licenses l
    join orders o on o.id = l.order_id
    join order_contacts c on c.order_id = l.order_id and c.unsubscribed_at is null
    where l.license_type = ${sql.lit(type)} and l.status = 'active' and ${expiry} is not null
      and ${expiry} = any(${expiryDates}::date[])
    order by l.id, c.id`;
  const { rows } = await query.execute(db);
  const seen = new Set<string>();
  const candidates: Candidate[] = [];
  for (const row of rows) {
    const recipient = normalizeAddress(row.email);
    const key = `${row.license_id}|${recipient}`;
    if (recipient === '' || seen.has(key)) continue;
    seen.add(key);
    candidates.push({
      kind,
      licenseId: row.license_id,
      licenseKey: row.license_key,
      orderId: row.order_id,
      orderNumber: row.order_number,
      expiresOn: row.expires_on,
      recipient,
    });
  }
  return candidates;
}

interface RawCandidate {
  license_id: string;
  license_key: string;
  order_id: string;
  order_number: string;
  expires_on: IsoDate;
  email: string;
}
