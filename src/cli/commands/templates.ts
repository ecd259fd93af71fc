import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { type Kysely, sql } from 'kysely';
import { type Config, loadConfig } from '../../config';
import type { Database, ReminderKind } from '../../db/types';
import { normalizeLocale } from '../../render/locale';
import { startPreviewServer } from '../../render/preview-server';
import { renderOnce } from '../../render/render-sample';
import { loadSampleData, SAMPLE_DAYS_EXPIRED, sampleInput } from '../../render/sample-data';
import { formatProblem } from '../../render/template-problem';
import type { ReminderEmailInput } from '../../render/types';
import { validateTemplates } from '../../render/validate-templates';
import { addDays } from '../../dates';
import { isDeliverableAddress, senderDomain } from '../../send/address';
import { createMailer } from '../../send/create-mailer';
import { portalLinks } from '../../render/portal-links';
import { unsubscribeUrl } from '../../unsubscribe/token';
import { UserError } from '../../user-error';
import { withApp } from '../with-app';

interface VariantOptions {
  kind: ReminderKind;
  offset?: number;
  locale?: string;
  expired?: boolean;
}

const kindOption = () =>
  new Option('--kind <kind>', 'license (annual licenses) or maintenance (lifetime licenses\' support & maintenance)')
    .choices(['license', 'maintenance'])
    .makeOptionMandatory();

function offsetOption(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 3650) throw new InvalidArgumentError(`expected a number of days from 0 to 3650, got "${value}"`);
  return Number(value);
}

function localeOption(value: string): string {
  const locale = normalizeLocale(value);
  if (!locale) throw new InvalidArgumentError(`"${value}" is not a language such as en, de or de-DE`);
  return locale;
}

/** The offset to render: --offset, or 0 for --expired (the expiry-day reminder sent late). */
function resolveOffset(options: VariantOptions): number {
  if (options.offset !== undefined) return options.offset;
  if (options.expired) return 0;
  throw new UserError('--offset <days> is required (e.g. --offset 30), unless --expired is given');
}

function printProblems(problems: { file: string; line: number; message: string }[], dir: string): void {
  for (const problem of problems) console.log(formatProblem(problem, dir));
}

async function renderOrFail(config: Config, input: ReminderEmailInput) {
  const outcome = await renderOnce(config.templatesDir, input);
  if (!outcome.email) {
    printProblems(outcome.problems, config.templatesDir);
    throw new UserError(`the ${input.kind} template (${input.locale}, ${input.expired ? 'expired' : `offset ${input.offset}`}) is broken: fix the problem(s) above`);
  }
  return outcome.email;
}

/** The email a real license's first contact would get for this reminder, read from the portal tables. */
async function licenseInput(db: Kysely<Database>, config: Config, key: string, options: VariantOptions, offset: number): Promise<{ input: ReminderEmailInput; sentOn: string }> {
  const license = await db
    .selectFrom('licenses')
    .innerJoin('orders', 'orders.id', 'licenses.order_id')
    .select([
      'licenses.order_id',
      'licenses.license_key',
      'licenses.product',
      'licenses.license_type',
      'licenses.expires_on',
      'licenses.maintenance_expires_on',
      'orders.order_number',
      'orders.customer_name',
    ])
    .where('licenses.license_key', '=', key)
    .orderBy('licenses.id')
    .executeTakeFirst();
  if (!license) throw new UserError(`no license with key "${key}"`);
  const expected = options.kind === 'license' ? 'annual' : 'lifetime';
  if (license.license_type !== expected) {
    throw new UserError(`license "${key}" is ${license.license_type}: use --kind ${license.license_type === 'annual' ? 'license' : 'maintenance'}`);
  }
  const expiresOn = options.kind === 'license' ? license.expires_on : license.maintenance_expires_on;
  if (!expiresOn) throw new UserError(`license "${key}" has no ${options.kind === 'license' ? 'expires_on' : 'maintenance_expires_on'} date: it gets no reminders`);
  const contact = await db
    .selectFrom('order_contacts')
    .select(['email', 'name', 'locale'])
    .where('order_id', '=', license.order_id)
    .orderBy(sql<boolean>`unsubscribed_at is null`, 'desc')
    .orderBy('id')
    .executeTakeFirst();
  const daysLeft = options.expired ? SAMPLE_DAYS_EXPIRED : offset;
  const recipient = contact?.email ?? 'customer@example.com';
  const items = [
    {
      product: license.product,
      licenseKey: license.license_key,
      orderNumber: license.order_number,
      customerName: license.customer_name,
      expiresOn,
      daysLeft,
    },
  ];
  return {
    sentOn: addDays(expiresOn, -daysLeft),
    input: {
      kind: options.kind,
      offset: options.expired ? 0 : offset,
      expired: options.expired ?? false,
      daysLeft,
      locale: options.locale ?? contact?.locale ?? 'en',
      contactName: contact?.name ?? null,
      recipient,
      items,
      links: {
        ...portalLinks(config.portalUrl, options.kind, [license.license_key]),
        unsubscribe: unsubscribeUrl(config.publicUrl, recipient, config.unsubscribeSecret),
      },
      salesEmail: config.salesEmail,
      supportEmail: config.supportEmail,
    },
  };
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
      const config = loadConfig();
      const report = await validateTemplates(config.templatesDir, config);
      printProblems(report.problems, config.templatesDir);
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
    .option('--locale <locale>', 'language of the copy, e.g. en, de, de-DE (default: en, or the license contact\'s)', localeOption)
    .option('--expired', 'the expiry-day reminder sent after the item expired (points to support)')
    .option('--text', 'print the plain-text part instead of the HTML')
    .option('--out <file>', 'write to this file instead of standard output')
    .option('--license <key>', 'use this license (and its order\'s first contact) from the database instead of the sample data')
    .action(async (options: VariantOptions & { text?: boolean; out?: string; license?: string }) => {
      const offset = resolveOffset(options);
      const build = async (): Promise<{ config: Config; input: ReminderEmailInput; note: string }> => {
        if (options.license) {
          const key = options.license;
          return withApp(async (app) => {
            const { input, sentOn } = await licenseInput(app.db, app.config, key, options, offset);
            return { config: app.config, input, note: ` as it would be sent on ${sentOn} to ${input.recipient}` };
          });
        }
        const config = loadConfig();
        const sample = loadSampleData(config.templatesDir);
        const input = sampleInput(config, sample, { kind: options.kind, offset, expired: options.expired, locale: options.locale });
        return { config, input, note: ' with the sample data' };
      };
      const { config, input, note } = await build();
      const email = await renderOrFail(config, input);
      const output = options.text ? email.text : email.html;
      if (options.out) {
        writeFileSync(options.out, output);
        console.log(`Wrote ${options.out}${note}. Subject: ${email.subject}`);
      } else {
        process.stdout.write(output.endsWith('\n') ? output : `${output}\n`);
        console.error(`Subject: ${email.subject} (template ${email.templateVersion}${note})`);
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
      const config = loadConfig();
      let server;
      try {
        server = await startPreviewServer({ config, port: options.port, host: '127.0.0.1' });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new UserError(`port ${options.port} is in use: pick another with --port`);
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
    .option('--locale <locale>', 'language of the copy, e.g. en, de, de-DE (default: en)', localeOption)
    .option('--expired', 'the expiry-day reminder sent after the item expired (points to support)')
    .action(async (options: VariantOptions & { to: string }) => {
      const to = options.to.trim();
      if (!isDeliverableAddress(to)) throw new UserError(`--to "${options.to}" is not an email address`);
      const offset = resolveOffset(options);
      const config = loadConfig();
      const sample = loadSampleData(config.templatesDir);
      const input = sampleInput(config, sample, { kind: options.kind, offset, expired: options.expired, locale: options.locale, recipient: to });
      const email = await renderOrFail(config, input);
      const mailer = createMailer(config);
      try {
        const result = await mailer.send({
          from: config.mailFrom,
          to,
          subject: `[TEST] ${email.subject}`,
          html: email.html,
          text: email.text,
          messageId: `test.${randomUUID()}@${senderDomain(config.mailFrom)}`,
          headers: { 'X-Reminders-Test': '1', 'X-Reminders-Template-Version': email.templateVersion },
        });
        console.log(`Sent "[TEST] ${email.subject}" to ${to} via ${mailer.description}: ${result.response}`);
      } finally {
        await mailer.close();
      }
    });
}
