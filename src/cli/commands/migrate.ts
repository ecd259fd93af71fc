import type { Command } from 'commander';

export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description('apply database migrations (idempotent; safe to run from several hosts at once); the first one publishes the shipped templates')
    .action(async () => {
      const [{ migrateToLatest }, { withApp }] = await Promise.all([import('../../db/migrate'), import('../with-app')]);
      await withApp(async (app) => {
        const result = await migrateToLatest(app.db);
        const applied = result.results?.filter((r) => r.status === 'Success').map((r) => r.migrationName) ?? [];
        console.log(applied.length > 0 ? `Applied ${applied.length} migration(s): ${applied.join(', ')}` : 'Database is up to date.');
        const { publishShippedIfNone } = await import('../../templates-store/publish-shipped');
        const shipped = await publishShippedIfNone(app.db, app.config.templatesDir, app.config);
        if (shipped?.status === 'published') {
          console.log(`Published the templates of ${app.config.templatesDir} (${shipped.publications.length} variants): nothing was published yet.`);
        } else if (shipped?.status === 'refused') {
          const { formatProblem } = await import('../../render/template-problem');
          for (const p of shipped.problems) console.error(formatProblem(p, app.config.templatesDir));
          console.error(`The templates of ${app.config.templatesDir} were not published: fix the problems above, then run \`reminders templates publish\`. Until then reminders fail (and can be replayed).`);
          process.exitCode = 1;
        }
      }, { schema: false });
    });
}
