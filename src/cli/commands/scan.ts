import type { Command } from 'commander';
import type { ScanSummary } from '../../scan/run-scan';
import { businessDate, daysBetween } from '../../dates';
import { UserError } from '../../user-error';
import { dateOption } from '../options';
import { formatTable } from '../table';

export function registerScanCommand(program: Command): void {
  program
    .command('scan')
    .description('record and queue every reminder due on a business date (idempotent)')
    .option('--date <YYYY-MM-DD>', 'business date to scan (default: today in REMINDER_TIMEZONE)', dateOption)
    .option('--force', 'scan a date other than today: a later one sends that day\'s reminders now, early (rehearsals, tests); an earlier one sends what was due then, late')
    .option('--json', 'print the summary as JSON')
    .action(async (options: { date?: string; force?: boolean; json?: boolean }) => {
      const [{ runScan }, { withApp }] = await Promise.all([import('../../scan/run-scan'), import('../with-app')]);
      await withApp(async (app) => {
        const today = businessDate(new Date(), app.config.timezone);
        const date = options.date ?? today;
        const ahead = daysBetween(today, date);
        // Customers would get that day's reminders now: days or months early, and never again.
        if (ahead > 0 && !options.force) {
          throw new UserError(
            `${date} is ${ahead} day(s) after today (${today} in ${app.config.timezone}): scanning it sends that day's reminders now, early. ` +
              `See them first with \`reminders forecast --from ${date} --days 1\`; add --force to scan it anyway.`,
          );
        }
        // A past day's reminders go out today, late: a 14-day reminder of an item that expires today
        // would arrive on the expiry day. The daemon's own catch-up covers missed days within CATCHUP_DAYS.
        if (ahead < 0 && !options.force) {
          throw new UserError(
            `${date} is ${-ahead} day(s) before today (${today} in ${app.config.timezone}): scanning it sends that day's reminders now, late ` +
              `(each says the days left as of today). Scan today instead (it catches up on the last ${app.config.catchupDays} day(s)); add --force to scan ${date} anyway.`,
          );
        }
        const summary = await runScan({ db: app.db, sendQueue: app.sendQueue(), config: app.config, logger: app.logger }, date);
        console.log(options.json ? JSON.stringify(summary) : formatScanSummary(summary));
      }, { needs: ['postgres', 'redis'] });
    });
}

export function formatScanSummary(summary: ScanSummary): string {
  const lines = [`Scan for ${summary.scanDate}: ${summary.queued} queued, ${summary.skipped} skipped, ${summary.caughtUp} caught up late.`];
  if (summary.counts.length > 0) {
    lines.push(
      formatTable(
        ['kind', 'offset', 'queued', 'late', 'skipped'],
        summary.counts.map((c) => [c.kind, c.offset, c.queued, c.late, c.skipped]),
      ),
    );
  } else {
    lines.push('Nothing new was due.');
  }
  if (summary.missedDays > 0) lines.push(`WARNING: ${summary.missedDays} day(s) before ${summary.scanDate} had no completed scan.`);
  if (summary.unknownClaims > 0) lines.push(`WARNING: ${summary.unknownClaims} claim(s) of stopped workers marked unknown.`);
  lines.push(`${summary.jobsSubmitted} send job(s) submitted to the queue (existing ones are not duplicated).`);
  return lines.join('\n');
}
