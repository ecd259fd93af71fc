import { Command } from 'commander';
import { registerBounceCommands } from './commands/bounces';
import { registerDemoDataCommand } from './commands/demo-data';
import { registerForecastCommand } from './commands/forecast';
import { registerMigrateCommand } from './commands/migrate';
import { registerOpsCommands } from './commands/ops';
import { registerPruneCommand } from './commands/prune';
import { registerReportCommands } from './commands/report';
import { registerScanCommand } from './commands/scan';
import { registerTemplatePublishingCommands } from './commands/template-publishing';
import { registerTemplateVersionCommand } from './commands/template-versions';
import { registerTemplateCommands } from './commands/templates';
import { registerConsoleCommand, registerUsersCommand } from './commands/users';
import { registerWorkCommands } from './commands/work';

/** commander's `error: …` message as the one `reminders: …` line every other mistake is. */
export function usageLine(message: string): string {
  const text = message.trim().replace(/^error: /, '');
  return `reminders: ${text.replace(/\n+/g, ' ')} (see --help)\n`;
}

/**
 * The `reminders` command line; each command lives in its own file under commands/. Registering
 * loads only commander and the option parsers: each action loads what it needs when it runs, so
 * `--help` or `failed` never pays for MJML, Express or BullMQ.
 */
export function buildProgram(): Command {
  const program = new Command('reminders')
    .description('Renewal reminders: scan expiring licenses and maintenance contracts, send each reminder once.')
    .configureOutput({ outputError: (message, write) => write(usageLine(message)) })
    .exitOverride();
  registerMigrateCommand(program);
  registerScanCommand(program);
  registerForecastCommand(program);
  registerWorkCommands(program);
  registerOpsCommands(program);
  registerPruneCommand(program);
  registerDemoDataCommand(program);
  // One `report` group: `report outcomes` (renewals) and `report deliverability` (bounces).
  const report = program.command('report').description('reports read from the ledger');
  registerReportCommands(report);
  registerBounceCommands(program, report);
  registerUsersCommand(program);
  registerConsoleCommand(program);
  registerTemplateCommands(program);
  const templates = program.commands.find((c) => c.name() === 'templates');
  if (templates) {
    registerTemplateVersionCommand(templates);
    registerTemplatePublishingCommands(templates);
  }
  return program;
}
