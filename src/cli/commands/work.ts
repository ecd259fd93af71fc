import type { Command } from 'commander';
import type { App } from '../../app';
import type { Logger } from '../../logger';
import type { DrainSummary } from '../../ops/drain-summary';
import { SEND_BACKOFF } from '../../delivery/outbox';
import { backoffDelay } from '../../delivery/transitions';
import { type DrainWait, drainQueue } from '../../queue/drain';
import { positiveIntOption } from '../options';

/** Exit codes of `work --drain`: something needs an operator, or sends are left for later. */
export const DRAIN_FAILED_EXIT = 1;
export const DRAIN_UNFINISHED_EXIT = 75;

/** A worker starts even when SMTP is down (sends retry with back-off), but says so at once. */
async function warnIfSmtpDown(app: App): Promise<void> {
  const { checkSmtp } = await import('../../service-checks');
  try {
    await checkSmtp(app.mailer(), app.config.smtpUrl);
  } catch (error) {
    // One line: what is wrong and what happens now. The cause's message, not its stack.
    const cause = (error as Error).cause as Error | undefined;
    app.logger.error({ reason: cause?.message ?? null }, `${(error as Error).message}; sends wait and are retried as soon as it answers`);
  }
}

/** "1 min 20 s", "45 s": a wait a person can read. */
export function humanDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min${seconds % 60 ? ` ${seconds % 60} s` : ''}`;
  return `${Math.floor(minutes / 60)} h${minutes % 60 ? ` ${minutes % 60} min` : ''}`;
}

/** What a drain waits for, in one sentence: how many retries, when the next one is, and why. */
export function describeWait(wait: DrainWait, now = Date.now()): string {
  const why = wait.lastError ? smtpTrouble(wait.lastError) : 'a transient failure';
  const next = wait.nextRetryAt ? `next retry in ${humanDuration(wait.nextRetryAt.getTime() - now)}` : 'next retry soon';
  // The job's tries; each reminder's own attempts (SEND_ATTEMPTS) are in the ledger (`history`).
  const attempt = wait.attempts > 0 ? ` (try ${wait.attemptsMade + 1} of ${wait.attempts})` : '';
  return `waiting: ${wait.delayed} send(s) delayed for a retry after ${why}; ${next}${attempt}`;
}

function smtpTrouble(error: string): string {
  if (/ECONNREFUSED|ECONNECTION|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|ESOCKET|Greeting never received|Connection closed/i.test(error)) return `SMTP unreachable (${error})`;
  if (/^\s*4\d\d/.test(error)) return `the SMTP server deferred it (${error})`;
  return `an error (${error})`;
}

export function formatDrainSummary(summary: DrainSummary, how: 'drained' | 'deadline' | 'aborted'): string {
  const ended = how === 'drained' ? 'Drained' : how === 'deadline' ? 'Stopped at --max-wait' : 'Stopped by a signal';
  const lines = [`${ended}: ${summary.sent} sent, ${summary.failed} failed, ${summary.unknown} unknown, ${summary.skipped} skipped, ${summary.retriedLater} retried later.`];
  if (summary.failed + summary.unknown > 0) lines.push('Not delivered: `reminders failed` lists them with the reason; `reminders replay ID…` sends them again once the cause is fixed.');
  if (summary.retriedLater > 0) lines.push('Retried later: still pending in the ledger and queued; a running daemon, `reminders work` or another `work --drain` sends them.');
  if (summary.unknown > 0) {
    lines.push('Unknown: handed to SMTP, outcome not recorded; they may have been delivered. Check with the Message-ID (`reminders history ID`) before `reminders replay ID…`.');
  }
  if (summary.claimedElsewhere > 0) {
    lines.push(
      `${summary.claimedElsewhere} reminder(s) held by another live worker's lease: that worker records them, or any worker settles them within SEND_LEASE_MS + SEND_SWEEP_MS if it stops.`,
    );
  }
  return lines.join('\n');
}

/** How often a drain repeats a wait that goes on. */
export const WAIT_REPEAT_MS = 30_000;

/** Logs a line when its gist (the text without its countdown) changes, and every `repeatMs` while it does not. */
export function sayEvery(repeatMs: number, log: (text: string, fields: object) => void, now = () => Date.now()) {
  let said = '';
  let saidAt = 0;
  return (text: string, fields: object = {}) => {
    const gist = text.replace(/in \d[^;(]*/g, '');
    if (gist === said && now() - saidAt < repeatMs) return;
    log(text, fields);
    said = gist;
    saidAt = now();
  };
}

/**
 * After the queue drained: rows still `sending` belong to leases. A dead worker's lease expires
 * within SEND_LEASE_MS; this waits for it (at most two leases and a sweep, saying so), settles
 * it (never handed over → pending and sent now; handed over → unknown), and drains what that
 * queued. Rows of a live worker elsewhere keep their lease and are reported, not waited for.
 */
async function settleDeadWorkers(
  app: App,
  drainOptions: Parameters<typeof drainQueue>[1] & object,
  say: (text: string, fields?: object) => void,
  ensureWorker: () => void,
): Promise<'drained' | 'deadline' | 'aborted'> {
  const { settleLeases } = await import('../../delivery/outbox');
  const { openRows } = await import('../../delivery/ledger-sql');
  const bound = Date.now() + 2 * app.config.sendLeaseMs + app.config.sendSweepMs;
  const deps = { db: app.db, sendQueue: app.sendQueue(), config: app.config, logger: app.logger };
  for (;;) {
    if (drainOptions.signal?.aborted) return 'aborted';
    const settled = await settleLeases(deps, 'drain').catch(() => ({ swept: [], requeued: [] as string[] }));
    if (settled.requeued.length > 0) {
      ensureWorker();
      const how = await drainQueue(app.sendQueue(), drainOptions);
      if (how !== 'drained') return how;
      continue;
    }
    const open = await openRows(app.db).catch(() => null);
    const sending = open?.counts.sending ?? 0;
    const pending = open?.counts.pending ?? 0;
    if (open && sending === 0) {
      if (pending === 0) return 'drained';
      // Pending rows with no job (queued while this drain ran, or a lost job): give them one.
      const { reconcileOutbox } = await import('../../delivery/outbox');
      const pass = await reconcileOutbox(deps, 'drain').catch(() => null);
      if (!pass || pass.groups === 0) return 'drained';
      ensureWorker();
      const how = await drainQueue(app.sendQueue(), drainOptions);
      if (how !== 'drained') return how;
      if (Date.now() > bound) return 'drained';
      continue;
    }
    if (Date.now() > bound) return 'drained';
    if (drainOptions.deadline !== undefined && Date.now() >= drainOptions.deadline) return 'deadline';
    const left = open?.latestLease ? Math.max(0, Math.round((open.latestLease.getTime() - Date.now()) / 1000)) : null;
    say(
      `waiting: ${sending} reminder(s) still sending under the lease of a worker that may have stopped${left !== null ? `; the lease expires in ${left} s` : ''}, then they are settled`,
      { sending },
    );
    await new Promise((resolve) => setTimeout(resolve, Math.min(1000, app.config.sendSweepMs)));
  }
}

export function registerWorkCommands(program: Command): void {
  program
    .command('work')
    .description('run the send worker (no scheduler); SIGTERM finishes the sends in hand and exits')
    .option('--drain', 'exit once no send is waiting, running or delayed for a retry, with a summary; exit 1 if something failed')
    .option('--max-wait <seconds>', 'with --drain: stop waiting for delayed retries after this long (they stay queued)', positiveIntOption(7 * 24 * 3600))
    .addHelpText(
      'after',
      `
With --drain the exit code is 0 when everything was sent or skipped, ${DRAIN_FAILED_EXIT} when a reminder
failed or is unknown, ${DRAIN_UNFINISHED_EXIT} when it stopped (--max-wait, a signal) with sends still queued.`,
    )
    .action(async (options: { drain?: boolean; maxWait?: number }) => {
      const [{ withApp }, { startSendWorker, untilSignal }] = await Promise.all([import('../with-app'), import('../../daemon')]);
      let logger: Logger | undefined;
      let report: string | undefined;
      await withApp(
        async (app) => {
          logger = app.logger;
          await warnIfSmtpDown(app);
          const processes = app.config.workerProcesses;
          if (!options.drain) {
            if (processes > 1) {
              const { startWorkerProcesses } = await import('../../worker-processes');
              const children = startWorkerProcesses(app, { count: processes, drain: false });
              await Promise.race([children.finished, untilSignal()]);
              return children.stop();
            }
            startSendWorker(app);
            app.logger.info({ mailer: app.mailer().description, drain: false }, 'send worker started');
            const signal = await untilSignal();
            app.logger.info({ signal }, 'stopping: finishing the sends in hand');
            return;
          }
          const { databaseNow, drainSummary } = await import('../../ops/drain-summary');
          const since = await databaseNow(app.db);
          // Several processes send; this one watches the queue, says what it waits for, and sums up.
          const children = processes > 1 ? (await import('../../worker-processes')).startWorkerProcesses(app, { count: processes, drain: true }) : null;
          let worker = children ? null : startSendWorker(app);
          // The processes exit once the queue is empty: rows settled after that are sent here.
          const ensureWorker = () => {
            worker ??= startSendWorker(app);
          };
          app.logger.info({ mailer: app.mailer().description, drain: true, processes }, 'send worker started: sending what is queued, then exiting');
          const stop = new AbortController();
          void untilSignal().then((signal) => {
            app.logger.info({ signal }, 'stopping: finishing the sends in hand');
            stop.abort();
          });
          const deadline = options.maxWait ? Date.now() + options.maxWait * 1000 : undefined;
          const say = sayEvery(WAIT_REPEAT_MS, (text, fields) => app.logger.info(fields, text));
          const drainOptions = {
            signal: stop.signal,
            deadline,
            backoff: { type: SEND_BACKOFF, delayMs: (tries: number) => backoffDelay(tries, app.config.sendBackoffMs, app.config.sendBackoffMaxMs) },
            // Said again when the reason changes, and every 30 s while the wait goes on.
            onWaiting: (wait: DrainWait) => say(describeWait(wait), { delayed: wait.delayed, nextRetryAt: wait.nextRetryAt }),
          };
          let how = await drainQueue(app.sendQueue(), drainOptions);
          // The queue is empty, but rows of workers that died may still be `sending` under their
          // leases: wait for those to expire (bounded), settle them, and send what was never handed over.
          if (how === 'drained') how = await settleDeadWorkers(app, drainOptions, say, ensureWorker);
          // Finish the sends in hand before counting, so that the summary is the final word.
          await worker?.close();
          if (children) await (how === 'drained' ? children.finished : children.stop());
          const summary = await drainSummary(app.db, since);
          app.logger.info({ ...summary, ended: how }, 'drain finished');
          report = formatDrainSummary(summary, how);
          if (summary.failed + summary.unknown > 0) process.exitCode = DRAIN_FAILED_EXIT;
          else if (summary.retriedLater > 0) process.exitCode = DRAIN_UNFINISHED_EXIT;
        },
        { needs: ['postgres', 'redis'] },
      );
      logger?.info('stopped');
      if (report) console.log(report);
    });

  program
    .command('start')
    .description('the daemon: daily scan scheduler (SCAN_CRON in REMINDER_TIMEZONE), scan and send workers, HTTP (console, health, metrics, dashboard)')
    .option('--no-worker', 'schedule and scan only; run `reminders work` elsewhere to send')
    .option('--no-http', 'serve no HTTP (no console, /healthz, /metrics, unsubscribe or dashboard)')
    .action(async (options: { worker: boolean; http: boolean }) => {
      const [{ withApp }, { startDaemon, untilSignal }, { assertConsoleExposure, startConsoleHttpServer }] = await Promise.all([
        import('../with-app'),
        import('../../daemon'),
        import('../../console/serve'),
      ]);
      let logger: Logger | undefined;
      await withApp(
        async (app) => {
          logger = app.logger;
          // Before anything starts: an exposed console with no account to sign in is refused outright.
          if (options.http) await assertConsoleExposure(app);
          if (options.worker) await warnIfSmtpDown(app);
          const processes = options.worker && app.config.workerProcesses > 1 ? app.config.workerProcesses : 0;
          await startDaemon(app, { sendWorker: options.worker && processes === 0, scanner: true });
          if (processes > 0) {
            const { startWorkerProcesses } = await import('../../worker-processes');
            const workers = startWorkerProcesses(app, { count: processes, drain: false });
            app.onClose(() => workers.stop());
          }
          if (options.http) {
            const http = await startConsoleHttpServer(app);
            // Closed first on SIGTERM (releases run newest-first), then the workers drain.
            app.onClose(() => http.close());
          }
          app.logger.info({ mailer: app.mailer().description, sendWorker: options.worker, http: options.http }, 'daemon started');
          const signal = await untilSignal();
          app.logger.info({ signal }, 'stopping: no new jobs, finishing the ones in hand');
        },
        { needs: ['postgres', 'redis'] },
      );
      logger?.info('stopped');
    });
}
