import type { JobDefinition } from '../src/queue/job-definition';
import { SCAN_QUEUE } from '../src/queue/queues';
import { businessDate } from '../src/scan/dates';
import { runScan, type ScanSummary } from '../src/scan/run-scan';

export const DAILY_SCAN_JOB = 'daily-scan';

/** `date` is set for an explicit scan; the scheduler's jobs leave it out and scan the day they fired. */
export interface DailyScanData {
  date?: string;
}

/** The daily scan: the business date is the scheduled fire time's date, so a late job scans its own day. */
export const dailyScanJob: JobDefinition<DailyScanData, ScanSummary> = {
  queue: SCAN_QUEUE,
  name: DAILY_SCAN_JOB,
  process: (payload, { app, scheduledFor }) =>
    runScan(
      { db: app.db, sendQueue: app.sendQueue(), config: app.config, logger: app.logger },
      payload.date ?? businessDate(scheduledFor, app.config.timezone),
    ),
};
