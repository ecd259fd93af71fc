import { recordDue } from '../../src/delivery/due-rows';
import { addDays } from '../../src/dates';
import { planScan } from '../../src/scan/run-scan';
import { exited, spawnCli } from '../helpers/cli';
import { insertLicense, insertOrder } from '../helpers/fixtures';
import { startPrivateRedis, type PrivateRedis } from '../helpers/servers';
import { deliveriesPerLedgerId, duplicateDeliveries, type SmtpTestServer, startSmtpServer } from '../helpers/smtp';
import { createTestEnv, type TestEnv, waitFor } from '../helpers/test-env';

// The ledger is the outbox: whatever Redis loses, a running worker gives every pending row a job
// again within seconds (OUTBOX_INTERVAL_MS; each wait below fails after the 60 s), and
// nothing is sent twice.
jest.setTimeout(240_000);

const T = '2027-11-01';
let redis: PrivateRedis;
let smtp: SmtpTestServer;
let t: TestEnv;
beforeAll(async () => {
  redis = await startPrivateRedis();
  smtp = await startSmtpServer();
  t = await createTestEnv('outbox', { REDIS_URL: redis.url, SMTP_URL: smtp.url, SEND_RATE_PER_SEC: '1000', OUTBOX_INTERVAL_MS: '1000' });
});
afterAll(async () => {
  await t?.cleanup().catch(() => undefined);
  await smtp?.close();
  await redis?.close();
});

async function seed(prefix: string, count: number, day: string): Promise<void> {
  for (let i = 0; i < count; i++) {
    const { orderId } = await insertOrder(t.app.db, { contacts: [{ email: `${prefix}${i}@example.com` }] });
    await insertLicense(t.app.db, { orderId, expiresOn: addDays(day, 30) });
  }
}

const unsent = async () => (await t.app.db.selectFrom('reminder_ledger').select('id').where('status', '!=', 'sent').execute()).length;

it('rebuilds the send queue from the ledger after Redis is flushed before and during a drain, and after Redis restarts empty', async () => {
  await seed('a', 20, T);
  await t.scan(T);
  await redis.flush();
  const worker = spawnCli(['work'], { ...t.env, LOG_LEVEL: 'info' });
  try {
    await waitFor(async () => (await unsent()) === 0, 'the flushed rows to be re-queued and sent', 60_000);

    // Flushed again while a second day drains.
    await seed('b', 20, addDays(T, 1));
    await t.scan(addDays(T, 1));
    await waitFor(() => smtp.received.some((m) => m.to.startsWith('b')) || undefined, 'the second day to start sending');
    await redis.flush();
    await waitFor(async () => (await unsent()) === 0, 'the second day to finish after the flush', 60_000);

    // Redis down while a scan records reminders (its enqueue could not run), then back empty.
    await redis.stop();
    await seed('c', 10, addDays(T, 2));
    await recordDue(
      t.app.db,
      (await planScan(t.app.db, t.config, addDays(T, 2))).map(({ days_left: _, ...row }) => row),
    );
    await redis.start();
    await waitFor(async () => (await unsent()) === 0, 'the rows recorded during the outage to be sent', 60_000);

    expect(worker.exitCode).toBeNull();
    expect(duplicateDeliveries(smtp.received)).toEqual([]);
    const rows = await t.app.db.selectFrom('reminder_ledger').select('id').execute();
    expect(rows).toHaveLength(50);
    const delivered = deliveriesPerLedgerId(smtp.received);
    for (const row of rows) expect(delivered.get(row.id)).toBe(1);
  } finally {
    worker.kill('SIGTERM');
    expect(await exited(worker)).toBe(0);
  }
});
