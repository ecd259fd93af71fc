import { Command } from 'commander';
import { registerDemoDataCommand } from './commands/demo-data';
import { registerForecastCommand } from './commands/forecast';
import { registerMigrateCommand } from './commands/migrate';
import { registerOpsCommands } from './commands/ops';
import { registerScanCommand } from './commands/scan';
import { registerTemplateVersionCommand } from './commands/template-versions';
import { registerTemplateCommands } from './commands/templates';
import { registerWorkCommands } from './commands/work';

/** The `reminders` command line; each command lives in its own file under commands/. */
export function buildProgram(): Command {
  const program = new Command('reminders')
    .description('Renewal reminders: scan expiring licenses and maintenance contracts, send each reminder once.')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerMigrateCommand(program);
  registerScanCommand(program);
  registerForecastCommand(program);
  registerWorkCommands(program);
  registerOpsCommands(program);
  registerDemoDataCommand(program);
  registerTemplateCommands(program);
  const templates = program.commands.find((c) => c.name() === 'templates');
  if (templates) registerTemplateVersionCommand(templates);
  return program;
}
