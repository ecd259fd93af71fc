import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { CONSOLE_ROLES } from '../../db/types';
import { UserError } from '../../user-error';
import { formatTable } from '../table';

function roleArg(value: string): string {
  const role = value.trim().toLowerCase();
  if (!(CONSOLE_ROLES as readonly string[]).includes(role)) throw new InvalidArgumentError(`expected ${CONSOLE_ROLES.join(', ')}, got "${value}"`);
  return role;
}

/** The password from standard input: its first line (a pipe or a heredoc), never an argument. */
async function passwordFromStdin(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('Password (one line, then Enter; it is shown as you type): ');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer);
    if (process.stdin.isTTY && Buffer.concat(chunks).includes(10)) break;
  }
  const password = Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
  if (password === '') throw new UserError('no password on standard input: e.g. `printf "%s\\n" "$PASSWORD" | reminders users add NAME --role operator`');
  return password;
}

/** `reminders users add|list|remove|passwd`: the console's named accounts. */
export function registerUsersCommand(program: Command): void {
  const users = program.command('users').description('console accounts: add, list, remove, change a password');

  users
    .command('add')
    .description('create a console account; the password (12 characters or more) is read from standard input')
    .argument('<NAME>', 'account name, as typed on the sign-in page and shown in the audit trail')
    .requiredOption('--role <role>', `${CONSOLE_ROLES.join(', ')}: viewers read; operators also replay, force, hold and suppress; marketing also edits templates; admins do all`, roleArg)
    .option('--email <address>', 'the person\'s own address: where the template editor sends them a test (default: the name, if it is an address)')
    .addHelpText('after', '\nExample:\n  printf "%s\\n" "$PASSWORD" | reminders users add alice --role operator')
    .action(async (name: string, options: { role: string; email?: string }) => {
      const [{ withApp }, { addUser, parseRole }] = await Promise.all([import('../with-app'), import('../../console/users')]);
      const password = await passwordFromStdin();
      await withApp(async (app) => {
        await addUser(app.db, name, parseRole(options.role), password, { email: options.email });
        console.log(`Account ${name.trim()} (${options.role}) created: sign in at ${app.config.publicUrl}/console`);
      });
    });

  users
    .command('list')
    .description('list console accounts with their role')
    .option('--json', 'one JSON object per account')
    .action(async (options: { json?: boolean }) => {
      const [{ withApp }, { listUsers }] = await Promise.all([import('../with-app'), import('../../console/users')]);
      await withApp(async (app) => {
        const list = await listUsers(app.db);
        if (options.json) {
          for (const u of list) console.log(JSON.stringify(u));
        } else if (list.length === 0) {
          console.log('No console accounts. Add one: reminders users add NAME --role admin (password on standard input).');
        } else {
          console.log(formatTable(['name', 'role', 'email', 'created', 'password changed'], list.map((u) => [u.name, u.role, u.email ?? '', u.createdAt.toISOString(), u.passwordChangedAt.toISOString()])));
        }
      });
    });

  users
    .command('email')
    .description('set where the template editor sends this person\'s tests (no ADDRESS: clear it)')
    .argument('<NAME>', 'account name')
    .argument('[ADDRESS]', 'the person\'s own email address')
    .action(async (name: string, address: string | undefined) => {
      const [{ withApp }, { setEmail }] = await Promise.all([import('../with-app'), import('../../console/users')]);
      await withApp(async (app) => {
        await setEmail(app.db, name.trim(), address ?? null);
        console.log(address ? `Tests from the template editor go to ${address.trim()} for ${name.trim()}.` : `Account ${name.trim()} has no email address now (tests go to its name if that is an address).`);
      });
    });

  users
    .command('remove')
    .description('delete a console account and end its sessions (the audit trail keeps its name)')
    .argument('<NAME>', 'account name')
    .action(async (name: string) => {
      const [{ withApp }, { removeUser }] = await Promise.all([import('../with-app'), import('../../console/users')]);
      await withApp(async (app) => {
        await removeUser(app.db, name.trim());
        console.log(`Account ${name.trim()} removed; its sessions ended.`);
      });
    });

  users
    .command('passwd')
    .description('set a new password (from standard input) and end the account\'s sessions')
    .argument('<NAME>', 'account name')
    .action(async (name: string) => {
      const [{ withApp }, { setPassword }] = await Promise.all([import('../with-app'), import('../../console/users')]);
      const password = await passwordFromStdin();
      await withApp(async (app) => {
        await setPassword(app.db, name.trim(), password);
        console.log(`Password of ${name.trim()} changed; its sessions ended.`);
      });
    });
}

/** `reminders console`: the console (and health, metrics, unsubscribe, dashboard) alone, no worker. */
export function registerConsoleCommand(program: Command): void {
  program
    .command('console')
    .description('serve the operations console at /console on HTTP_HOST:HTTP_PORT, with no scheduler or worker')
    .action(async () => {
      const [{ withApp }, { untilSignal }, { startConsoleHttpServer }] = await Promise.all([import('../with-app'), import('../../daemon'), import('../../console/serve')]);
      await withApp(
        async (app) => {
          const http = await startConsoleHttpServer(app);
          app.onClose(() => http.close());
          app.logger.info({ console: `${http.url}/console` }, 'console started');
          const signal = await untilSignal();
          app.logger.info({ signal }, 'stopping');
        },
        { needs: ['postgres', 'redis'] },
      );
    });
}
