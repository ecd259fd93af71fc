import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command, CommanderError } from 'commander';
import { registerTemplateCommands } from '../../src/cli/commands/templates';
import { UserError } from '../../src/user-error';
import { createTestEnv, type TestEnv } from '../helpers/test-env';
import { insertLicense, insertOrder } from '../helpers/fixtures';

const TEMPLATES = path.resolve(__dirname, '../../templates');

let env: TestEnv;
let work: string;
const savedEnv = { ...process.env };

/** Runs `reminders templates …` in this process and returns what it printed. */
async function cli(...args: string[]): Promise<{ stdout: string; stderr: string; exitCode: number; error?: unknown }> {
  const program = new Command('reminders').exitOverride().configureOutput({ writeErr: (s) => void (stderr += s), writeOut: (s) => void (stdout += s) });
  registerTemplateCommands(program);
  let stdout = '';
  let stderr = '';
  const log = jest.spyOn(console, 'log').mockImplementation((...values: unknown[]) => void (stdout += `${values.join(' ')}\n`));
  const err = jest.spyOn(console, 'error').mockImplementation((...values: unknown[]) => void (stderr += `${values.join(' ')}\n`));
  const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += chunk.toString();
    return true;
  });
  process.exitCode = undefined;
  try {
    await program.parseAsync(['templates', ...args], { from: 'user' });
    return { stdout, stderr, exitCode: Number(process.exitCode ?? 0) };
  } catch (error) {
    return { stdout, stderr, exitCode: error instanceof CommanderError ? error.exitCode || 1 : 2, error };
  } finally {
    process.exitCode = undefined;
    log.mockRestore();
    err.mockRestore();
    write.mockRestore();
  }
}

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'templates-cli-'));
  cpSync(TEMPLATES, path.join(work, 'templates'), { recursive: true });
  env = await createTestEnv('templates-cli', { TEMPLATES_DIR: path.join(work, 'templates'), OUTBOX_DIR: path.join(work, 'outbox') });
  Object.assign(process.env, env.env);
});

afterAll(async () => {
  process.env = savedEnv;
  await env?.cleanup();
  rmSync(work, { recursive: true, force: true });
});

it('validate prints a one-line summary, or every problem as file:line and a non-zero exit', async () => {
  const ok = await cli('validate');
  expect(ok.exitCode).toBe(0);
  expect(ok.stdout).toMatch(/^Templates OK: 70 emails .* compiled and checked in .*templates\/\n$/);

  const file = path.join(work, 'templates/common/en.mjml');
  const good = readFileSync(file, 'utf8');
  writeFileSync(file, good.replace('{{#if contactName}}Hello {{contactName}}', '{{#if contactName}}Hello {{contact}}'));
  try {
    const bad = await cli('validate');
    expect(bad.exitCode).toBe(1);
    expect(bad.stdout).toMatch(/^.*templates\/common\/en\.mjml:\d+: unknown variable "contact"/m);
    expect(bad.stdout).toMatch(/^1 problem\(s\) in .*templates\/ \(70 emails checked\)$/m);
  } finally {
    writeFileSync(file, good);
  }
});

it('render prints the HTML or text of one variant with the sample data, or writes it to a file', async () => {
  const html = await cli('render', '--kind', 'license', '--offset', '30');
  expect(html.exitCode).toBe(0);
  expect(html.stdout).toMatch(/^<!doctype html>/);
  expect(html.stderr).toMatch(/^Subject: Your 2 annual licenses expire in 30 days \(template [0-9a-f]{12} with the sample data; copy en, dates and numbers en\)/);

  const text = await cli('render', '--kind', 'maintenance', '--expired', '--locale', 'de', '--text');
  expect(text.stdout).toContain('Ihr Support- und Wartungsvertrag ist abgelaufen');
  expect(text.stdout).toContain('support@dynamsoft.com');

  const out = path.join(work, 'email.html');
  const written = await cli('render', '--kind', 'license', '--offset', '7', '--out', out);
  expect(written.stdout).toMatch(/^Wrote .*email\.html with the sample data\. Subject: Only 7 days left: renew your annual licenses \(copy en, dates and numbers en\)\n$/);
  expect(readFileSync(out, 'utf8')).toContain('Only 7 days left');
});

it('render --license uses a real license and its contact from the database', async () => {
  const { orderId } = await insertOrder(env.app.db, {
    orderNumber: 'ORD-77',
    customerName: 'Kunde <GmbH>',
    contacts: [{ email: 'gone@example.com', name: 'Gone', unsubscribed: true }, { email: 'jana@example.com', name: 'Jana', locale: 'de_DE' }],
  });
  await insertLicense(env.app.db, { orderId, type: 'lifetime', key: 'LIFE-1', product: 'Barcode Reader', maintenanceExpiresOn: '2027-03-31' });
  const result = await cli('render', '--kind', 'maintenance', '--offset', '14', '--license', 'LIFE-1', '--text');
  expect(result.exitCode).toBe(0);
  expect(result.stdout).toContain('Guten Tag Jana,');
  expect(result.stdout).toContain('LIFE-1');
  expect(result.stdout).toContain('Bestellung ORD-77 · Kunde <GmbH>');
  expect(result.stdout).toContain('31. März 2027');
  expect(result.stderr).toContain('as it would be sent on 2027-03-17 to jana@example.com');

  const wrongKind = await cli('render', '--kind', 'license', '--offset', '14', '--license', 'LIFE-1');
  expect(wrongKind.error).toBeInstanceOf(UserError);
  expect((wrongKind.error as Error).message).toBe('license "LIFE-1" is lifetime: use --kind maintenance');
  const unknown = await cli('render', '--kind', 'license', '--offset', '14', '--license', 'NOPE');
  expect((unknown.error as Error).message).toBe('no license with key "NOPE"');
});

it('send-test sends one [TEST] email through the mailer and records nothing', async () => {
  const result = await cli('send-test', '--kind', 'license', '--offset', '30', '--to', 'marketer@example.com', '--locale', 'de');
  expect(result.exitCode).toBe(0);
  expect(result.stdout).toMatch(/^Sent "\[TEST\] Ihre 2 Jahreslizenzen laufen in 30 Tagen ab" to marketer@example\.com via local capture/);
  const eml = readdirSync(path.join(work, 'outbox')).filter((f) => f.endsWith('.eml'));
  expect(eml).toHaveLength(1);
  const message = readFileSync(path.join(work, 'outbox', eml[0]!), 'utf8');
  expect(message).toMatch(/^Subject: \[TEST\] Ihre 2 Jahreslizenzen laufen in 30 Tagen ab/m);
  expect(message).toMatch(/^X-Reminders-Test: 1$/m);
  expect(message).toMatch(/^To: marketer@example\.com$/m);
  expect(message).not.toMatch(/^List-Unsubscribe/m);
  const ledger = await env.app.db.selectFrom('reminder_ledger').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
  expect(Number(ledger.n)).toBe(0);
});

it('refuses bad arguments with one clear line', async () => {
  const badTo = await cli('send-test', '--kind', 'license', '--offset', '30', '--to', 'not-an-address');
  expect(badTo.error).toBeInstanceOf(UserError);
  expect((badTo.error as Error).message).toBe('--to "not-an-address" is not an email address');

  const badKind = await cli('render', '--kind', 'weekly', '--offset', '30');
  expect(badKind.exitCode).not.toBe(0);
  expect(badKind.stderr.trim()).toBe(
    "error: option '--kind <kind>' argument 'weekly' is invalid. expected annual (or license) or maintenance (or lifetime), got \"weekly\"",
  );

  const badOffset = await cli('render', '--kind', 'license', '--offset', 'soon');
  expect(badOffset.stderr.trim()).toBe('error: option \'--offset <days>\' argument \'soon\' is invalid. expected a number of days from 0 to 3650, got "soon"');

  const noOffset = await cli('render', '--kind', 'license');
  expect((noOffset.error as Error).message).toBe('--offset <days> is required (e.g. --offset 30), unless --expired is given');

  const badLocale = await cli('render', '--kind', 'license', '--offset', '30', '--locale', '../x');
  expect(badLocale.stderr.trim()).toMatch(/argument '..\/x' is invalid. "..\/x" is not a language such as en, de or de-DE \(a contact with that locale gets the English copy: use --locale en\)$/);

  const help = await cli('preview', '--help');
  expect(help.stdout).toContain('--port <port>');
});
