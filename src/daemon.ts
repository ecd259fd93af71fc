import type { Worker } from 'bullmq';
import { dailyScanJob } from '../jobs/daily-scan';
import { sendReminderJob } from '../jobs/send-reminder';
import type { App } from './app';
import { hostname } from 'node:os';
import { SEND_BACKOFF, settleLeases, startLoop, startOutboxLoop } from './delivery/outbox';
import { backoffDelay } from './delivery/transitions';
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

/** How often a send worker with delayed retries checks whether SMTP answers again. */
export const SMTP_PROBE_MS = 5000;

/**
 * Starts the send worker (concurrency per process, the rate limit shared by every worker of the
 * queue, the back-off from this process's settings) and its loops:
 * - the lease sweep, every SEND_SWEEP_MS: expired leases settled, rows never handed over queued again;
 * - the outbox pass, every OUTBOX_INTERVAL_MS: every pending ledger group gets a live job;
 * - while retries wait, an SMTP probe every few seconds.
 * When the database or SMTP answers again after failing, delayed retries are promoted at once, so
 * a send follows the end of an outage within seconds rather than at its next back-off.
 */
export function startSendWorker(app: App): Worker {
  const { sendConcurrency, sendRatePerSec, sendLockMs, outboxIntervalMs, sendSweepMs } = app.config;
  const worker = startWorker(app, sendReminderJob, {
    concurrency: sendConcurrency,
    limiter: { max: sendRatePerSec, duration: 1000 },
    lockMs: sendLockMs,
    backoff: sendBackoff(app.config),
  });
  // close() stops taking jobs and waits for the ones in hand.
  app.onClose(() => worker.close());
  const deps = { db: app.db, sendQueue: app.sendQueue(), config: app.config, logger: app.logger };
  const actor = `outbox ${hostname()}/${process.pid}`;
  const promote = (why: string) => promoteRetries(app, why);
  const stopOutbox = startOutboxLoop(deps, actor, outboxIntervalMs, undefined, () => promote('the database and Redis answer again'));
  const stopSweep = startLoop(() => settleLeases(deps, actor), sendSweepMs, {
    onError: (error, first) => first && app.logger.warn({ event: 'sweep', err: error }, 'lease sweep failed; will try again'),
    onRecovered: () => promote('the database answers again'),
  });
  const stopProbe = startSmtpProbe(app, () => promote('SMTP answers again'));
  // Registered after the worker, so they stop first (releases run newest-first).
  app.onClose(stopOutbox);
  app.onClose(stopSweep);
  app.onClose(stopProbe);
  return worker;
}

/** The send jobs' back-off, from this worker's settings (SEND_BACKOFF_MS doubling, SEND_BACKOFF_MAX_MS cap). */
export const sendBackoff = (config: Pick<App['config'], 'sendBackoffMs' | 'sendBackoffMaxMs'>) => ({
  type: SEND_BACKOFF,
  delayMs: (tries: number) => backoffDelay(tries, config.sendBackoffMs, config.sendBackoffMaxMs),
});

/** Delayed send retries run now: the outage that delayed them is over. */
async function promoteRetries(app: App, why: string): Promise<void> {
  try {
    const delayed = (await app.sendQueue().getJobCounts('delayed')).delayed ?? 0;
    if (delayed === 0) return;
    await app.sendQueue().promoteJobs();
    app.logger.info({ event: 'retry', promoted: delayed }, `${why}: retrying ${delayed} delayed send(s) now`);
  } catch (error) {
    app.logger.warn({ err: error }, 'could not promote the delayed sends; they run at their back-off');
  }
}

/**
 * While send retries are delayed, checks every SMTP_PROBE_MS that the SMTP server answers; when it
 * answers after having failed, `onUp` runs.
 */
function startSmtpProbe(app: App, onUp: () => Promise<void>): () => Promise<void> {
  let down = false;
  return startLoop(
    async () => {
      const delayed = (await app.sendQueue().getJobCounts('delayed')).delayed ?? 0;
      if (delayed === 0 && !down) return;
      try {
        await app.mailer().verify();
      } catch {
        down = true;
        return;
      }
      if (down) {
        down = false;
        await onUp();
      }
    },
    SMTP_PROBE_MS,
    {},
  );
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
    if (app.config.bounceImapUrl) {
      // Loaded only where a bounce mailbox is read: the IMAP client and the mail parser are a
      // sixth of the modules, and of the memory, of a process that only sends.
      const { startBounceMailboxLoop } = await import('./bounces/imap-mailbox');
      app.onClose(startBounceMailboxLoop({ db: app.db, config: app.config, logger: app.logger }, app.config));
    }
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
