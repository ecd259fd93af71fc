import type { Command } from 'commander';
import { businessDate } from '../../dates';
import { runScan, type ScanSummary } from '../../scan/run-scan';
import { dateOption } from '../options';
import { formatTable } from '../table';
import { withApp } from '../with-app';

export function registerScanCommand(program: Command): void {
  program
    .command('scan')
    .description('record and queue every reminder due on a business date (idempotent)')
    .option('--date <YYYY-MM-DD>', 'business date to scan (default: today in REMINDER_TIMEZONE)', dateOption)
    .option('--json', 'print the summary as JSON')
    .action(async (options: { date?: string; json?: boolean }) => {
      await withApp(async (app) => {
        const date = options.date ?? businessDate(new Date(), app.config.timezone);
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
