import type { Command } from 'commander';
import { UserError } from '../../user-error';

/**
 * `reminders templates version <hash>`: what a template version said, as the worker kept it when
 * it first sent it. A ledger row's `template_version` (see `reminders history`) names the version.
 */
export function registerTemplateVersionCommand(templates: Command): void {
  templates
    .command('version')
    .description('print what a template version said (a version from the ledger, `history` or `templates versions`): its files, subject and variants')
    .argument('<version>', 'the 12-character version hash')
    .option('--html', 'print the compiled HTML instead of the source files')
    .action(async (version: string, options: { html?: boolean }) => {
      const [{ withApp }, { databaseVersionStore }] = await Promise.all([import('../with-app'), import('../../render/template-versions')]);
      await withApp(async (app) => {
        const stored = await databaseVersionStore(app.db).find(version.trim());
        if (stored.length === 0) {
          throw new UserError(`no template version ${version} in this database: see reminders templates versions`);
        }
        const first = stored[0]!;
        const lines = [
          `template version ${version}`,
          `variants: ${stored.map((s) => `${s.family}/${s.requestedLocale}/${s.variant}`).join(', ')}`,
          `subject: ${first.subject}   (${first.subjectWhere})`,
          '',
        ];
        if (options.html) lines.push(first.html);
        else for (const [file, text] of Object.entries(first.sources)) lines.push(`===== ${file}`, text.trimEnd(), '');
        process.stdout.write(`${lines.join('\n')}\n`);
      });
    });
}
