import type { Command } from 'commander';
import { loadDemoData } from '../../demo/demo-data';
import { businessDate } from '../../dates';
import { dateOption } from '../options';
import { UserError } from '../../user-error';
import { withApp } from '../with-app';

export function registerDemoDataCommand(program: Command): void {
  program
    .command('demo-data')
    .description('load demo orders, contacts and licenses into an empty database (for trying the daemon out)')
    .option('--today <YYYY-MM-DD>', 'date the demo expiry dates are relative to (default: today)', dateOption)
    .action(async (options: { today?: string }) => {
      await withApp(async (app) => {
        const today = options.today ?? businessDate(new Date(), app.config.timezone);
        const summary = await loadDemoData(app.db, today).catch((error: Error) => {
          throw new UserError(`demo-data: ${error.message}`);
        });
        console.log(`Loaded ${summary.orders} orders, ${summary.contacts} contacts and ${summary.licenses} licenses expiring after ${today}.`);
      });
    });
}
