import { CronExpressionParser } from 'cron-parser';
import type { Queue } from 'bullmq';
import type { Kysely } from 'kysely';
import type { Config } from '../config';
import { businessDate } from '../dates';
import type { Database } from '../db/types';
import { reconcileOutbox } from '../delivery/outbox';
import type { Logger } from '../logger';
import { DAILY_SCAN_JOB } from '../scan/scan-job-payload';

/** What the schedule needs of the composition root (the App has it all). */
export interface ScheduleDeps {
  readonly db: Kysely<Database>;
  readonly config: Pick<Config, 'scanCron' | 'timezone' | 'sendAttempts' | 'sendBackoffMs' | 'sendLeaseMs' | 'sendReplayGraceMs'>;
  readonly logger: Logger;
  scanQueue(): Queue;
  sendQueue(): Queue;
}

export const DAILY_SCAN_SCHEDULER = 'daily-scan';

const SCAN_JOB_OPTIONS = {
  removeOnComplete: { count: 400 },
  removeOnFail: { count: 400 },
  attempts: 3,
  backoff: { type: 'exponential', delay: 60_000 },
} as const;

/**
 * Registers the daily scan as a BullMQ Job Scheduler, unless it is there already with the same
 * pattern and zone (an upsert would replace an iteration that is due but not yet taken). Upserting
 * one id is atomic, so any number of daemons may do it; a race with a running iteration is
 * harmless and only logged.
 */
export async function registerDailyScan(app: ScheduleDeps, options: { quiet?: boolean } = {}): Promise<void> {
  const { scanCron, timezone } = app.config;
  const existing = await app.scanQueue().getJobScheduler(DAILY_SCAN_SCHEDULER);
  if (existing && existing.pattern === scanCron && existing.tz === timezone) return;
  try {
    await app
      .scanQueue()
      .upsertJobScheduler(DAILY_SCAN_SCHEDULER, { pattern: scanCron, tz: timezone }, { name: DAILY_SCAN_JOB, data: {}, opts: SCAN_JOB_OPTIONS });
    app.logger[options.quiet && !existing ? 'warn' : 'info'](
      { pattern: scanCron, tz: timezone },
      existing ? 'daily scan schedule updated' : options.quiet ? 'daily scan schedule was missing from Redis: registered it again' : 'daily scan scheduled',
    );
  } catch (error) {
    if (/already exists/i.test((error as Error).message)) {
      app.logger.warn({ err: error }, 'daily scan scheduler was being updated by another process');
      return;
    }
    throw error;
  }
}

/** The business date of the schedule's latest fire time at or before `now`. */
export function lastFireDate(pattern: string, timezone: string, now: Date): string {
  const previous = CronExpressionParser.parse(pattern, { tz: timezone, currentDate: now }).prev().toDate();
  return businessDate(previous, timezone);
}

/**
 * Schedulers do not backfill: when today's scheduled time has passed and today's scan has not
 * completed (the daemon was down at the cron time, or Redis lost the schedule), queue it now.
 * Before the cron time nothing is queued: the schedule itself will fire. One job id per day, so
 * daemons checking at once add one job; a failed one is replaced.
 */
export async function scanTodayIfMissed(app: ScheduleDeps, now = new Date()): Promise<boolean> {
  const { scanCron, timezone } = app.config;
  const today = businessDate(now, timezone);
  if (lastFireDate(scanCron, timezone, now) !== today) return false;
  const done = await app.db
    .selectFrom('scan_runs')
    .select('scan_date')
    .where('scan_date', '=', today)
    .where('completed_at', 'is not', null)
    .executeTakeFirst();
  if (done) return false;
  const jobId = `catchup.${today}`;
  const previous = await app.scanQueue().getJob(jobId);
  if (previous) {
    const state = await previous.getState();
    if (state !== 'failed' && state !== 'completed') return false;
    await previous.remove();
  }
  await app.scanQueue().add(DAILY_SCAN_JOB, { date: today }, { ...SCAN_JOB_OPTIONS, jobId });
  app.logger.warn({ today, scanCron, timezone }, "today's scheduled scan has not run: queued it now");
  return true;
}

/** One outbox pass: stale claims swept, a send job for every pending ledger group that has none live. */
export async function requeuePending(app: ScheduleDeps): Promise<number> {
  const pass = await reconcileOutbox({ db: app.db, sendQueue: app.sendQueue(), config: app.config, logger: app.logger }, 'outbox');
  return pass.groups;
}
