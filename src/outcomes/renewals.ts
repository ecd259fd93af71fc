import { type Kysely, sql } from 'kysely';
import type { Database, IsoDate } from '../db/types';
import { addDays } from '../dates';

/** Renewals after this many days past the expiry no longer count as brought by a reminder. */
export const RENEWAL_WINDOW_DAYS = 30;

/**
 * Records, on scan date T, every series the ledger knows whose item's expiry date has since moved
 * forward: a renewal, observed on T. Only series that expired at most the renewal window (plus a
 * margin for missed scans) before T are looked at, so the cost follows recent series. Idempotent:
 * the first observation of a series' renewal is kept.
 */
export async function observeRenewals(db: Kysely<Database>, scanDate: IsoDate): Promise<number> {
  const since = addDays(scanDate, -2 * RENEWAL_WINDOW_DAYS);
  const result = await sql`
    insert into license_renewals (license_id, kind, old_expires_on, new_expires_on, observed_on)
    select s.license_id, s.kind, s.expires_on,
           case when s.kind = 'license' then l.expires_on else l.maintenance_expires_on end,
           ${scanDate}::date
    from (select distinct license_id, kind, expires_on from reminder_ledger where expires_on >= ${since}::date) s
    join licenses l on l.id = s.license_id
    where (s.kind = 'license' and l.expires_on > s.expires_on)
       or (s.kind = 'maintenance' and l.maintenance_expires_on > s.expires_on)
    on conflict do nothing`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}
