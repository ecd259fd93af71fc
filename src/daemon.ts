import type { Worker } from 'bullmq';
import { dailyScanJob } from '../jobs/daily-scan';
import { sendReminderJob } from '../jobs/send-reminder';
import type { App } from './app';
import { hostname } from 'node:os';
import { startOutboxLoop } from './delivery/outbox';
import { startBounceMailboxLoop } from './bounces/imap-mailbox';
import { startSalesDigestLoop } from './bounces/sales-digest';
import { registerDailyScan, scanTodayIfMissed } from './queue/scheduler';
import { startWorker } from './queue/workers';

export interface DaemonOptions {
  /** Run the send worker in this process (default). `--no-worker` makes a scan-only process. */
  sendWorker: boolean;
  /** Run the scan worker and register the scheduler (default). `reminders work` is send-only. */
  scanner: boolean;
  /** How often the daemon checks whether today's sales digest is due (tests shorten it). */
  digestCheckMs?: number;
}

/**
 * Starts the send worker (concurrency per process, the rate limit shared by every worker of the
 * queue) and its outbox loop: every OUTBOX_INTERVAL_MS, stale claims are swept and every pending
 * ledger group without a live job gets one, whatever Redis lost.
 */
export function startSendWorker(app: App): Worker {
  const { sendConcurrency, sendRatePerSec, sendLockMs, outboxIntervalMs } = app.config;
  const worker = startWorker(app, sendReminderJob, {
    concurrency: sendConcurrency,
    limiter: { max: sendRatePerSec, duration: 1000 },
    lockMs: sendLockMs,
  });
  // close() stops taking jobs and waits for the ones in hand.
  app.onClose(() => worker.close());
  const stopOutbox = startOutboxLoop(
    { db: app.db, sendQueue: app.sendQueue(), config: app.config, logger: app.logger },
    `outbox ${hostname()}/${process.pid}`,
    outboxIntervalMs,
  );
  // Registered after the worker, so it stops first (releases run newest-first).
  app.onClose(stopOutbox);
  return worker;
}

/** The long-running process: scheduler + scan worker + send worker. Resources close newest-first. */
export async function startDaemon(app: App, options: DaemonOptions): Promise<{ workers: Worker[] }> {
  const workers: Worker[] = [];
  if (options.scanner) {
    await registerDailyScan(app);
    const scanWorker = startWorker(app, dailyScanJob, { concurrency: 1 });
    app.onClose(() => scanWorker.close());
    workers.push(scanWorker);
    await scanTodayIfMissed(app);
    keepScheduleAlive(app);
    // Once today's scan is done, the renewals no contact can be reached for go to sales (once a day).
    app.onClose(startSalesDigestLoop(app, options.digestCheckMs ?? SCHEDULE_CHECK_MS));
    if (app.config.bounceImapUrl) app.onClose(startBounceMailboxLoop({ db: app.db, config: app.config, logger: app.logger }, app.config));
  }
  if (options.sendWorker) workers.push(startSendWorker(app));
  return { workers };
}

/** How often the daemon re-asserts its schedule. */
export const SCHEDULE_CHECK_MS = 15 * 60 * 1000;

/**
 * A Redis that was flushed or failed over to an empty replica forgets the job scheduler. Every
 * SCHEDULE_CHECK_MS the daemon registers the schedule again if it is missing and queues today's
 * scan if its time has passed without one. (Send jobs are the outbox loop's: see startSendWorker.)
 */
function keepScheduleAlive(app: App): void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    registerDailyScan(app, { quiet: true })
      .then(() => scanTodayIfMissed(app))
      .catch((error: unknown) => app.logger.error({ err: error }, 'could not check the daily scan schedule; will try again'))
      .finally(() => (running = false));
  }, SCHEDULE_CHECK_MS);
  timer.unref();
  app.onClose(() => clearInterval(timer));
}

/** Resolves on the first SIGTERM or SIGINT; a second one exits at once. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.removeListener('SIGTERM', onSignal);
      process.removeListener('SIGINT', onSignal);
      process.once('SIGTERM', () => process.exit(130));
      process.once('SIGINT', () => process.exit(130));
      resolve(signal);
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
}
