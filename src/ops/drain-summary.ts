import { type Kysely, sql } from 'kysely';
import type { Database, LedgerEvent } from '../db/types';
import { OPEN_STATUSES, TRANSITIONS } from '../delivery/transitions';

/** Events of the transitions workers and the sweep apply: a row with one since the start was this drain's. */
const WORKER_EVENTS = [
  ...new Set(
    Object.values(TRANSITIONS as Record<string, { by: string; event: LedgerEvent | null }>)
      .filter((t) => t.by !== 'operator')
      .flatMap((t) => (t.event === null ? [] : [t.event])),
  ),
];

/** What a `work --drain` run did: rows its sends touched, by the status they ended in. */
export interface DrainSummary {
  sent: number;
  failed: number;
  unknown: number;
  skipped: number;
  /** Still pending: delayed for a retry (or not reached) when the drain stopped. */
  retriedLater: number;
  /**
   * Still `sending` under another live worker's lease when the drain ended: that worker records
   * them, or the sweep settles them once the lease expires. Not this drain's to send.
   */
  claimedElsewhere: number;
}

/** The database's clock: event times are written by it, so the summary compares against it. */
export async function databaseNow(db: Kysely<Database>): Promise<Date> {
  const row = await sql<{ now: Date }>`select now() as now`.execute(db);
  return row.rows[0]!.now;
}

/**
 * Reads the outcome from the ledger, the record of what went out: every row a worker claimed,
 * sent, failed, skipped or marked unknown since `since`, by its status now, and the rows still
 * pending, which a later retry, worker or daemon will send.
 */
export async function drainSummary(db: Kysely<Database>, since: Date): Promise<DrainSummary> {
  const touched = await db
    .selectFrom('reminder_ledger')
    .select(['status', (eb) => eb.fn.countAll<string>().as('n')])
    .where((eb) =>
      eb.exists(
        eb
          .selectFrom('reminder_events')
          .select('reminder_events.id')
          .whereRef('reminder_events.ledger_id', '=', 'reminder_ledger.id')
          .where('reminder_events.at', '>=', since)
          .where('reminder_events.event', 'in', WORKER_EVENTS),
      ),
    )
    .groupBy('status')
    .execute();
  const open = await db
    .selectFrom('reminder_ledger')
    .select(['status', (eb) => eb.fn.countAll<string>().as('n')])
    .where('status', 'in', [...OPEN_STATUSES])
    .groupBy('status')
    .execute();
  const count = (status: string) => Number(touched.find((row) => row.status === status)?.n ?? 0);
  const still = (status: string) => Number(open.find((row) => row.status === status)?.n ?? 0);
  return {
    sent: count('sent'),
    failed: count('failed'),
    unknown: count('unknown'),
    skipped: count('skipped'),
    retriedLater: still('pending'),
    claimedElsewhere: still('sending'),
  };
}
