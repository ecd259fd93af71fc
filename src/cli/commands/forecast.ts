import type { Command } from 'commander';
import { businessDate } from '../../dates';
import { dateOption, positiveIntOption } from '../options';
import { formatTable } from '../table';

export function registerForecastCommand(program: Command): void {
  program
    .command('forecast')
    .description('show what the daily scans would send, per day; writes and sends nothing')
    .option('--from <YYYY-MM-DD>', 'first day (default: today in REMINDER_TIMEZONE)', dateOption)
    .option('--days <N>', 'number of days', positiveIntOption(3660), 14)
    .option('--json', 'one JSON object per day')
    .action(async (options: { from?: string; days: number; json?: boolean }) => {
      const [{ forecast }, { withApp }] = await Promise.all([import('../../scan/forecast'), import('../with-app')]);
      await withApp(async (app) => {
        const from = options.from ?? businessDate(new Date(), app.config.timezone);
        const days = await forecast(app.db, app.config, from, options.days);
        if (options.json) {
          for (const day of days) console.log(JSON.stringify(day));
          return;
        }
        // Days with nothing to send are summed up in one line, not listed as rows of zeros.
        const busy = days.filter((day) => day.sends.length > 0);
        const emails = busy.reduce((sum, d) => sum + d.sends.reduce((s, x) => s + x.emails, 0), 0);
        if (busy.length > 0) {
          const rows = busy.flatMap((day) => day.sends.map((s) => [day.date, s.kind, s.offset, s.emails, s.reminders, s.late]));
          console.log(formatTable(['date', 'kind', 'offset', 'emails', 'reminders', 'late'], rows));
        }
        const quiet = days.length - busy.length;
        console.log(
          busy.length === 0
            ? `Nothing due in the ${options.days} day(s) from ${from}, if the portal data stays as it is now.`
            : `${emails} email(s) on ${busy.length} of ${options.days} day(s) from ${from}${quiet > 0 ? ` (nothing due on the other ${quiet})` : ''}, if the portal data stays as it is now.`,
        );
      });
    });
}
