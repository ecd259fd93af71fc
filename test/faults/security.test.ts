import type { ChildProcess } from 'node:child_process';
import { symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { signUnsubscribeToken } from '../../src/unsubscribe/token';
import { exited, killLeftovers, spawnCli } from '../helpers/cli';
import { insertLicense, insertOrder } from '../helpers/fixtures';
import { until } from '../helpers/servers';
import { editFile, useTemplateCopies } from '../helpers/template-copies';
import { createTestEnv, type TestEnv } from '../helpers/test-env';

/*
 * What an attacker on the network, a customer with one email, or a careless template edit can
 * reach: the admin routes, the unsubscribe link, files outside the templates folder, secrets.
 */

jest.setTimeout(5 * 60 * 1000);

const SECRETS = {
  ADMIN_TOKEN: 'admin-token-security-5f1c9e',
  UNSUBSCRIBE_SECRET: 'unsubscribe-secret-security-77aa',
  smtpPassword: 'smtp-password-security-31d2',
  dbPassword: 'db-password-security-9e0b',
};

let t: TestEnv;
const children: Array<ChildProcess & { output: () => string }> = [];
const copy = useTemplateCopies();

function start(args: string[], env: Record<string, string>) {
  const child = spawnCli(args, env);
  children.push(child);
  return child;
}

async function listeningUrl(child: ChildProcess & { output: () => string }, pattern: RegExp): Promise<string> {
  let url = '';
  await until(() => {
    url = pattern.exec(child.output())?.[1] ?? '';
    return url !== '' || child.exitCode !== null;
  }, 'the server to listen', 120_000);
  if (!url) throw new Error(`did not start: ${child.output()}`);
  return url;
}

beforeAll(async () => {
  t = await createTestEnv('security', {
    ADMIN_TOKEN: SECRETS.ADMIN_TOKEN,
    UNSUBSCRIBE_SECRET: SECRETS.UNSUBSCRIBE_SECRET,
    // Nobody answers there: the worker logs that, which must not show the password.
    SMTP_URL: `smtp://mailer:${SECRETS.smtpPassword}@127.0.0.1:1`,
  });
});

afterAll(async () => {
  await killLeftovers(children);
  await t?.cleanup();
});

describe('the daemon HTTP server', () => {
  let base = '';
  let daemon: ChildProcess & { output: () => string };
  beforeAll(async () => {
    const databaseUrl = new URL(t.env.DATABASE_URL as string);
    databaseUrl.password = SECRETS.dbPassword;
    daemon = start(['start'], { ...t.env, DATABASE_URL: databaseUrl.toString(), HTTP_PORT: '0', LOG_LEVEL: 'info' });
    base = await listeningUrl(daemon, /http server listening on (http:\/\/\S+?)"/);
  });

  it('listens on loopback by default', () => {
    expect(new URL(base).hostname).toBe('127.0.0.1');
  });

  const adminRoutes: Array<[string, string]> = [
    ['GET', '/admin/queues'],
    ['GET', '/admin/queues/'],
    ['GET', '/admin/queues/api/queues'],
    ['GET', '/admin/queues/api/queues/send/failed'],
    ['PUT', '/admin/queues/api/queues/send/retry/failed'],
    ['PUT', '/admin/queues/api/queues/send/clean/completed'],
    ['PUT', '/admin/queues/api/queues/send/pause'],
    ['POST', '/admin/queues/api/queues/send/add'],
    ['DELETE', '/admin/queues/api/queues/send/x/remove'],
    ['PUT', '/admin/queues/api/queues/send/x/retry/failed'],
    ['GET', '/admin/queues/static/../api/queues'],
    ['GET', '/ADMIN/queues/api/queues'],
    ['GET', '/admin//queues/api/queues'],
    ['GET', '/admin/queues%2Fapi%2Fqueues'],
  ];
  it.each(adminRoutes)('refuses %s %s without authentication, or with a wrong token', async (method, route) => {
    const attempts: Array<RequestInit & { url: string }> = [
      { url: `${base}${route}` },
      { url: `${base}${route}`, headers: { authorization: 'Bearer wrong-token' } },
      { url: `${base}${route}`, headers: { authorization: `Bearer ${SECRETS.ADMIN_TOKEN.slice(0, -1)}` } },
      { url: `${base}${route}${route.includes('?') ? '&' : '?'}token=wrong-token` },
      { url: `${base}${route}`, headers: { cookie: 'reminders_admin=forged' } },
    ];
    for (const { url, ...init } of attempts) {
      const response = await fetch(url, { method, redirect: 'manual', ...init });
      const body = await response.text();
      // 401 from the guard, a redirect to the console's sign-in (a browser without a session), or
      // 404 for a path the app does not serve at all: never the dashboard.
      expect([303, 401, 404]).toContain(response.status);
      if (response.status === 303) expect(response.headers.get('location')).toMatch(/^\/console\/login/);
      expect(body).not.toMatch(/bull|"queues"/i);
    }
  });

  it('serves the dashboard with the token, and never shows a secret on /metrics or /healthz', async () => {
    const ok = await fetch(`${base}/admin/queues/api/queues`, { headers: { authorization: `Bearer ${SECRETS.ADMIN_TOKEN}` } });
    expect(ok.status).toBe(200);
    for (const route of ['/metrics', '/healthz', '/unsubscribe', '/admin/queues']) {
      const body = await fetch(`${base}${route}`).then((r) => r.text());
      for (const secret of Object.values(SECRETS)) expect([route, body.includes(secret)]).toEqual([route, false]);
    }
  });

  it('an unsubscribe token cannot be forged, cut short or moved to another address', async () => {
    const { orderId } = await insertOrder(t.app.db, { contacts: [{ email: 'ann@example.com' }, { email: 'bob@example.com' }] });
    await insertLicense(t.app.db, { orderId, expiresOn: '2031-01-01' });
    const ann = signUnsubscribeToken('ann@example.com', SECRETS.UNSUBSCRIBE_SECRET);
    const [, annSignature] = ann.split('.');
    const bobPayload = Buffer.from('bob@example.com').toString('base64url');
    const post = (token: string) =>
      fetch(`${base}/unsubscribe?token=${encodeURIComponent(token)}`, { method: 'POST', body: 'List-Unsubscribe=One-Click', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect((await post(signUnsubscribeToken('bob@example.com', 'some-other-secret-123456'))).status).toBe(403);
    expect((await post(`${bobPayload}.${annSignature}`)).status).toBe(403);
    for (const cut of [ann.slice(0, ann.indexOf('.')), ann.slice(0, ann.indexOf('.') + 1), ann.slice(0, -1), ann.slice(0, -10)]) {
      expect([400, 403]).toContain((await post(cut)).status);
    }
    const subscribed = async (email: string) =>
      (await t.app.db.selectFrom('order_contacts').select('unsubscribed_at').where('email', '=', email).executeTakeFirstOrThrow()).unsubscribed_at === null;
    expect(await subscribed('ann@example.com')).toBe(true);
    expect(await subscribed('bob@example.com')).toBe(true);
    expect((await post(ann)).status).toBe(200);
    expect(await subscribed('ann@example.com')).toBe(false);
    expect(await subscribed('bob@example.com')).toBe(true);
  });

  it('logs no secret, also when SMTP and a request fail', () => {
    const output = daemon.output();
    expect(output).toMatch(/Cannot reach the SMTP server at smtp:\/\/mailer:\*\*\*@127\.0\.0\.1:1/);
    for (const secret of Object.values(SECRETS)) expect(output).not.toContain(secret);
  });
});

it('the template preview server listens on loopback only', async () => {
  const preview = start(['templates', 'preview', '--port', '0'], t.env);
  const url = await listeningUrl(preview, /at (http:\/\/\S+?) /);
  expect(new URL(url).hostname).toBe('127.0.0.1');
  for (const probe of ['/../../../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/email?variant=../../../../etc/passwd']) {
    const body = await fetch(new URL(probe, url)).then((r) => r.text());
    expect(body).not.toMatch(/root:x:0:0/);
  }
});

describe('template includes stay inside the templates folder', () => {
  const outside = (dir: string) => path.join(path.dirname(dir), 'outside-secret.mjml');
  it.each([
    ['a relative path that climbs out', (dir: string) => path.relative(path.join(dir, 'partials'), outside(dir))],
    ['an absolute path', (dir: string) => outside(dir)],
    ['/etc/passwd', () => '/etc/passwd'],
    [
      'a symlink inside the folder pointing out',
      (dir: string) => {
        symlinkSync(outside(dir), path.join(dir, 'partials', 'link.mjml'));
        return 'link.mjml';
      },
    ],
  ])('refuses %s', async (_name, target) => {
    const dir = copy();
    writeFileSync(outside(dir), '<mj-text>OUTSIDE-SECRET-CONTENT</mj-text>');
    const includePath = target(dir);
    editFile(path.join(dir, 'partials', 'footer.mjml'), (text) => `${text}\n<mj-include path="${includePath}" />\n`);
    const env = { ...t.env, TEMPLATES_DIR: dir };
    const validate = spawnCli(['templates', 'validate'], env);
    expect(await exited(validate)).not.toBe(0);
    expect(validate.output()).toMatch(/points outside the templates folder/);
    const render = spawnCli(['templates', 'render', '--kind', 'license', '--offset', '30'], env);
    await exited(render);
    expect(render.output()).not.toMatch(/OUTSIDE-SECRET-CONTENT|root:x:0:0/);
    expect(validate.output()).not.toMatch(/OUTSIDE-SECRET-CONTENT|root:x:0:0/);
  });
});
