import { type Command, InvalidArgumentError } from 'commander';
import { businessDate } from '../../dates';
import { type Age, parseAge } from '../../ops/prune-age';
import { operatorName } from './ops';

function ageOption(value: string): Age {
  try {
    return parseAge(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

export function registerPruneCommand(program: Command): void {
  program
    .command('prune')
    .description('archive the ledger rows of series that expired long ago (keeps the ledger, and its queries, small)')
    .requiredOption('--older-than <age>', 'archive series whose expiry date is older than this: 400d, 18m, 2y (at least CATCHUP_DAYS)', ageOption)
    .option('--dry-run', 'count what would be archived; change nothing')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Rows move, with their audit events, to reminder_ledger_archive and reminder_events_archive (each row
whole, as JSON). Series still ahead or within the catch-up window keep their rows, and pending or
sending rows are never moved, so nothing can be sent twice; afterwards a scan for a date whose
window reaches back before the cutoff is refused.

Example (cron, monthly): reminders prune --older-than 2y`,
    )
    .action(async (options: { olderThan: Age; dryRun?: boolean; json?: boolean }) => {
      const [{ pruneLedger }, { withApp }] = await Promise.all([import('../../ops/prune'), import('../with-app')]);
      await withApp(async (app) => {
        const today = businessDate(new Date(), app.config.timezone);
        const result = await pruneLedger(app.db, { today, age: options.olderThan, catchupDays: app.config.catchupDays, actor: operatorName(), dryRun: options.dryRun });
        if (options.json) console.log(JSON.stringify({ ...result, dryRun: Boolean(options.dryRun) }));
        else {
          const verb = options.dryRun ? 'Would archive' : 'Archived';
          console.log(`${verb} ${result.ledgerRows} ledger row(s) and ${result.eventRows} event(s) of series that expired before ${result.expiredBefore}.`);
        }
      });
    });
}
