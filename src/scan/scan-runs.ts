import { type Kysely, sql } from 'kysely';
import type { Database, IsoDate } from '../db/types';

/** The latest business date whose scan completed: the scheduler's own record, kept in PostgreSQL. */
export async function lastCompletedScan(db: Kysely<Database>): Promise<{ scanDate: IsoDate; completedAt: Date } | null> {
  const row = await db
    .selectFrom('scan_runs')
    .select(['scan_date', 'completed_at'])
    .where('completed_at', 'is not', null)
    .orderBy('scan_date', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row?.completed_at ? { scanDate: row.scan_date, completedAt: row.completed_at } : null;
}

export async function markScanStarted(db: Kysely<Database>, scanDate: IsoDate): Promise<void> {
  await db
    .insertInto('scan_runs')
    .values({ scan_date: scanDate })
    .onConflict((oc) => oc.column('scan_date').doUpdateSet({ started_at: sql`now()` }))
    .execute();
}

export async function markScanCompleted(
  db: Kysely<Database>,
  scanDate: IsoDate,
  figures: { durationMs: number; queued: number; skipped: number; caughtUp: number; missedDays: number },
): Promise<void> {
  // Repeated scans of one date add up what each newly recorded.
  await db
    .updateTable('scan_runs')
    .set({
      completed_at: sql`now()`,
      duration_ms: figures.durationMs,
      queued: sql`queued + ${figures.queued}`,
      skipped: sql`skipped + ${figures.skipped}`,
      caught_up: sql`caught_up + ${figures.caughtUp}`,
      missed_days: figures.missedDays,
    })
    .where('scan_date', '=', scanDate)
    .execute();
}

/**
 * The latest `reminders prune` cutoff: series that expired before it were moved to the archive,
 * so the ledger no longer holds what they sent. Null when the ledger was never pruned.
 */
export async function prunedBefore(db: Kysely<Database>): Promise<IsoDate | null> {
  const { rows } = await sql<{ expired_before: IsoDate | null }>`select max(expired_before)::text as expired_before from ledger_prunes`.execute(db);
  return rows[0]?.expired_before ?? null;
}
