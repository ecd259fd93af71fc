import type { Command } from 'commander';
import { migrateToLatest } from '../../db/migrate';
import { withApp } from '../with-app';

export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('apply database migrations (idempotent; safe to run from several hosts at once)')
    .action(async () => {
      await withApp(async (app) => {
        const result = await migrateToLatest(app.db);
        const applied = result.results?.filter((r) => r.status === 'Success').map((r) => r.migrationName) ?? [];
        console.log(applied.length > 0 ? `Applied ${applied.length} migration(s): ${applied.join(', ')}` : 'Database is up to date.');
      });
    });
}
