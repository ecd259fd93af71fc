import type { Command } from 'commander';
import { startDaemon, startSendWorker, untilSignal } from '../../daemon';
import { assertSafeHttpExposure, startHttpServer } from '../../ops/http-server';
import { waitUntilDrained } from '../../queue/drain';
import { withApp } from '../with-app';
import type { App } from '../../app';
import { checkSmtp } from '../../service-checks';
import { startWorkerProcesses } from '../../worker-processes';

/** A worker starts even when SMTP is down (sends retry with back-off), but says so at once. */
async function warnIfSmtpDown(app: App): Promise<void> {
  try {
    await checkSmtp(app.mailer(), app.config.smtpUrl);
  } catch (error) {
    app.logger.error({ err: (error as Error).cause }, (error as Error).message);
  }
}

export function registerWorkCommands(program: Command): void {
  program
    .command('work')
    .description('run the send worker (no scheduler); SIGTERM finishes the sends in hand and exits')
    .option('--drain', 'exit once no send is waiting, running or delayed for a retry')
    .action(async (options: { drain?: boolean }) => {
      await withApp(
        async (app) => {
          await warnIfSmtpDown(app);
          if (app.config.workerProcesses > 1) {
            const processes = startWorkerProcesses(app, { count: app.config.workerProcesses, drain: Boolean(options.drain) });
            await Promise.race([processes.finished, untilSignal()]);
            return processes.stop();
          }
          startSendWorker(app);
          app.logger.info({ mailer: app.mailer().description, drain: Boolean(options.drain) }, 'send worker started');
          if (options.drain) {
            const stop = new AbortController();
            const signal = untilSignal().then(() => stop.abort());
            await Promise.race([waitUntilDrained(app.sendQueue(), 200, stop.signal), signal]);
          } else {
            const signal = await untilSignal();
            app.logger.info({ signal }, 'stopping: finishing the sends in hand');
          }
        },
        { logTo: 1, needs: ['postgres', 'redis'] },
      );
    });

  program
    .command('start')
    .description('the daemon: daily scan scheduler (SCAN_CRON in REMINDER_TIMEZONE), scan and send workers, HTTP (health, metrics, dashboard)')
    .option('--no-worker', 'schedule and scan only; run `reminders work` elsewhere to send')
    .option('--no-http', 'serve no HTTP (no /healthz, /metrics, unsubscribe or dashboard)')
    .action(async (options: { worker: boolean; http: boolean }) => {
      await withApp(
        async (app) => {
          // Before anything starts: an exposed dashboard without a token is refused outright.
          if (options.http) assertSafeHttpExposure(app.config);
          if (options.worker) await warnIfSmtpDown(app);
          const processes = options.worker && app.config.workerProcesses > 1 ? app.config.workerProcesses : 0;
          await startDaemon(app, { sendWorker: options.worker && processes === 0, scanner: true });
          if (processes > 0) {
            const workers = startWorkerProcesses(app, { count: processes, drain: false });
            app.onClose(() => workers.stop());
          }
          if (options.http) {
            const http = await startHttpServer(app);
            // Closed first on SIGTERM (releases run newest-first), then the workers drain.
            app.onClose(() => http.close());
          }
          app.logger.info({ mailer: app.mailer().description, sendWorker: options.worker, http: options.http }, 'daemon started');
          const signal = await untilSignal();
          app.logger.info({ signal }, 'stopping: no new jobs, finishing the ones in hand');
        },
        { logTo: 1, needs: ['postgres', 'redis'] },
      );
    });
}
