import type { Command } from 'commander';
import type { App } from '../../app';
import type { Logger } from '../../logger';
import type { DrainSummary } from '../../ops/drain-summary';
import type { DrainWait } from '../../queue/drain';
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
    app.logger.error({ err: (error as Error).cause }, (error as Error).message);
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
  const attempt = wait.attempts > 0 ? ` (attempt ${wait.attemptsMade + 1} of ${wait.attempts})` : '';
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
  if (summary.claimedElsewhere > 0) {
    lines.push(
      `${summary.claimedElsewhere} reminder(s) claimed by another worker, or by one that stopped: they end sent, or unknown once the claim is older than SEND_CLAIM_TIMEOUT_MS (\`reminders failed\` then lists them).`,
    );
  }
  return lines.join('\n');
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
          const [{ drainQueue }, { databaseNow, drainSummary }] = await Promise.all([import('../../queue/drain'), import('../../ops/drain-summary')]);
          const since = await databaseNow(app.db);
          // Several processes send; this one watches the queue, says what it waits for, and sums up.
          const children = processes > 1 ? (await import('../../worker-processes')).startWorkerProcesses(app, { count: processes, drain: true }) : null;
          const worker = children ? null : startSendWorker(app);
          app.logger.info({ mailer: app.mailer().description, drain: true, processes }, 'send worker started: sending what is queued, then exiting');
          const stop = new AbortController();
          void untilSignal().then((signal) => {
            app.logger.info({ signal }, 'stopping: finishing the sends in hand');
            stop.abort();
          });
          let said = '';
          let saidAt = 0;
          const how = await drainQueue(app.sendQueue(), {
            signal: stop.signal,
            deadline: options.maxWait ? Date.now() + options.maxWait * 1000 : undefined,
            onWaiting: (wait) => {
              // Said again when the reason changes, and every 30 s while the wait goes on.
              const text = describeWait(wait);
              const gist = text.replace(/in [^;(]+/, '');
              if (gist !== said || Date.now() - saidAt > 30_000) app.logger.info({ delayed: wait.delayed, nextRetryAt: wait.nextRetryAt }, text);
              said = gist;
              saidAt = Date.now();
            },
          });
          // Finish the sends in hand before counting, so that the summary is the final word.
          await worker?.close();
          if (children) await (how === 'drained' ? children.finished : children.stop());
          const summary = await drainSummary(app.db, since);
          app.logger.info({ ...summary, ended: how }, 'drain finished');
          report = formatDrainSummary(summary, how);
          if (summary.failed + summary.unknown > 0) process.exitCode = DRAIN_FAILED_EXIT;
          else if (summary.retriedLater > 0) process.exitCode = DRAIN_UNFINISHED_EXIT;
        },
        { logTo: 1, needs: ['postgres', 'redis'] },
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
        { logTo: 1, needs: ['postgres', 'redis'] },
      );
      logger?.info('stopped');
    });
}
