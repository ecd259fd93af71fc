import os from 'node:os';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { ReminderKind, TemplateArm } from '../../db/types';
import { UserError } from '../../user-error';
import { kindOption } from '../options';
import { formatTable as table } from '../table';

const FAMILY: Record<ReminderKind, string> = { license: 'annual', maintenance: 'maintenance' };

function armArg(value: string): TemplateArm {
  const arm = value.trim().toUpperCase();
  if (arm !== 'A' && arm !== 'B') throw new InvalidArgumentError(`expected A or B, got "${value}"`);
  return arm;
}

function variantArg(value: string): string {
  if (value === 'expired' || (/^\d+$/.test(value) && Number(value) <= 3650)) return value;
  throw new InvalidArgumentError(`expected a number of days (90, 30, 0…) or "expired", got "${value}"`);
}

function localeArg(value: string): string {
  if (!/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/.test(value.trim())) throw new InvalidArgumentError(`"${value}" is not a language such as en, de or de-DE`);
  return value.trim();
}

const actorOption = () => new Option('--actor <name>', 'who publishes, recorded in the history (default: the OS user)');
const whoami = (actor?: string) => actor?.trim() || osUser();
function osUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return 'unknown';
  }
}

const when = (d: Date) => d.toISOString().replace('T', ' ').slice(0, 16);

/**
 * `reminders templates publish|versions|rollback|end-experiment|status`: the published versions
 * in PostgreSQL, which every worker sends. `validate`, `preview` and `render` keep working on the files.
 */
export function registerTemplatePublishingCommands(templates: Command): void {
  templates
    .command('publish')
    .description('validate the files and publish the changed variants as new versions (all or nothing); workers send them within 10 s')
    .option('--dir <dir>', 'the templates folder (default: TEMPLATES_DIR)')
    .addOption(new Option('--arm <arm>', 'A (default), or B: publish the changed variants as arm B of a copy experiment').argParser(armArg).default('A'))
    .option('--message <text>', 'why: recorded with the versions', '')
    .addOption(actorOption())
    .action(async (options: { dir?: string; arm: TemplateArm; message: string; actor?: string }) => {
      const [{ withApp }, { publishFolder }, { PublishConflict }, { formatProblem }, path, { existsSync }] = await Promise.all([
        import('../with-app'),
        import('../../templates-store/publish'),
        import('../../templates-store/store'),
        import('../../render/template-problem'),
        import('node:path'),
        import('node:fs'),
      ]);
      await withApp(async (app) => {
        const dir = path.resolve(options.dir ?? app.config.templatesDir);
        if (!existsSync(dir)) throw new UserError(`the templates folder ${dir} does not exist: give --dir or set TEMPLATES_DIR`);
        let outcome;
        try {
          outcome = await publishFolder(app.db, dir, app.config, { actor: whoami(options.actor), message: options.message, arm: options.arm, source: 'files' });
        } catch (error) {
          if (error instanceof PublishConflict) throw new UserError(`nothing published: ${error.message}; run publish again to publish over it`);
          throw error;
        }
        if (outcome.status === 'refused') {
          for (const problem of outcome.problems) console.log(formatProblem(problem, dir));
          console.log(`Nothing published: ${outcome.problems.length} problem(s)${outcome.refused.length > 0 ? `; refused ${outcome.refused.join(', ')} (their live versions keep sending)` : ''}`);
          process.exitCode = 1;
        } else if (outcome.status === 'unchanged') {
          console.log(`Nothing to publish: the ${outcome.unchanged} variants of ${dir} are live as they are.`);
        } else {
          for (const p of outcome.publications) console.log(`published ${p.variant}${p.arm === 'B' ? ' arm B' : ''} version ${p.version}`);
          console.log(`Published ${outcome.publications.length} variant(s) (${outcome.unchanged} unchanged); every worker sends them within 10 s.`);
        }
      });
    });

  templates
    .command('versions')
    .description('the history of published versions: who published what, when and why; * marks the live ones')
    .addOption(kindOption())
    .option('--offset <days>', 'one reminder: days before expiry, or "expired"', variantArg)
    .option('--locale <locale>', 'one language, e.g. en, de', localeArg)
    .option('--json', 'print JSON')
    .action(async (options: { kind?: ReminderKind; offset?: string; locale?: string; json?: boolean }) => {
      const [{ withApp }, { liveVersions, publicationHistory }] = await Promise.all([import('../with-app'), import('../../templates-store/store')]);
      await withApp(async (app) => {
        const filter = { family: options.kind ? FAMILY[options.kind] : undefined, variant: options.offset, locale: options.locale, limit: 500 };
        const [history, live] = await Promise.all([publicationHistory(app.db, filter), liveVersions(app.db)]);
        const liveIds = new Set(live.map((l) => l.publicationId));
        if (options.json) {
          console.log(JSON.stringify(history.map((p) => ({ ...p, live: liveIds.has(p.id) })), null, 2));
          return;
        }
        if (history.length === 0) {
          console.log('No published versions match.');
          return;
        }
        console.log(
          table(
            ['', 'id', 'published', 'variant', 'arm', 'version', 'action', 'by', 'message'],
            history.map((p) => [liveIds.has(p.id) ? '*' : '', p.id, when(p.publishedAt), p.variant, p.arm, p.version ?? '(withdrawn)', p.action, p.actor, p.message]),
          ),
        );
      });
    });

  templates
    .command('rollback')
    .description('publish an earlier version again, for every variant that had it (see `templates versions`)')
    .argument('<version>', 'the 12-character version hash')
    .option('--message <text>', 'why: recorded with the rollback', '')
    .addOption(actorOption())
    .action(async (version: string, options: { message: string; actor?: string }) => {
      const [{ withApp }, { rollback }] = await Promise.all([import('../with-app'), import('../../templates-store/store')]);
      await withApp(async (app) => {
        const publications = await rollback(app.db, version.trim(), { actor: whoami(options.actor), message: options.message });
        for (const p of publications) console.log(`published ${p.variant}${p.arm === 'B' ? ' arm B' : ''} version ${p.version} again`);
        console.log(`Rolled back ${publications.length} variant(s) to ${version}; every worker sends it within 10 s.`);
      });
    });

  templates
    .command('end-experiment')
    .description('end a copy experiment: keep arm A or B as the only copy of the variant')
    .addOption(kindOption().makeOptionMandatory())
    .requiredOption('--offset <days>', 'the reminder: days before expiry, or "expired"', variantArg)
    .option('--locale <locale>', 'one language (default: every language running the experiment)', localeArg)
    .addOption(new Option('--keep <arm>', 'the arm whose copy stays').argParser(armArg).makeOptionMandatory())
    .option('--message <text>', 'why: recorded in the history', '')
    .addOption(actorOption())
    .action(async (options: { kind: ReminderKind; offset: string; locale?: string; keep: TemplateArm; message: string; actor?: string }) => {
      const [{ withApp }, { endExperiment, storedVariants }] = await Promise.all([import('../with-app'), import('../../templates-store/store')]);
      await withApp(async (app) => {
        const refs = await storedVariants(app.db, { family: FAMILY[options.kind], variant: options.offset, locale: options.locale });
        const publications = await endExperiment(app.db, refs, options.keep, { actor: whoami(options.actor), message: options.message });
        for (const p of publications) console.log(p.version ? `published ${p.variant} version ${p.version} as arm ${p.arm}` : `withdrew arm ${p.arm} of ${p.variant}`);
        console.log(`Experiment ended: every series gets arm ${options.keep}'s copy.`);
      });
    });

  templates
    .command('status')
    .description('the live version of each variant (and arm), and any refused publish with its problems')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const [{ withApp }, { listRefusals, liveVersions }] = await Promise.all([import('../with-app'), import('../../templates-store/store')]);
      await withApp(async (app) => {
        const [live, refused] = await Promise.all([liveVersions(app.db), listRefusals(app.db)]);
        if (options.json) {
          console.log(JSON.stringify({ live, refused }, null, 2));
          return;
        }
        console.log(
          live.length === 0
            ? 'Nothing is published: reminders fail until `reminders templates publish` (then replay them).'
            : table(
                ['variant', 'arm', 'version', 'since', 'by', 'message'],
                live.map((l) => [l.variant, l.arm, l.version, when(l.publishedAt), l.actor, l.message]),
              ),
        );
        for (const r of refused) {
          console.log(`\nREFUSED ${r.variant} version ${r.version} (${r.actor}, ${r.since}); ${r.serving ? `version ${r.serving} keeps sending` : 'nothing live: its reminders fail'}:`);
          for (const p of r.problems) console.log(`  ${p}`);
        }
      });
    });

  templates
    .command('diff')
    .description('what changed between two versions, as a unified diff of their files')
    .argument('<from>', 'version hash')
    .argument('<to>', 'version hash')
    .action(async (from: string, to: string) => {
      const [{ withApp }, { diffVersions }] = await Promise.all([import('../with-app'), import('../../templates-store/store')]);
      await withApp(async (app) => {
        const diff = await diffVersions(app.db, from.trim(), to.trim());
        process.stdout.write(diff || `Versions ${from} and ${to} have the same files.\n`);
      });
    });
}
