import { randomUUID } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import type { Config } from '../../config';
import type { ReminderKind } from '../../db/types';
import { emailLocale, normalizeLocale, resolveLocale } from '../../render/locale';
import type { TemplateProblem } from '../../render/template-problem';
import type { ReminderEmailInput } from '../../render/types';
import { isDeliverableAddress } from '../../send/address';
import { UserError } from '../../user-error';
import { kindOption as anyKindOption } from '../options';

interface VariantOptions {
  kind: ReminderKind;
  offset?: number;
  locale?: string;
  expired?: boolean;
}

const kindOption = () => anyKindOption().makeOptionMandatory();

function offsetOption(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 3650) throw new InvalidArgumentError(`expected a number of days from 0 to 3650, got "${value}"`);
  return Number(value);
}

/**
 * A contact locale, read as the worker reads the `locale` column ('fr_FR', 'EN_us', 'de-' and 'xx'
 * render exactly what such a contact gets); a value that is no locale at all is refused, since the
 * email it stands for is the English one.
 */
function localeOption(value: string): string {
  if (!normalizeLocale(value)) throw new InvalidArgumentError(`"${value}" is not a language such as en, de or de-DE (a contact with that locale gets the English copy: use --locale en)`);
  return value.trim();
}

/** A TEMPLATES_DIR that is not there is one sentence, not a list of every file it lacks. */
function requireTemplatesDir(dir: string): void {
  if (!existsSync(dir)) throw new UserError(`the templates folder ${dir} does not exist: set TEMPLATES_DIR to the folder with annual/, maintenance/ and common/ (default: ./templates)`);
}

/** The offset to render: --offset, or 0 for --expired (the expiry-day reminder sent late). */
function resolveOffset(options: VariantOptions): number {
  if (options.expired) {
    if (options.offset !== undefined && options.offset !== 0) {
      throw new UserError(`--expired is the expiry-day reminder sent after the expiry date: drop --offset ${options.offset} (or use --offset 0)`);
    }
    return 0;
  }
  if (options.offset !== undefined) return options.offset;
  throw new UserError('--offset <days> is required (e.g. --offset 30), unless --expired is given');
}

/** An offset no reminder is sent for would show an email no customer gets: refused, naming the ones that are. */
function requireSentOffset(config: Pick<Config, 'offsets'>, offset: number, options: VariantOptions): void {
  if (options.expired || config.offsets.includes(offset)) return;
  throw new UserError(`--offset ${offset}: no reminder is sent ${offset} day(s) before expiry (REMINDER_OFFSETS is ${config.offsets.join(',')}); pick one of those`);
}

/** Which copy and formatting an email for this locale uses, exactly as the worker resolves it. */
function localeNote(requested: string, copyLocale: string | null): string {
  const copy = copyLocale ?? resolveLocale(requested).key;
  const { format } = emailLocale(requested, copy);
  return `copy ${copy}, dates and numbers ${format}`;
}

/** Problems go to stdout for `validate` (they are its report), to stderr where an email was asked for. */
async function printProblems(problems: TemplateProblem[], dir: string, print: (line: string) => void = console.log): Promise<void> {
  const { formatProblem } = await import('../../render/template-problem');
  for (const problem of problems) print(formatProblem(problem, dir));
}

/**
 * Renders the email as the worker would, or fails with its problems: also those the worker's guard
 * finds in a template that renders (the checks of `validate`, such as a missing unsubscribe link),
 * since the worker would not send it.
 */
async function renderOrFail(config: Config, input: ReminderEmailInput) {
  const [{ renderOnce }, { checkVariant }, { loadSampleData }, { variantOf }, { FAMILY_OF_KIND }] = await Promise.all([
    import('../../render/render-sample'),
    import('../../render/validate-templates'),
    import('../../render/sample-data'),
    import('../../render/renderer'),
    import('../../render/template-source'),
  ]);
  const hooks = { mjmlCache: new Map() };
  const outcome = await renderOnce(config.templatesDir, input, hooks);
  let problems = outcome.problems;
  if (outcome.email) {
    const ref = { family: FAMILY_OF_KIND[input.kind], locale: resolveLocale(input.locale).key, variant: variantOf(input) };
    problems = (await checkVariant(config.templatesDir, ref, config, loadSampleData(config.templatesDir), hooks)).problems;
  }
  if (!outcome.email || problems.length > 0) {
    await printProblems(problems, config.templatesDir, (line) => console.error(line));
    throw new UserError(
      `the ${input.kind} template (${input.locale}, ${input.expired ? 'expired' : `offset ${input.offset}`}) ${outcome.email ? 'fails the checks of `templates validate`: the worker would not send it' : 'is broken'}: fix the problem(s) above`,
    );
  }
  return { email: outcome.email, locale: outcome.locale };
}

/** Registers `reminders templates validate|render|preview|send-test`: marketing's tools. */
export function registerTemplateCommands(program: Command): void {
  const templates = program
    .command('templates')
    .description('marketing\'s tools: validate, render, preview and test-send the reminder email templates');

  templates
    .command('validate')
    .description('compile every family × offset × language (and the expired copy) with the sample data; list every problem as file:line: message')
    .action(async () => {
      const [{ loadConfig }, { validateTemplates }] = await Promise.all([import('../../config'), import('../../render/validate-templates')]);
      const config = loadConfig();
      requireTemplatesDir(config.templatesDir);
      const report = await validateTemplates(config.templatesDir, config);
      await printProblems(report.problems, config.templatesDir);
      const shown = path.relative(process.cwd(), config.templatesDir) || '.';
      if (report.problems.length > 0) {
        console.log(`${report.problems.length} problem(s) in ${shown}/ (${report.checked} emails checked)`);
        process.exitCode = 1;
      } else {
        console.log(`Templates OK: ${report.checked} emails (annual and maintenance × offsets ${config.offsets.join(', ')} and expired × languages) compiled and checked in ${shown}/`);
      }
    });

  templates
    .command('render')
    .description('print the HTML (or text) of one email, with the sample data or a real license\'s data')
    .addOption(kindOption())
    .option('--offset <days>', 'the reminder: days before expiry (90, 60, 30, 14, 7, 0…)', offsetOption)
    .option('--locale <locale>', 'a contact\'s locale, e.g. en, de-CH, fr_FR: the copy and date format such a contact gets (default: en, or the license contact\'s)', localeOption)
    .option('--expired', 'the expiry-day reminder sent after the item expired (points to support)')
    .option('--text', 'print the plain-text part instead of the HTML')
    .option('--out <file>', 'write to this file instead of standard output')
    .option('--license <key>', 'use this license (and its order\'s first contact) from the database instead of the sample data')
    .action(async (options: VariantOptions & { text?: boolean; out?: string; license?: string }) => {
      const offset = resolveOffset(options);
      const [{ loadConfig }, { loadSampleData, sampleInput }] = await Promise.all([import('../../config'), import('../../render/sample-data')]);
      const build = async (): Promise<{ config: Config; input: ReminderEmailInput; note: string }> => {
        if (options.license) {
          const key = options.license;
          const { withApp } = await import('../with-app');
          return withApp(async (app) => {
            const { licenseInput } = await import('../../render/license-input');
            const { input, sentOn } = await licenseInput(app.db, app.config, key, { ...options, offset });
            return { config: app.config, input, note: ` as it would be sent on ${sentOn} to ${input.recipient}` };
          });
        }
        const config = loadConfig();
        requireTemplatesDir(config.templatesDir);
        const sample = loadSampleData(config.templatesDir);
        const input = sampleInput(config, sample, { kind: options.kind, offset, expired: options.expired, locale: options.locale });
        return { config, input, note: ' with the sample data' };
      };
      const { config, input, note } = await build();
      requireSentOffset(config, offset, options);
      const { email, locale } = await renderOrFail(config, input);
      const output = options.text ? email.text : email.html;
      if (options.out) {
        try {
          writeFileSync(options.out, output);
        } catch (error) {
          throw new UserError(`cannot write --out ${options.out}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'its folder does not exist' : (error as Error).message}`);
        }
        console.log(`Wrote ${options.out}${note}. Subject: ${email.subject} (${localeNote(input.locale, locale)})`);
      } else {
        process.stdout.write(output.endsWith('\n') ? output : `${output}\n`);
        console.error(`Subject: ${email.subject} (template ${email.templateVersion}${note}; ${localeNote(input.locale, locale)})`);
      }
    });

  templates
    .command('preview')
    .description('a local web page showing every email at desktop and mobile width; reloads when a template is saved')
    .option('--port <port>', 'port to listen on (127.0.0.1 only)', (value: string) => {
      if (!/^\d+$/.test(value) || Number(value) > 65535) throw new InvalidArgumentError(`expected a port number from 0 to 65535, got "${value}"`);
      return Number(value);
    }, 4000)
    .action(async (options: { port: number }) => {
      const [{ loadConfig }, { startPreviewServer }] = await Promise.all([import('../../config'), import('../../render/preview-server')]);
      const config = loadConfig();
      requireTemplatesDir(config.templatesDir);
      let server;
      try {
        server = await startPreviewServer({ config, port: options.port, host: '127.0.0.1' });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new UserError(`port ${options.port} is in use: pick another with --port`);
        if ((error as NodeJS.ErrnoException).code === 'EACCES') throw new UserError(`port ${options.port} needs privileges this user does not have: pick one above 1023 with --port`);
        throw error;
      }
      console.log(`Previewing ${config.templatesDir} at ${server.url} (Ctrl+C to stop)`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await server.close();
    });

  templates
    .command('send-test')
    .description('send one email with the sample data to yourself: subject prefixed "[TEST] ", nothing recorded in the database')
    .addOption(kindOption())
    .option('--offset <days>', 'the reminder: days before expiry (90, 60, 30, 14, 7, 0…)', offsetOption)
    .requiredOption('--to <address>', 'where to send it')
    .option('--locale <locale>', 'a contact\'s locale, e.g. en, de-CH, fr_FR: the copy and date format such a contact gets (default: en)', localeOption)
    .option('--expired', 'the expiry-day reminder sent after the item expired (points to support)')
    .action(async (options: VariantOptions & { to: string }) => {
      const to = options.to.trim();
      if (!isDeliverableAddress(to)) throw new UserError(`--to "${options.to}" is not an email address`);
      const offset = resolveOffset(options);
      const [{ loadConfig }, { loadSampleData, sampleInput }, { createMailer }, { senderDomain }, { smtpSendFailure }] = await Promise.all([
        import('../../config'),
        import('../../render/sample-data'),
        import('../../send/create-mailer'),
        import('../../send/address'),
        import('../../service-checks'),
      ]);
      const config = loadConfig();
      requireSentOffset(config, offset, options);
      requireTemplatesDir(config.templatesDir);
      const sample = loadSampleData(config.templatesDir);
      const input = sampleInput(config, sample, { kind: options.kind, offset, expired: options.expired, locale: options.locale, recipient: to });
      const { email, locale } = await renderOrFail(config, input);
      const mailer = createMailer(config);
      try {
        const result = await mailer
          .send({
            from: config.mailFrom,
            to,
            subject: `[TEST] ${email.subject}`,
            html: email.html,
            text: email.text,
            messageId: `test.${randomUUID()}@${senderDomain(config.mailFrom)}`,
            headers: { 'X-Reminders-Test': '1', 'X-Reminders-Template-Version': email.templateVersion },
          })
          .catch((error: unknown) => {
            throw smtpSendFailure(config.smtpUrl ?? '', to, error);
          });
        console.log(`Sent "[TEST] ${email.subject}" to ${to} via ${mailer.description} (${localeNote(input.locale, locale)}): ${result.response}`);
      } finally {
        await mailer.close();
      }
    });
}
