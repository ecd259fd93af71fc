import type { Command } from 'commander';
import { startDaemon, startSendWorker, untilSignal } from '../../daemon';
import { waitUntilDrained } from '../../queue/drain';
import { withApp } from '../with-app';

export function registerWorkCommands(program: Command): void {
  program
    .command('work')
    .description('run the send worker (no scheduler); SIGTERM finishes the sends in hand and exits')
    .option('--drain', 'exit once no send is waiting, running or delayed for a retry')
    .action(async (options: { drain?: boolean }) => {
      await withApp(
        async (app) => {
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
        { logTo: 1 },
      );
    });

  program
    .command('start')
    .description('the daemon: daily scan scheduler (SCAN_CRON in REMINDER_TIMEZONE), scan and send workers, HTTP (health, metrics, dashboard)')
    .option('--no-worker', 'schedule and scan only; run `reminders work` elsewhere to send')
    .action(async (options: { worker: boolean }) => {
      await withApp(
        async (app) => {
          await startDaemon(app, { sendWorker: options.worker, scanner: true });
          app.logger.info({ mailer: app.mailer().description, sendWorker: options.worker }, 'daemon started');
          const signal = await untilSignal();
          app.logger.info({ signal }, 'stopping: no new jobs, finishing the ones in hand');
        },
        { logTo: 1 },
      );
    });
}
