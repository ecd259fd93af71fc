import type { Command } from 'commander';
import { dateOption } from '../options';
import { formatTable } from '../table';

/** `reminders report outcomes`: which reminders bring renewals, per variant, version and arm. */
export function registerReportCommands(report: Command): void {
  report
    .command('outcomes')
    .description('renewals attributed to reminders: per kind × offset × locale × template version × arm, and arm B against arm A')
    .option('--from <date>', 'reminders sent on or after this business date (YYYY-MM-DD)', dateOption)
    .option('--to <date>', 'reminders sent on or before this business date', dateOption)
    .option('--json', 'print JSON: { rows, comparisons }')
    .option('--csv', 'print the rows as CSV')
    .action(async (options: { from?: string; to?: string; json?: boolean; csv?: boolean }) => {
      const [{ withApp }, { outcomesReport }, { outcomesCsv }, { businessDate }, { UserError }] = await Promise.all([
        import('../with-app'),
        import('../../outcomes/report'),
        import('../../outcomes/outcome-table'),
        import('../../dates'),
        import('../../user-error'),
      ]);
      if (options.json && options.csv) throw new UserError('give --json or --csv, not both');
      if (options.from && options.to && options.from > options.to) throw new UserError(`--from ${options.from} is after --to ${options.to}`);
      await withApp(async (app) => {
        const result = await outcomesReport(app.db, { from: options.from, to: options.to, asOf: businessDate(new Date(), app.config.timezone) });
        if (options.json) {
          console.log(JSON.stringify(result, null, 2));
          return;
        }
        if (options.csv) {
          process.stdout.write(outcomesCsv(result.rows));
          return;
        }
        if (result.rows.length === 0) {
          console.log('No reminders sent in that range.');
          return;
        }
        console.log(
          formatTable(
            ['kind', 'offset', 'locale', 'version', 'arm', 'sent', 'renewed before', 'renewed ≤30 d after', 'not renewed', 'median days'],
            result.rows.map((r) => [r.kind, r.offset, r.locale, r.templateVersion, r.arm, r.sent, r.renewedBeforeExpiry, r.renewedAfterExpiry, r.notRenewed, r.medianDaysToRenewal]),
          ),
        );
        for (const c of result.comparisons) {
          console.log(`\n${c.kind} ${c.offset} ${c.locale}: A ${c.a.renewed}/${c.a.series} renewed, B ${c.b.renewed}/${c.b.series} renewed: ${c.verdict}`);
        }
        console.log(`\nSeries still within 30 days after their expiry and not renewed are counted in none of the outcome columns (as of ${result.asOf}).`);
      });
    });
}
