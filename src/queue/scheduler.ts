import type { App } from '../app';
import { DAILY_SCAN_JOB } from '../../jobs/daily-scan';
import { businessDate } from '../scan/dates';
import { lastCompletedScan } from '../scan/scan-runs';

export const DAILY_SCAN_SCHEDULER = 'daily-scan';

/**
 * Registers the daily scan as a BullMQ Job Scheduler. Upserting one id is atomic, so any number
 * of daemons may do it; a race with a running iteration is harmless and only logged.
 */
export async function registerDailyScan(app: App, options: { quiet?: boolean } = {}): Promise<void> {
  const { scanCron, timezone } = app.config;
  try {
    await app
      .scanQueue()
      .upsertJobScheduler(
        DAILY_SCAN_SCHEDULER,
        { pattern: scanCron, tz: timezone },
        { name: DAILY_SCAN_JOB, data: {}, opts: { removeOnComplete: { count: 400 }, removeOnFail: { count: 400 }, attempts: 3, backoff: { type: 'exponential', delay: 60_000 } } },
      );
    app.logger[options.quiet ? 'debug' : 'info']({ pattern: scanCron, tz: timezone }, 'daily scan scheduled');
  } catch (error) {
    if (/already exists/i.test((error as Error).message)) {
      app.logger.warn({ err: error }, 'daily scan scheduler was being updated by another process');
      return;
    }
    throw error;
  }
}

/**
 * Schedulers do not backfill: when today's scan has not completed (the daemon was down at the
 * cron time), queue one now. The scan is idempotent, so a duplicate costs one query.
 */
export async function scanTodayIfMissed(app: App, now = new Date()): Promise<boolean> {
  const today = businessDate(now, app.config.timezone);
  // Today's own record: a scan run ahead for a future date does not count for today.
  const done = await app.db.selectFrom('scan_runs').select('scan_date').where('scan_date', '=', today).where('completed_at', 'is not', null).executeTakeFirst();
  if (done) return false;
  const last = await lastCompletedScan(app.db);
  await app.scanQueue().add(DAILY_SCAN_JOB, { date: today }, { removeOnComplete: { count: 400 }, removeOnFail: { count: 400 }, attempts: 3 });
  app.logger.info({ today, lastCompletedScan: last?.scanDate ?? null }, "today's scan had not run yet: queued it now");
  return true;
}
