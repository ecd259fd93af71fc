import type { Command } from 'commander';
import { businessDate } from '../../dates';
import { dateOption } from '../options';

export function registerDemoDataCommand(program: Command): void {
  program
    .command('demo-data')
    .description('load demo orders, contacts and licenses into an empty database (for trying the daemon out)')
    .option('--today <YYYY-MM-DD>', 'date the demo expiry dates are relative to (default: today)', dateOption)
    .action(async (options: { today?: string }) => {
      const [{ loadDemoData }, { withApp }] = await Promise.all([import('../../demo/demo-data'), import('../with-app')]);
      await withApp(async (app) => {
        const today = options.today ?? businessDate(new Date(), app.config.timezone);
        const summary = await loadDemoData(app.db, today);
        console.log(`Loaded ${summary.orders} orders, ${summary.contacts} contacts and ${summary.licenses} licenses expiring after ${today}.`);
      });
    });
}
