import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { dateOption } from '../options';

/** Exit code when a bounce could not be stored: EX_TEMPFAIL, which tells an MTA's pipe to retry. */
export const INGEST_TEMPFAIL_EXIT = 75;

async function readInput(file: string | undefined): Promise<Buffer> {
  if (file && file !== '-') return readFile(file);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Bounces and complaints: `bounces ingest`, `unreachable`, `report deliverability`. */
/** The bounce commands; `report deliverability` goes under the `report` group given. */
export function registerBounceCommands(program: Command, report: Command): void {
  const bounces = program.command('bounces').description('bounces and complaints received after a reminder was sent');
  bounces
    .command('ingest')
    .description('record one raw bounce or complaint message (RFC 3464 DSN, ARF, or a plain bounce), as an MTA pipes it')
    .argument('[FILE]', 'the message; - or nothing: standard input')
    .addHelpText(
      'after',
      `
Exit 0 once the message is stored, whether or not it names a reminder; ${INGEST_TEMPFAIL_EXIT} (EX_TEMPFAIL)
when it could not be stored, so the MTA keeps it and retries. Postfix master.cf, for example:
  bounces unix - n n - - pipe flags=Rq user=reminders argv=/usr/bin/reminders bounces ingest -`,
    )
    .action(async (file: string | undefined) => {
      let raw: Buffer;
      try {
        raw = await readInput(file);
      } catch (error) {
        const { UserError } = await import('../../user-error');
        throw new UserError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      }
      const [{ withApp }, { ingestRawMessage }] = await Promise.all([import('../with-app'), import('../../bounces/ingest')]);
      try {
        await withApp(async (app) => {
          const outcome = await ingestRawMessage({ db: app.db, config: app.config, logger: app.logger }, 'mta', raw);
          const events = outcome.events.map((e) => `${e.type} ${e.recipient ?? '(no recipient)'}: ${e.action}`);
          console.log(
            [`stored as bounce message ${outcome.bounceMessageId}${outcome.duplicate ? ' (already received)' : ''}`, ...events, ...(outcome.problem ? [`note: ${outcome.problem}`] : [])].join('\n'),
          );
        });
      } catch (error) {
        console.error(`reminders: the bounce was not stored: ${(error as Error).message}; exit ${INGEST_TEMPFAIL_EXIT} so the MTA retries`);
        process.exitCode = INGEST_TEMPFAIL_EXIT;
      }
    });

  program
    .command('unreachable')
    .description('renewals no contact can be reached for (every address suppressed or bounced), for sales to call')
    .option('--json', 'one JSON object per line')
    .option('--email', 'send the list to SALES_EMAIL now (the daemon sends it once a day)')
    .action(async (options: { json?: boolean; email?: boolean }) => {
      const [{ withApp }, { listUnreachable, formatUnreachable }, { sendSalesDigest }] = await Promise.all([
        import('../with-app'),
        import('../../bounces/unreachable'),
        import('../../bounces/sales-digest'),
      ]);
      await withApp(async (app) => {
        const renewals = await listUnreachable(app.db, app.config);
        if (options.json) for (const r of renewals) console.log(JSON.stringify(r));
        else console.log(formatUnreachable(renewals));
        if (options.email) {
          const sent = await sendSalesDigest(app, { force: true });
          console.log(sent.sent ? `Sent to ${app.config.salesEmail} (${sent.orders} order(s)).` : `Not sent: ${sent.reason}.`);
        }
      }, { needs: options.email ? ['postgres', 'smtp'] : ['postgres'] });
    });

  report
    .command('deliverability')
    .description('bounce and complaint rates per day and per receiving domain, flagged against the mailbox providers\' limits')
    .option('--from <YYYY-MM-DD>', 'first day (default: 30 days ago)', dateOption)
    .option('--to <YYYY-MM-DD>', 'last day (default: today)', dateOption)
    .option('--json', 'JSON: { days: [...], domains: [...] }')
    .action(async (options: { from?: string; to?: string; json?: boolean }) => {
      const [{ withApp }, { deliverabilityReport, formatDeliverability }] = await Promise.all([import('../with-app'), import('../../bounces/deliverability')]);
      await withApp(async (app) => {
        const result = await deliverabilityReport(app.db, app.config, { from: options.from, to: options.to });
        console.log(options.json ? JSON.stringify(result, null, 2) : formatDeliverability(result));
      });
    });
}
