import { createApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { type HttpServer, isLoopbackHost, startHttpServer } from '../../src/ops/http-server';
import { addDays } from '../../src/dates';
import { signUnsubscribeToken } from '../../src/unsubscribe/token';
import { exited, spawnCli } from '../helpers/cli';
import { insertLicense, insertOrder } from '../helpers/fixtures';
import { startSmtpServer } from '../helpers/smtp';
import { createTestEnv, type TestEnv, waitFor } from '../helpers/test-env';

const T = '2027-10-04';
const ADMIN_TOKEN = 'test-admin-token-0123456789';
let t: TestEnv;
let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
let http: HttpServer;

beforeAll(async () => {
  smtp = await startSmtpServer();
  t = await createTestEnv('opshttp', { SMTP_URL: smtp.url, SEND_RATE_PER_SEC: '1000', SEND_ATTEMPTS: '2', HTTP_PORT: '0', ADMIN_TOKEN });
  http = await startHttpServer(t.app);
});
afterAll(async () => {
  await http?.close();
  await t?.cleanup();
  await smtp?.close();
});
beforeEach(async () => {
  await t.reset();
  smtp.received.length = 0;
});

const scan = (date: string) => t.scan(date);
const drain = () => t.drain();
const get = (path: string, init?: RequestInit) => fetch(`${http.url}${path}`, { redirect: 'manual', ...init });
const contacts = () => t.app.db.selectFrom('order_contacts').select(['email', 'unsubscribed_at']).orderBy('id').execute();

describe('health and metrics', () => {
  it('/healthz reports PostgreSQL, Redis and the last scan, with missed days', async () => {
    const { orderId } = await insertOrder(t.app.db, { contacts: [{ email: 'm@example.com' }] });
    await insertLicense(t.app.db, { orderId, expiresOn: addDays(T, 30) });
    await scan(T);
    await scan(addDays(T, 3));
    await drain();

    const health = await get('/healthz');
    expect(health.status).toBe(200);
    const body = (await health.json()) as { lastScan: { completedAt: string }; daysBehind: unknown };
    expect(body).toMatchObject({ status: 'ok', postgres: 'ok', redis: 'ok', lastScan: { date: addDays(T, 3), missedDays: 2 } });
    expect(Date.parse(body.lastScan.completedAt)).not.toBeNaN();
    expect(typeof body.daysBehind).toBe('number');

    const metrics = await get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await metrics.text();
    expect(text).toMatch(/^reminders_ledger_reminders\{status="sent",kind="license"\} 1$/m);
    expect(text).toMatch(/^reminders_ledger_reminders\{status="failed",kind="maintenance"\} 0$/m);
    expect(text).toMatch(/^reminders_queue_jobs\{queue="send",state="completed"\} 1$/m);
    expect(text).toMatch(/^reminders_queue_jobs\{queue="scan",state="waiting"\} 0$/m);
    expect(text).toMatch(/^reminders_last_scan_duration_seconds \d/m);
    expect(text).toMatch(/^reminders_last_scan_missed_days 2$/m);
    expect(text).toMatch(/^reminders_days_since_last_scan \d+$/m);
    expect(text).toMatch(/^reminders_dependency_up\{dependency="redis"\} 1$/m);
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);
  });

  it('/healthz answers 503 naming Redis when it is unreachable; the dashboard is off without ADMIN_TOKEN', async () => {
    const config = loadConfig({ ...t.env, REDIS_URL: 'redis://127.0.0.1:1', ADMIN_TOKEN: '', HTTP_PORT: '0' });
    const app = createApp(config, { logger: createLogger('silent') });
    // BullMQ prints connection errors of queues without an 'error' listener.
    for (const queue of [app.sendQueue(), app.scanQueue()]) queue.on('error', () => undefined);
    const server = await startHttpServer(app, { probeTimeoutMs: 300 });
    try {
      const health = await fetch(`${server.url}/healthz`);
      expect(health.status).toBe(503);
      expect(await health.json()).toMatchObject({ status: 'error', postgres: 'ok', redis: expect.stringMatching(/^error: Redis did not answer within 300 ms/) });
      const dashboard = await fetch(`${server.url}/admin/queues`);
      expect(dashboard.status).toBe(404);
      expect(await dashboard.text()).toMatch(/disabled: set ADMIN_TOKEN/);
    } finally {
      await server.close();
      // Not app.close(): closing a BullMQ queue waits for a connection that never comes.
      app.redis().disconnect();
      app.producerRedis().disconnect();
      await app.db.destroy();
    }
  });
});

describe('queue dashboard', () => {
  it('answers 401 without the token and 200 with it (header, or ?token= then cookie)', async () => {
    expect((await get('/admin/queues')).status).toBe(401);
    expect((await get('/admin/queues', { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await get('/admin/queues?token=wrong')).status).toBe(401);
    expect((await get('/admin/queues/api/queues')).status).toBe(401);

    const page = await get('/admin/queues', { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<html/i);

    const login = await get(`/admin/queues?token=${ADMIN_TOKEN}`);
    expect(login.status).toBe(303);
    expect(login.headers.get('location')).toBe('/admin/queues');
    const cookie = login.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^reminders_admin=[^;]+; Path=\/admin\/queues; HttpOnly; SameSite=Strict$/);
    expect(cookie).not.toContain(ADMIN_TOKEN);
    const api = await get('/admin/queues/api/queues', { headers: { cookie: cookie.split(';')[0] as string } });
    expect(api.status).toBe(200);
    const names = ((await api.json()) as { queues: Array<{ name: string }> }).queues.map((q) => q.name).sort();
    expect(names).toEqual(['scan', 'send']);
  });

  it('knows loopback from exposed addresses', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) expect(isLoopbackHost(host)).toBe(true);
    for (const host of ['0.0.0.0', '::', '10.0.0.5', 'example.com']) expect(isLoopbackHost(host)).toBe(false);
  });
});

describe('one-click unsubscribe', () => {
  it('refuses forged tokens, shows a page on GET, unsubscribes on POST and stops the next reminder', async () => {
    const first = await insertOrder(t.app.db, { contacts: [{ email: 'Leaver@Example.com' }, { email: 'stays@example.com' }] });
    const second = await insertOrder(t.app.db, { contacts: [{ email: ' leaver@example.com' }] });
    await insertLicense(t.app.db, { orderId: first.orderId, expiresOn: addDays(T, 30), key: 'KEY-U1' });
    await insertLicense(t.app.db, { orderId: second.orderId, expiresOn: addDays(T, 44), key: 'KEY-U2' });
    await scan(T);
    await drain();
    const [mail] = smtp.received.filter((m) => m.to === 'leaver@example.com');
    const link = /^List-Unsubscribe:\s+<([^>]+)>/m.exec(mail!.raw)?.[1] as string;
    const token = new URL(link).searchParams.get('token') as string;
    await scan(addDays(T, 16));
    const before = await contacts();

    const forged = signUnsubscribeToken('leaver@example.com', 'not-the-secret');
    for (const [path, status] of [
      [`/unsubscribe?token=${encodeURIComponent(forged)}`, 403],
      ['/unsubscribe?token=garbage', 400],
      ['/unsubscribe', 400],
    ] as const) {
      const refused = await get(path, { method: 'POST', body: 'List-Unsubscribe=One-Click', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      expect(refused.status).toBe(status);
      expect(await refused.text()).toMatch(/Nothing was changed/);
    }
    const page = await get(`/unsubscribe?token=${encodeURIComponent(token)}`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('<form method="post">');
    expect(html).toContain('leaver@example.com');
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(await contacts()).toEqual(before);

    const done = await get(`/unsubscribe?token=${encodeURIComponent(token)}`, { method: 'POST', body: 'List-Unsubscribe=One-Click', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(done.status).toBe(200);
    expect((await contacts()).map((c) => [c.email, c.unsubscribed_at !== null])).toEqual([
      ['Leaver@Example.com', true],
      ['stays@example.com', false],
      [' leaver@example.com', true],
    ]);

    await drain();
    const rows = await t.app.db.selectFrom('reminder_ledger').select(['recipient', 'offset_days', 'status', 'reason']).orderBy('id').execute();
    expect(rows.filter((r) => r.offset_days === 14)).toEqual([
      { recipient: 'leaver@example.com', offset_days: 14, status: 'skipped', reason: 'unsubscribed' },
      { recipient: 'stays@example.com', offset_days: 14, status: 'sent', reason: null },
    ]);
    expect(smtp.received.filter((m) => m.to === 'leaver@example.com')).toHaveLength(1);
  });
});

describe('the command line', () => {
  it('refuses to start on a non-loopback HTTP_HOST while no console account exists, in one line', async () => {
    const child = spawnCli(['start'], { ...t.env, HTTP_HOST: '0.0.0.0', LOG_LEVEL: 'info' });
    expect(await exited(child)).toBe(2);
    const lines = child.output().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^reminders: HTTP_HOST=0\.0\.0\.0 is not a loopback address and no console account exists: add one first \(`reminders users add NAME --role admin`/);
    // Refused before anything started: no daily scan was scheduled.
    expect(await t.app.scanQueue().getJobSchedulers()).toEqual([]);
  });

  it('prints failed reminders as a table, and user mistakes as one line with a non-zero exit', async () => {
    const { orderId } = await insertOrder(t.app.db, { orderNumber: 'ORD-CLI', contacts: [{ email: 'cli@example.com' }] });
    await insertLicense(t.app.db, { orderId, expiresOn: addDays(T, 7), key: 'KEY-CLI' });
    smtp.forceReply('cli@example.com', { code: 550, message: '5.7.1 Rejected by policy', times: 1 });
    await scan(T);
    await drain();
    const [row] = await t.app.db.selectFrom('reminder_ledger').select('id').execute();

    const runs = {
      failed: spawnCli(['failed'], t.env),
      json: spawnCli(['failed', '--json'], t.env),
      unknownId: spawnCli(['replay', '999999999'], t.env),
      forceNoReason: spawnCli(['replay', row!.id, '--force'], t.env),
      badDate: spawnCli(['failed', '--since', '2026-13-45'], t.env),
    };
    const codes = Object.fromEntries(await Promise.all(Object.entries(runs).map(async ([name, child]) => [name, await exited(child)])));
    expect(codes).toEqual({ failed: 0, json: 0, unknownId: 2, forceNoReason: 2, badDate: 2 });

    const table = runs.failed.output().trim().split('\n');
    expect(table[0]).toMatch(/^id\s+status\s+kind\s+license\s+order\s+recipient\s+offset\s+expires\s+attempts\s+when \(UTC\)$/);
    expect(table[2]).toMatch(new RegExp(`^${row!.id}\\s+failed\\s+license\\s+KEY-CLI\\s+ORD-CLI\\s+cli@example\\.com\\s+7\\s+2027-10-11\\s+1\\s+\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$`));
    expect(table[3]).toMatch(/^\s+550 5\.7\.1 Rejected by policy/);
    expect(table.at(-1)).toBe('1 failed/unknown reminder(s).');
    expect(JSON.parse(runs.json.output().trim())).toMatchObject({ id: row!.id, status: 'failed', licenseKey: 'KEY-CLI', orderNumber: 'ORD-CLI', reason: expect.stringMatching(/^550 5\.7\.1 Rejected by policy/) });

    expect(runs.unknownId.output().trim()).toBe('reminders: no ledger row with id 999999999 (see `reminders failed` or `reminders history`)');
    expect(runs.forceNoReason.output().trim()).toBe('reminders: --force needs --reason "…": a forced re-send is recorded with its reason');
    expect(runs.badDate.output()).toMatch(/"2026-13-45" is not a date in the form YYYY-MM-DD/);
    expect(runs.badDate.output()).not.toMatch(/\n\s+at /);
  });

  it('the daemon serves /healthz on a free port and closes it on SIGTERM', async () => {
    const daemon = spawnCli(['start'], { ...t.env, LOG_LEVEL: 'info', HTTP_PORT: '0', ADMIN_TOKEN });
    const url = await waitFor(() => /http server listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(daemon.output())?.[1], 'the daemon to log its URL', 30_000);
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    daemon.kill('SIGTERM');
    expect(await exited(daemon)).toBe(0);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });
});
