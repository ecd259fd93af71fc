import type { Command } from 'commander';
import { businessDate } from '../../dates';
import { forecast } from '../../scan/forecast';
import { dateOption, positiveIntOption } from '../options';
import { formatTable } from '../table';
import { withApp } from '../with-app';

export function registerForecastCommand(program: Command): void {
  program
    .command('forecast')
    .description('show what the daily scans would send, per day; writes and sends nothing')
    .option('--from <YYYY-MM-DD>', 'first day (default: today in REMINDER_TIMEZONE)', dateOption)
    .option('--days <N>', 'number of days', positiveIntOption(3660), 14)
    .option('--json', 'one JSON object per day')
    .action(async (options: { from?: string; days: number; json?: boolean }) => {
      await withApp(async (app) => {
        const from = options.from ?? businessDate(new Date(), app.config.timezone);
        const days = await forecast(app.db, app.config, from, options.days);
        if (options.json) {
          for (const day of days) console.log(JSON.stringify(day));
          return;
        }
        const rows = days.flatMap((day) =>
          day.sends.length === 0
            ? [[day.date, '-', '-', 0, 0, 0]]
            : day.sends.map((s) => [day.date, s.kind, s.offset, s.emails, s.reminders, s.late]),
        );
        console.log(formatTable(['date', 'kind', 'offset', 'emails', 'reminders', 'late'], rows));
        const emails = days.reduce((sum, d) => sum + d.sends.reduce((s, x) => s + x.emails, 0), 0);
        console.log(`${emails} email(s) over ${options.days} day(s) from ${from}, if the portal data stays as it is now.`);
      });
    });
}
