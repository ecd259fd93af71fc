import type { Kysely } from 'kysely';
import type { Database, IsoDate } from '../db/types';
import { businessDate, daysBetween } from '../dates';

export interface ScanStatus {
  /** The latest completed scan, or null when none ever completed. */
  lastScan: {
    date: IsoDate;
    completedAt: string;
    durationMs: number | null;
    /** Days before it that had no completed scan, as that scan found (caught up within CATCHUP_DAYS). */
    missedDays: number;
  } | null;
  /**
   * Business days from the last completed scan to today: 0 once today's scan ran, 1 before the
   * cron time, 2 or more means the scheduler is behind. Null when no scan ever completed.
   */
  daysBehind: number | null;
}

/** Where the daily scan stands, from `scan_runs` (PostgreSQL), not from the scheduler in Redis. */
export async function scanStatus(db: Kysely<Database>, timezone: string, now = new Date()): Promise<ScanStatus> {
  const row = await db
    .selectFrom('scan_runs')
    .select(['scan_date', 'completed_at', 'duration_ms', 'missed_days'])
    .where('completed_at', 'is not', null)
    .orderBy('scan_date', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (!row?.completed_at) return { lastScan: null, daysBehind: null };
  return {
    lastScan: {
      date: row.scan_date,
      completedAt: row.completed_at.toISOString(),
      durationMs: row.duration_ms,
      missedDays: row.missed_days,
    },
    daysBehind: Math.max(0, daysBetween(row.scan_date, businessDate(now, timezone))),
  };
}
