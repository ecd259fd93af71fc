import { type Kysely, sql } from 'kysely';
import { DateTime } from 'luxon';
import type { Database, IsoDate, LedgerRow } from '../db/types';
import type { UndeliveredStatus } from './undelivered-statuses';

// Kept in a module of their own so that the command line can name them without loading kysely.
export { DEFAULT_UNDELIVERED, UNDELIVERED_STATUSES, type UndeliveredStatus } from './undelivered-statuses';

export interface UndeliveredFilter {
  statuses: readonly UndeliveredStatus[];
  /** Only rows whose status changed at or after this instant. */
  since?: Date;
  /** Most recent rows first when cut; the result is still oldest-first. */
  limit?: number;
}

export type UndeliveredRow = Pick<
  LedgerRow,
  | 'id'
  | 'status'
  | 'kind'
  | 'license_key'
  | 'order_number'
  | 'recipient'
  | 'offset_days'
  | 'expires_on'
  | 'scan_date'
  | 'attempts'
  | 'reason'
  | 'forced'
  | 'updated_at'
>;

/** Ledger rows that were not delivered, oldest change first, with the total before any limit. */
export async function listUndelivered(db: Kysely<Database>, filter: UndeliveredFilter): Promise<{ rows: UndeliveredRow[]; total: number }> {
  let query = db.selectFrom('reminder_ledger').where('status', 'in', [...filter.statuses]);
  if (filter.since) query = query.where('updated_at', '>=', filter.since);
  const [rows, count] = await Promise.all([
    query
      .select(['id', 'status', 'kind', 'license_key', 'order_number', 'recipient', 'offset_days', 'expires_on', 'scan_date', 'attempts', 'reason', 'forced', 'updated_at'])
      .orderBy('updated_at', 'desc')
      .orderBy('id', 'desc')
      .$if(filter.limit !== undefined, (q) => q.limit(filter.limit ?? 0))
      .execute(),
    query.select(sql<string>`count(*)`.as('n')).executeTakeFirstOrThrow(),
  ]);
  return { rows: rows.reverse(), total: Number(count.n) };
}

/** The instant a business date begins in the business time zone: what `--since D` means. */
export function startOfBusinessDay(date: IsoDate, timezone: string): Date {
  return DateTime.fromISO(date, { zone: timezone }).startOf('day').toJSDate();
}
