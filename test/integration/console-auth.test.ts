import { spawn } from 'node:child_process';
import { sql } from 'kysely';
import { createApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { startConsoleHttpServer } from '../../src/console/serve';
import { hashPassword, verifyPassword } from '../../src/console/passwords';
import { createSession, readSession, SESSION_COOKIE } from '../../src/console/sessions';
import { addDays, businessDate } from '../../src/dates';
import { createLogger } from '../../src/logger';
import type { HttpServer } from '../../src/ops/http-server';
import { exited, ROOT } from '../helpers/cli';
import { insertLicense, insertOrder } from '../helpers/fixtures';
import { createTestEnv, type TestEnv } from '../helpers/test-env';

let t: TestEnv;
beforeAll(async () => {
  t = await createTestEnv('consoleauth', { HTTP_PORT: '0' });
});
afterAll(async () => {
  await t?.cleanup();
});

/** `reminders users …` with `stdin` on standard input. */
async function users(args: string[], stdin = ''): Promise<{ code: number | string; out: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'users', ...args], { cwd: ROOT, env: { ...process.env, ...t.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  child.stdin.end(stdin);
  return { code: await exited(child), out };
}

it('hashes passwords with scrypt, salted, and checks them', async () => {
  const a = await hashPassword('correct horse battery');
  const b = await hashPassword('correct horse battery');
  expect(a).toMatch(/^scrypt\$32768\$8\$1\$[\w-]+\$[\w-]+$/);
  expect(a).not.toBe(b);
  expect(await verifyPassword('correct horse battery', a)).toBe(true);
  expect(await verifyPassword('correct horse batterz', a)).toBe(false);
  expect(await verifyPassword('anything', 'not-a-hash')).toBe(false);
});

it('manages accounts from the command line, the password always from standard input', async () => {
  expect(await users(['add', 'dora', '--role', 'admin'], 'dora-password-123\n')).toMatchObject({ code: 0, out: expect.stringContaining('Account dora (admin) created') });
  expect(await users(['add', 'dora', '--role', 'viewer'], 'another-password-1\n')).toMatchObject({ code: 2, out: expect.stringMatching(/^reminders: account dora already exists/) });
  expect(await users(['add', 'shorty', '--role', 'viewer'], 'short\n')).toMatchObject({ code: 2, out: expect.stringMatching(/at least 12 characters/) });
  expect(await users(['add', 'nopass', '--role', 'viewer'], '')).toMatchObject({ code: 2, out: expect.stringMatching(/no password on standard input/) });
  expect((await users(['add', 'x', '--role', 'boss'], 'whatever-password\n')).out).toMatch(/--role.*expected viewer, operator, marketing, admin/);
  const list = await users(['list', '--json']);
  expect(list.out.trim().split('\n').map((l) => JSON.parse(l) as { name: string; role: string })).toEqual([expect.objectContaining({ name: 'dora', role: 'admin' })]);

  // A new password ends the account's sessions; removing the account too.
  const session = await createSession(t.app.db, 'dora', 1);
  expect(await readSession(t.app.db, session.token)).toMatchObject({ userName: 'dora', role: 'admin' });
  expect((await users(['passwd', 'dora'], 'dora-new-password-9\n')).code).toBe(0);
  expect(await readSession(t.app.db, session.token)).toBeNull();
  const hash = await t.app.db.selectFrom('console_users').select('password_hash').where('name', '=', 'dora').executeTakeFirstOrThrow();
  expect(await verifyPassword('dora-new-password-9', hash.password_hash)).toBe(true);
  expect((await users(['remove', 'dora'])).code).toBe(0);
  expect((await users(['remove', 'dora'])).out).toMatch(/no account named dora/);
  // Eleven runs of the command line, each loading it afresh: minutes on a busy machine.
}, 300_000);

it('ends a session at its expiry', async () => {
  await t.app.db.insertInto('console_users').values({ name: 'eve', role: 'viewer', password_hash: await hashPassword('eve-password-1234') }).execute();
  const session = await createSession(t.app.db, 'eve', 1);
  expect(await readSession(t.app.db, session.token)).not.toBeNull();
  await sql`update console_sessions set expires_at = now() - interval '1 second' where user_name = 'eve'`.execute(t.app.db);
  expect(await readSession(t.app.db, session.token)).toBeNull();
});

describe('single sign-on and cookies', () => {
  const serve = async (overrides: Record<string, string>): Promise<{ server: HttpServer; close: () => Promise<void> }> => {
    const config = loadConfig({ ...t.env, HTTP_PORT: '0', ...overrides });
    const app = createApp(config, { logger: createLogger('silent') });
    const server = await startConsoleHttpServer(app);
    return { server, close: async () => (await server.close(), await app.close()) };
  };

  it('signs in the account a trusted proxy names, and ignores the header from anywhere else', async () => {
    await t.app.db.insertInto('console_users').values({ name: 'sso.operator', role: 'operator', password_hash: await hashPassword('unused-password-123') }).onConflict((oc) => oc.doNothing()).execute();
    const untrusted = await serve({});
    try {
      const response = await fetch(`${untrusted.server.url}/console`, { headers: { 'X-Forwarded-User': 'sso.operator' }, redirect: 'manual' });
      expect(response.status).toBe(303);
    } finally {
      await untrusted.close();
    }
    const trusted = await serve({ CONSOLE_TRUSTED_PROXIES: '127.0.0.1', CONSOLE_PROXY_USER_HEADER: 'X-Auth-User', PUBLIC_URL: 'https://reminders.example.com', UNSUBSCRIBE_SECRET: 'test-unsubscribe-secret' });
    try {
      const named = await fetch(`${trusted.server.url}/console`, { headers: { 'X-Auth-User': 'sso.operator' }, redirect: 'manual' });
      expect(named.status).toBe(200);
      expect(await named.text()).toContain('sso.operator (operator)');
      const cookie = named.headers.get('set-cookie') ?? '';
      expect(cookie).toMatch(/^reminders_console=[\w-]+;/);
      expect(cookie).toMatch(/HttpOnly/);
      expect(cookie).toMatch(/SameSite=Strict/);
      expect(cookie).toMatch(/Secure/);
      const unknown = await fetch(`${trusted.server.url}/console`, { headers: { 'X-Auth-User': 'nobody' }, redirect: 'manual' });
      expect(unknown.status).toBe(303);
      const actions = await t.app.db.selectFrom('console_actions').select(['actor', 'action', 'detail']).where('action', '=', 'sign in').execute();
      expect(actions).toContainEqual({ actor: 'console sso.operator', action: 'sign in', detail: 'single sign-on from 127.0.0.1' });
    } finally {
      await trusted.close();
    }
  });
});

describe('the Unreachable page', () => {
  it('lists, for every signed-in role, the renewals `reminders unreachable` lists, escaped; says so when there are none', async () => {
    const app = createApp(loadConfig({ ...t.env, HTTP_PORT: '0' }), { logger: createLogger('silent') });
    const server = await startConsoleHttpServer(app);
    try {
      const get = (token?: string) => fetch(`${server.url}/console/unreachable`, { headers: token ? { Cookie: `${SESSION_COOKIE}=${token}` } : {}, redirect: 'manual' });
      expect((await get()).status).toBe(303);
      const tokens: Record<string, string> = {};
      for (const role of ['viewer', 'operator', 'marketing', 'admin'] as const) {
        const name = `unreachable.${role}`;
        await t.app.db.insertInto('console_users').values({ name, role, password_hash: await hashPassword('unused-password-123') }).execute();
        tokens[role] = (await createSession(t.app.db, name, 1)).token;
      }

      const empty = await get(tokens.viewer);
      expect(empty.status).toBe(200);
      const emptyBody = await empty.text();
      expect(emptyBody).toContain('No renewal is unreachable');
      expect(emptyBody).toContain('<a href="/console/unreachable" aria-current="page">Unreachable</a>');

      // An order whose only contact is suppressed, due in 20 days; and one with a working contact.
      const today = businessDate(new Date(), t.config.timezone);
      const dead = await insertOrder(t.app.db, { orderNumber: 'ORD-UNREACH', customerName: 'Fish & <Chips> Ltd', contacts: [{ email: 'gone@unreach.example' }] });
      await insertLicense(t.app.db, { orderId: dead.orderId, expiresOn: addDays(today, 20), key: 'KEY-UNREACH', product: 'Dynamic Web TWAIN' });
      const alive = await insertOrder(t.app.db, { orderNumber: 'ORD-REACHABLE', contacts: [{ email: 'here@reach.example' }] });
      await insertLicense(t.app.db, { orderId: alive.orderId, expiresOn: addDays(today, 20) });
      await t.app.db.insertInto('suppressed_addresses').values({ address: 'gone@unreach.example', reason: 'hard bounce: 5.1.1' }).execute();

      for (const role of ['viewer', 'operator', 'marketing', 'admin']) {
        const response = await get(tokens[role]);
        expect(response.status).toBe(200);
        const body = await response.text();
        expect(body).toContain('ORD-UNREACH');
        expect(body).toContain('Fish &amp; &lt;Chips&gt; Ltd');
        expect(body).toContain('<code>KEY-UNREACH</code> (Dynamic Web TWAIN)');
        expect(body).toContain(`<li>${addDays(today, 20)}</li>`);
        expect(body).toContain('gone@unreach.example: <span class="bad">suppressed: hard bounce: 5.1.1</span>');
        expect(body).not.toContain('ORD-REACHABLE');
        expect(body).not.toContain('No renewal is unreachable');
      }
    } finally {
      await server.close();
      await app.close();
    }
  });
});
