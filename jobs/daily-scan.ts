import type { App } from '../src/app';
import { businessDate } from '../src/dates';
import type { JobDefinition } from '../src/queue/job-definition';
import { SCAN_QUEUE } from '../src/queue/queues';
import { runScan, type ScanSummary } from '../src/scan/run-scan';
import { DAILY_SCAN_JOB, type DailyScanData, dailyScanPayload } from '../src/scan/scan-job-payload';

/** The daily scan: the business date is the scheduled fire time's date, so a late job scans its own day. */
export const dailyScanJob: JobDefinition<DailyScanData, ScanSummary, App> = {
  queue: SCAN_QUEUE,
  name: DAILY_SCAN_JOB,
  payload: dailyScanPayload,
  process: (payload, { app, scheduledFor }) =>
    runScan(
      { db: app.db, sendQueue: app.sendQueue(), config: app.config, logger: app.logger },
      payload.date ?? businessDate(scheduledFor, app.config.timezone),
    ),
};
