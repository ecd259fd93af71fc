import type { Command } from 'commander';

export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('apply database migrations (idempotent; safe to run from several hosts at once)')
    .action(async () => {
      const [{ migrateToLatest }, { withApp }] = await Promise.all([import('../../db/migrate'), import('../with-app')]);
      await withApp(async (app) => {
        const result = await migrateToLatest(app.db);
        const applied = result.results?.filter((r) => r.status === 'Success').map((r) => r.migrationName) ?? [];
        console.log(applied.length > 0 ? `Applied ${applied.length} migration(s): ${applied.join(', ')}` : 'Database is up to date.');
      }, { schema: false });
    });
}
