import { hostname, userInfo } from 'node:os';
import { type Command, InvalidArgumentError } from 'commander';
import type { ReminderKind } from '../../db/types';
import { DEFAULT_UNDELIVERED, UNDELIVERED_STATUSES, type UndeliveredStatus } from '../../ops/undelivered-statuses';
import { isDeliverableAddress } from '../../send/address';
import { UserError } from '../../user-error';
import { dateOption, kindOption, lookupAddressArg, positiveIntOption } from '../options';

// Each action loads its modules when it runs: a command starts without loading the others'.
const withApp = async () => (await import('../with-app')).withApp;
const format = () => import('../ops-format');

/** Who ran a command, for the audit trail: `operator alice@host`. */
export function operatorName(): string {
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    user = `uid ${process.getuid?.() ?? '?'}`;
  }
  return `operator ${user}@${hostname()}`;
}

function ledgerIdArg(value: string, previous: string[] | undefined): string[] {
  if (!/^\d{1,18}$/.test(value)) throw new InvalidArgumentError(`ledger ids are whole numbers (the id column of \`reminders failed\`), got "${value}"`);
  return [...(previous ?? []), value.replace(/^0+(?=\d)/, '')];
}

/** An address to suppress: it must be one that could be delivered to. */
function emailArg(value: string): string {
  const address = value.trim().toLowerCase();
  if (!isDeliverableAddress(address)) throw new InvalidArgumentError(`"${value}" is not an email address`);
  return address;
}

/** The width to cut `failed` lines to: the terminal's; 120 when the output is not a terminal. */
function outputWidth(): number {
  return process.stdout.isTTY && process.stdout.columns ? process.stdout.columns : 120;
}

function statusOption(value: string): UndeliveredStatus[] {
  const statuses = value.split(',').map((s) => s.trim());
  const bad = statuses.filter((s) => !(UNDELIVERED_STATUSES as readonly string[]).includes(s));
  if (bad.length > 0 || statuses.length === 0) throw new InvalidArgumentError(`expected ${UNDELIVERED_STATUSES.join(', ')} (or a comma-separated list), got "${value}"`);
  return statuses as UndeliveredStatus[];
}

function nonEmpty(what: string) {
  return (value: string): string => {
    if (value.trim() === '') throw new InvalidArgumentError(`${what} must not be empty`);
    return value.trim();
  };
}

/** The operators' commands: failed, replay, history, hold, release, suppress, unsuppress. */
export function registerOpsCommands(program: Command): void {
  program
    .command('failed')
    .description('list reminders that were not delivered: failed and unknown by default, with the last SMTP reply or reason')
    .option('--status <status>', `failed, unknown or skipped (comma-separated for several; default ${DEFAULT_UNDELIVERED.join(',')})`, statusOption)
    .option('--since <YYYY-MM-DD>', 'only rows whose status changed on or after that day (REMINDER_TIMEZONE)', dateOption)
    .option('--limit <N>', 'show at most the N most recent', positiveIntOption(1_000_000), 1000)
    .option('--wide', 'do not cut lines to the terminal\'s width: every SMTP reply in full')
    .option('--json', 'one JSON object per line, reasons in full')
    .addHelpText('after', '\nThen: `reminders history --recipient EMAIL` to explain one, `reminders replay ID…` to send again.')
    .action(async (options: { status?: UndeliveredStatus[]; since?: string; limit: number; wide?: boolean; json?: boolean }) => {
      const [{ listUndelivered, startOfBusinessDay }, { formatUndelivered, ledgerRowJson }] = await Promise.all([import('../../ops/undelivered'), format()]);
      await (await withApp())(async (app) => {
        const statuses = options.status ?? DEFAULT_UNDELIVERED;
        const since = options.since ? startOfBusinessDay(options.since, app.config.timezone) : undefined;
        const { rows, total } = await listUndelivered(app.db, { statuses, since, limit: options.limit });
        if (options.json) {
          for (const row of rows) console.log(JSON.stringify(ledgerRowJson(row)));
        } else if (rows.length === 0) {
          console.log(`No ${statuses.join(' or ')} reminders${options.since ? ` since ${options.since}` : ''}.`);
        } else {
          console.log(formatUndelivered(rows, options.wide ? undefined : outputWidth()));
          console.log(`${total} ${statuses.join('/')} reminder(s)${options.since ? ` since ${options.since}` : ''}${total > rows.length ? `; the ${rows.length} most recent shown (--limit)` : ''}.`);
        }
        if (total > rows.length && options.json) console.error(`reminders: ${total - rows.length} older row(s) not shown; raise --limit`);
      });
    });

  program
    .command('replay')
    .description('send failed (or unknown) reminders again, under the same ledger rows: never a second copy unless --force')
    .argument('[ids...]', 'ledger ids (from `reminders failed` or `reminders history`)', ledgerIdArg)
    .option('--all-failed', 'every failed reminder (narrowed by the filters below)')
    .option('--all-unknown', 'every unknown reminder: it may have been delivered, check before (narrowed by the filters below)')
    .option('--since <YYYY-MM-DD>', 'only rows whose status changed on or after that day (REMINDER_TIMEZONE)', dateOption)
    .option('--license <KEY>', 'only reminders of this license key', nonEmpty('--license'))
    .option('--recipient <EMAIL>', 'only reminders to this address (as `reminders failed` shows it)', lookupAddressArg)
    .addOption(kindOption('only reminders of this kind: annual (alias license) or maintenance (alias lifetime)'))
    .option('--dry-run', 'show what would be queued; change nothing')
    .option('--force', 'also re-send rows that were SENT (by id only): a deliberate second copy; needs --reason')
    .option('--reason <text>', 'why: recorded in the audit trail (required with --force)')
    .option('--json', 'one JSON object per row')
    .addHelpText(
      'after',
      `
Filters alone select failed rows; add --all-unknown for unknown ones. Skipped rows replay by id.
Reminders superseded by a smaller offset of the same expiry are left alone (unless --force).
The worker re-checks each at send time: renewed, cancelled, held, suppressed or unsubscribed ones are skipped.

Examples:
  reminders replay 1234 1235
  reminders replay --all-failed --since 2026-05-01 --dry-run
  reminders replay --recipient ann@example.com --all-unknown
  reminders replay 1234 --force --reason "customer deleted the email, ticket #5521"`,
    )
    .action(
      async (
        ids: string[] | undefined,
        options: { allFailed?: boolean; allUnknown?: boolean; since?: string; license?: string; recipient?: string; kind?: ReminderKind; dryRun?: boolean; force?: boolean; reason?: string; json?: boolean },
      ) => {
        const [{ replay }, { formatReplay }, { startOfBusinessDay }] = await Promise.all([import('../../ops/replay'), format(), import('../../ops/undelivered')]);
        await (await withApp())(async (app) => {
          const result = await replay(
            { db: app.db, sendQueue: app.sendQueue(), config: app.config },
            {
              ids,
              allFailed: options.allFailed,
              allUnknown: options.allUnknown,
              since: options.since ? startOfBusinessDay(options.since, app.config.timezone) : undefined,
              licenseKey: options.license,
              recipient: options.recipient,
              kind: options.kind,
            },
            { dryRun: options.dryRun, force: options.force, reason: options.reason, actor: operatorName() },
          );
          if (options.json) {
            for (const e of result.entries) {
              console.log(JSON.stringify({ id: e.row.id, was: e.row.status, action: e.action, jobId: e.jobId, note: e.note, dryRun: result.dryRun }));
            }
          } else {
            console.log(formatReplay(result));
          }
        }, { needs: options.dryRun ? ['postgres'] : ['postgres', 'redis'] });
      },
    );

  program
    .command('history')
    .description('the full audit of a license or an address: every reminder, its status, Message-ID, template version and events')
    .option('--license <KEY>', 'license key', nonEmpty('--license'))
    .option('--recipient <EMAIL>', 'recipient address, as the ledger has it (case-insensitive; also one that is not a valid address)', lookupAddressArg)
    .option('--json', 'one JSON object per ledger row, events included')
    .action(async (options: { license?: string; recipient?: string; json?: boolean }) => {
      if (!options.license && !options.recipient) throw new UserError('history needs --license KEY or --recipient EMAIL (or both)');
      const [{ ledgerHistory }, { formatHistory, historyJson }] = await Promise.all([import('../../ops/history'), format()]);
      await (await withApp())(async (app) => {
        const result = await ledgerHistory(app.db, { licenseKey: options.license, recipient: options.recipient });
        if (options.json) for (const line of historyJson(result)) console.log(JSON.stringify(line));
        else console.log(formatHistory(result));
      });
    });

  program
    .command('hold')
    .description('stop all reminders of a license (scan and worker skip them as "on hold: <reason>") until released')
    .argument('<LICENSE_KEY>', 'license key', nonEmpty('LICENSE_KEY'))
    .requiredOption('--reason <text>', 'why, shown as the skip reason', nonEmpty('--reason'))
    .option('--order <ORDER_NUMBER>', 'the order, when the key is on several')
    .action(async (key: string, options: { reason: string; order?: string }) => {
      const { holdLicense } = await import('../../ops/holds');
      await (await withApp())(async (app) => {
        const { license, previousReason } = await holdLicense(app.db, key, options.reason, { orderNumber: options.order });
        const what = `License ${license.licenseKey} (order ${license.orderNumber})`;
        console.log(
          previousReason === null
            ? `${what} is on hold: ${options.reason}. Its reminders are skipped until \`reminders release ${license.licenseKey}\`.`
            : `${what} was already on hold (${previousReason}); reason now: ${options.reason}.`,
        );
      });
    });

  program
    .command('release')
    .description('lift a hold: the license gets its next due reminders normally')
    .argument('<LICENSE_KEY>', 'license key', nonEmpty('LICENSE_KEY'))
    .option('--order <ORDER_NUMBER>', 'the order, when the key is on several')
    .action(async (key: string, options: { order?: string }) => {
      const { releaseLicense } = await import('../../ops/holds');
      await (await withApp())(async (app) => {
        const { license, releasedReason } = await releaseLicense(app.db, key, { orderNumber: options.order });
        const what = `License ${license.licenseKey} (order ${license.orderNumber})`;
        console.log(
          releasedReason === null
            ? `${what} was not on hold; nothing changed.`
            : `${what} released (was on hold: ${releasedReason}). Its next due reminders go out normally; ones skipped while on hold stay skipped (replay them by id if still wanted).`,
        );
      });
    });

  program
    .command('suppress')
    .description('send no reminder to an address (hard bounce, complaint, manual request) until unsuppressed')
    .argument('<EMAIL>', 'address (case-insensitive)', emailArg)
    .requiredOption('--reason <text>', 'e.g. "hard bounce", "complaint", "manual: asked by phone"', nonEmpty('--reason'))
    .action(async (email: string, options: { reason: string }) => {
      const { suppressAddress } = await import('../../ops/holds');
      await (await withApp())(async (app) => {
        const { address, previousReason } = await suppressAddress(app.db, email, options.reason, operatorName());
        console.log(
          previousReason === null
            ? `${address} is suppressed: ${options.reason}. No reminder goes to it until \`reminders unsuppress ${address}\`.`
            : `${address} was already suppressed (${previousReason}); reason now: ${options.reason}.`,
        );
      });
    });

  program
    .command('unsuppress')
    .description('lift a suppression: the address gets its next due reminders normally')
    .argument('<EMAIL>', 'address (case-insensitive)', lookupAddressArg)
    .action(async (email: string) => {
      const { unsuppressAddress } = await import('../../ops/holds');
      await (await withApp())(async (app) => {
        const { address, removedReason } = await unsuppressAddress(app.db, email, operatorName());
        console.log(removedReason === null ? `${address} was not suppressed; nothing changed.` : `${address} is no longer suppressed (was: ${removedReason}).`);
      });
    });
}
