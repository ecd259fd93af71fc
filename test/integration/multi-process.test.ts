import { sql } from 'kysely';
import { addDays } from '../../src/dates';
import { exited, spawnCli } from '../helpers/cli';
import { insertLicense, insertOrder } from '../helpers/fixtures';
import { useMailTestEnv } from '../helpers/mail-test-env';
import type { SmtpTestServer } from '../helpers/smtp';
import { type TestEnv, waitFor } from '../helpers/test-env';

// Child processes start slowly on a loaded 2-core machine: allow minutes, not the default 60 s.
jest.setTimeout(180_000);

/**
 * The deployment shape: three send workers and two schedulers, each its own process, over one
 * Redis and one PostgreSQL, through a simulated week. Every due reminder must arrive exactly once.
 */
const MONDAY = '2027-09-06';
let t: TestEnv;
let smtp: SmtpTestServer;
useMailTestEnv('multi', { SEND_RATE_PER_SEC: '500', SEND_CONCURRENCY: '3', LOG_LEVEL: 'info' }, (env, server) => {
  t = env;
  smtp = server;
}, { resetEachTest: false });

it('three workers and two schedulers deliver each reminder of a week exactly once', async () => {
  // 42 licenses over 14 orders; expiry dates put every offset on some day of the week.
  const expiries = [0, 1, 3, 5, 7, 9, 12, 14, 16, 20, 30, 33, 60, 62, 90, 95];
  for (let o = 0; o < 14; o++) {
    const { orderId } = await insertOrder(t.app.db, {
      contacts: [{ email: `buyer${o}@example.com` }, { email: o % 2 ? 'Shared@Example.com' : 'shared@example.com' }],
    });
    for (let l = 0; l < 3; l++) {
      const days = expiries[(o * 3 + l) % expiries.length] as number;
      const lifetime = l === 2;
      await insertLicense(t.app.db, {
        orderId,
        type: lifetime ? 'lifetime' : 'annual',
        expiresOn: lifetime ? null : addDays(MONDAY, days),
        maintenanceExpiresOn: lifetime ? addDays(MONDAY, days) : null,
      });
    }
  }

  const workers = [0, 1, 2].map(() => spawnCli(['work'], t.env));
  try {
    for (let day = 0; day < 7; day++) {
      const date = addDays(MONDAY, day);
      const schedulers = [spawnCli(['scan', '--date', date], t.env), spawnCli(['scan', '--date', date], t.env)];
      expect(await Promise.all(schedulers.map(exited))).toEqual([0, 0]);
    }
    await waitFor(
      async () => {
        const open = await t.app.db.selectFrom('reminder_ledger').select('id').where('status', 'in', ['pending', 'sending']).execute();
        return open.length === 0;
      },
      'every reminder of the week recorded',
      120_000,
    );
  } finally {
    for (const worker of workers) worker.kill('SIGTERM');
    expect(await Promise.all(workers.map(exited))).toEqual([0, 0, 0]);
  }

  const rows = await t.app.db.selectFrom('reminder_ledger').select(['id', 'status', 'recipient', 'message_id']).execute();
  expect(rows.length).toBeGreaterThan(40);
  expect(rows.filter((r) => r.status !== 'sent' && r.status !== 'skipped')).toEqual([]);
  const deliveries = new Map<string, number>();
  for (const mail of smtp.received) {
    for (const id of String(mail.parsed.headers.get('x-reminder-ids') ?? '').split(',')) deliveries.set(id, (deliveries.get(id) ?? 0) + 1);
  }
  for (const row of rows.filter((r) => r.status === 'sent')) expect([row.id, deliveries.get(row.id)]).toEqual([row.id, 1]);
  expect(new Set(smtp.received.map((m) => m.parsed.messageId)).size).toBe(smtp.received.length);
  // All three workers took a share of the sends.
  expect(workers.map((w) => w.output().includes('"outcome":"sent"'))).toEqual([true, true, true]);
  const days = await sql<{ n: string }>`select count(*) as n from scan_runs where completed_at is not null`.execute(t.app.db);
  expect(Number(days.rows[0]?.n)).toBe(7);
});

it('two daemons register one daily scan scheduler', async () => {
  const env = { ...t.env, HTTP_PORT: '0' };
  const daemons = [spawnCli(['start', '--no-worker'], env), spawnCli(['start', '--no-worker'], env)];
  try {
    await waitFor(() => daemons.every((d) => d.output().includes('daemon started')), 'both daemons started', 30_000);
    const schedulers = await t.app.scanQueue().getJobSchedulers();
    expect(schedulers.map((s) => [s.key, s.pattern, s.tz])).toEqual([['daily-scan', t.config.scanCron, t.config.timezone]]);
  } finally {
    for (const daemon of daemons) daemon.kill('SIGTERM');
    expect(await Promise.all(daemons.map(exited))).toEqual([0, 0]);
  }
});
