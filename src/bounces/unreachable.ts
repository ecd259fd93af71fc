import { type Kysely, sql } from 'kysely';
import type { Config } from '../config';
import { addDays, businessDate } from '../dates';
import type { Database, IsoDate, ReminderKind } from '../db/types';

/** A renewal no contact can be reached for: sales should call. */
export interface UnreachableRenewal {
  orderNumber: string;
  customerName: string;
  items: Array<{ licenseKey: string; product: string; kind: ReminderKind; expiresOn: IsoDate }>;
  /** Every contact still subscribed, and why mail cannot reach it. */
  contacts: Array<{ address: string; why: string }>;
}

/** How long after expiry a renewal is still worth a call (renewals are counted up to 30 days after). */
export const UNREACHABLE_AFTER_EXPIRY_DAYS = 30;

/**
 * Renewals due within the reminder horizon (the largest offset ahead, 30 days past expiry) whose
 * order's every subscribed contact is suppressed or has bounced a reminder of that expiry. An
 * order whose contacts all unsubscribed is not listed: they chose to hear nothing.
 */
export async function listUnreachable(
  db: Kysely<Database>,
  config: Pick<Config, 'timezone' | 'offsets'>,
  today: IsoDate = businessDate(new Date(), config.timezone),
): Promise<UnreachableRenewal[]> {
  const from = addDays(today, -UNREACHABLE_AFTER_EXPIRY_DAYS);
  const to = addDays(today, Math.max(...config.offsets));
  const rows = await sql<{
    order_number: string;
    customer_name: string;
    license_key: string;
    product: string;
    kind: ReminderKind;
    expires_on: IsoDate;
    address: string;
    why: string | null;
  }>`
    with items as (
      select l.id, l.order_id, l.license_key, l.product, 'license' as kind, l.expires_on::text as expires_on
        from licenses l where l.status = 'active' and l.license_type = 'annual' and l.expires_on between ${from}::date and ${to}::date
      union all
      select l.id, l.order_id, l.license_key, l.product, 'maintenance', l.maintenance_expires_on::text
        from licenses l where l.status = 'active' and l.license_type = 'lifetime' and l.maintenance_expires_on between ${from}::date and ${to}::date
    ),
    reach as (
      select i.*, lower(trim(c.email)) as address,
        coalesce(
          'suppressed: ' || s.reason,
          (select 'bounced: ' || coalesce(b.reason, 'hard bounce') from reminder_ledger b
            where b.license_id = i.id and b.kind = i.kind and b.expires_on = i.expires_on::date
              and b.recipient = lower(trim(c.email)) and b.status = 'bounced'
            order by b.updated_at desc limit 1)
        ) as why
      from items i
      join order_contacts c on c.order_id = i.order_id and c.unsubscribed_at is null
      left join suppressed_addresses s on s.address = lower(trim(c.email))
    ),
    unreachable as (
      select id, kind from reach group by id, kind having bool_and(why is not null)
    )
    select o.order_number, o.customer_name, r.license_key, r.product, r.kind, r.expires_on, r.address, r.why
      from reach r
      join unreachable u on u.id = r.id and u.kind = r.kind
      join orders o on o.id = r.order_id
     order by r.expires_on, o.order_number, r.license_key, r.address`.execute(db);

  const byOrder = new Map<string, UnreachableRenewal>();
  for (const row of rows.rows) {
    let entry = byOrder.get(row.order_number);
    if (!entry) {
      entry = { orderNumber: row.order_number, customerName: row.customer_name, items: [], contacts: [] };
      byOrder.set(row.order_number, entry);
    }
    if (!entry.items.some((i) => i.licenseKey === row.license_key && i.kind === row.kind)) {
      entry.items.push({ licenseKey: row.license_key, product: row.product, kind: row.kind, expiresOn: row.expires_on });
    }
    if (!entry.contacts.some((c) => c.address === row.address)) entry.contacts.push({ address: row.address, why: row.why ?? '' });
  }
  return [...byOrder.values()];
}

/** The list as text: one block per order (the digest's plain-text body, and the command's output). */
export function formatUnreachable(renewals: readonly UnreachableRenewal[]): string {
  if (renewals.length === 0) return 'No renewal is unreachable: every due renewal has at least one contact mail can reach.';
  const blocks = renewals.map((r) =>
    [
      `Order ${r.orderNumber} — ${r.customerName}`,
      ...r.items.map((i) => `  ${i.kind === 'license' ? 'license' : 'maintenance'} ${i.licenseKey} (${i.product}) expires ${i.expiresOn}`),
      ...r.contacts.map((c) => `  ${c.address}: ${c.why}`),
    ].join('\n'),
  );
  return `${renewals.length} renewal(s) no contact can be reached for: please call the customer or find a working address.\n\n${blocks.join('\n\n')}`;
}
