import { UnrecoverableError } from 'bullmq';
import { sendReminderJob } from '../../jobs/send-reminder';
import { SEND_JOB } from '../../src/delivery/send-job-payload';
import { reconcileOutbox } from '../../src/delivery/outbox';
import { sweepStaleClaims } from '../../src/delivery/transitions';
import { replay } from '../../src/ops/replay';
import { waitUntilDrained } from '../../src/queue/drain';
import { startWorker } from '../../src/queue/workers';
import { addDays } from '../../src/dates';
import { databaseOf, dbFaults, type DbFaults } from '../helpers/db-faults';
import { insertLicense, insertOrder } from '../helpers/fixtures';
import { useMailTestEnv } from '../helpers/mail-test-env';
import { duplicateDeliveries, type SmtpTestServer } from '../helpers/smtp';
import { type TestEnv, waitFor } from '../helpers/test-env';

// Faults injected for real against PostgreSQL: a trigger that refuses a chosen ledger UPDATE,
// and pg_terminate_backend of the worker's connections at a chosen point of the hand-over.
jest.setTimeout(120_000);

const T = '2027-08-02';
let t: TestEnv;
let smtp: SmtpTestServer;
let faults: DbFaults;
useMailTestEnv('faults', { SEND_ATTEMPTS: '3', SEND_BACKOFF_MS: '50', SEND_CLAIM_TIMEOUT_MS: '60000', MAX_ITEMS_PER_EMAIL: '40' }, (env, server) => {
  t = env;
  smtp = server;
  faults = dbFaults(env.app.db, databaseOf(env.config.databaseUrl));
});
afterEach(async () => {
  await faults.clear();
  // Whatever a test injected, no ledger key may have been delivered twice.
  expect(duplicateDeliveries(smtp.received)).toEqual([]);
});

const ledger = () => t.app.db.selectFrom('reminder_ledger').selectAll().orderBy('id').execute();
const trail = (id: string) => t.app.db.selectFrom('reminder_events').select(['event', 'status', 'detail']).where('ledger_id', '=', id).orderBy('id').execute();

async function oneDue(email = 'fault@example.com'): Promise<string> {
  const { orderId } = await insertOrder(t.app.db, { contacts: [{ email }] });
  await insertLicense(t.app.db, { orderId, expiresOn: addDays(T, 30) });
  await t.scan(T);
  const rows = await t.app.db.selectFrom('reminder_ledger').select('id').where('recipient', '=', email).execute();
  return rows[0]!.id;
}

/** Runs a send worker in this process until the queue is empty; returns the jobs that failed, with why. */
async function drainCollectingFailures(): Promise<string[]> {
  const failures: string[] = [];
  const worker = startWorker(t.app, sendReminderJob, { concurrency: 4, limiter: { max: 1000, duration: 1000 } });
  worker.on('failed', (job, error) => {
    if (job && job.attemptsMade >= (job.opts.attempts ?? 1)) failures.push(error.message);
    else if (error instanceof UnrecoverableError || error.name === 'UnrecoverableError') failures.push(error.message);
  });
  try {
    await waitUntilDrained(t.app.sendQueue(), 50);
  } finally {
    await worker.close();
  }
  return failures;
}

describe('the SMTP hand-over is the point of no return', () => {
  it('recording `sent` fails once: one delivery, and the row ends sent', async () => {
    const id = await oneDue();
    await faults.failUpdatesTo('sent', 1);
    await t.drain();
    expect(await faults.fired('sent')).toBe(1);
    expect(smtp.received).toHaveLength(1);
    expect((await ledger())[0]).toMatchObject({ id, status: 'sent', attempts: 1 });
    expect((await trail(id)).map((e) => e.event)).toEqual(['queued', 'claimed', 'sent']);
  });

  it('recording `sent` fails always: one delivery, the row never goes back to pending, and the sweep makes it unknown', async () => {
    const id = await oneDue();
    await faults.failUpdatesTo('sent', Infinity);
    const failures = await drainCollectingFailures();
    expect(smtp.received).toHaveLength(1);
    const messageId = String(smtp.received[0]?.parsed.messageId).replace(/[<>]/g, '');
    expect(failures).toEqual([expect.stringContaining(`as ${messageId}, but the outcome could not be recorded`)]);
    expect((await ledger())[0]).toMatchObject({ id, status: 'sending', attempts: 1 });
    expect((await trail(id)).map((e) => e.event)).toEqual(['queued', 'claimed']);
    // Nothing re-queues it: an outbox pass and another drain send nothing.
    await reconcileOutbox({ db: t.app.db, sendQueue: t.app.sendQueue(), config: t.config, logger: t.app.logger }, 'test');
    await t.drain();
    expect(smtp.received).toHaveLength(1);
    // The attempt is over (no lock held): the sweep gives up on it.
    expect(await sweepStaleClaims(t.app.db, 0, 'sweep')).toEqual([id]);
    expect((await ledger())[0]).toMatchObject({ status: 'unknown', reason: expect.stringMatching(/may have been delivered/) });
    expect((await trail(id)).some((e) => e.status === 'pending' && e.event !== 'queued')).toBe(false);
  });

  it('the claim fails: nothing is sent, the row stays pending and is sent once later', async () => {
    const id = await oneDue();
    await faults.failUpdatesTo('sending', 1);
    await t.drain();
    expect(await faults.fired('sending')).toBe(1);
    expect(smtp.received).toHaveLength(1);
    expect((await ledger())[0]).toMatchObject({ id, status: 'sent', attempts: 1 });
  });

  it('the claim fails on every attempt: nothing is sent, the row stays pending, and the outbox sends it once the database recovers', async () => {
    const id = await oneDue();
    await faults.failUpdatesTo('sending', Infinity);
    await t.drain();
    expect(smtp.received).toHaveLength(0);
    expect((await ledger())[0]).toMatchObject({ id, status: 'pending', attempts: 0 });
    await faults.clear();
    await reconcileOutbox({ db: t.app.db, sendQueue: t.app.sendQueue(), config: t.config, logger: t.app.logger }, 'test');
    await t.drain();
    expect(smtp.received).toHaveLength(1);
    expect((await ledger())[0]).toMatchObject({ id, status: 'sent' });
  });

  it('the connection dies between SMTP acceptance and the record: one delivery, recorded sent', async () => {
    const id = await oneDue();
    let terminated = 0;
    smtp.beforeNextReply(async () => {
      terminated = await faults.terminateBackends();
    });
    await t.drain();
    expect(terminated).toBeGreaterThan(0);
    expect(smtp.received).toHaveLength(1);
    expect((await ledger())[0]).toMatchObject({ id, status: 'sent' });
  });

  it('a replay of an unknown row while its original attempt is alive: one delivery, and neither outcome is lost', async () => {
    const id = await oneDue();
    let replayed = false;
    smtp.beforeNextReply(async () => {
      // Mid hand-over: the worker's connection dies (its row locks go with it), a sweep gives up
      // on the claim early, and an operator replays the unknown row.
      await faults.terminateBackends();
      expect(await sweepStaleClaims(t.app.db, 0, 'sweep')).toEqual([id]);
      const result = await replay({ db: t.app.db, sendQueue: t.app.sendQueue(), config: t.config }, { allUnknown: true }, { actor: 'operator' });
      replayed = result.jobs.length === 1;
      // The replay's job runs now, while the original still waits for the server's answer.
      await waitFor(async () => ((await t.app.sendQueue().getJobCounts('completed')).completed ?? 0) >= 1, 'the replay job to run');
    });
    await t.drain();
    expect(replayed).toBe(true);
    expect(smtp.received).toHaveLength(1);
    expect((await ledger())[0]).toMatchObject({ id, status: 'sent' });
    const events = (await trail(id)).map((e) => e.event);
    expect(events).toEqual(['queued', 'claimed', 'unknown', 'replayed', 'sent']);
    // Nothing is left to send: an outbox pass and a drain add nothing.
    await reconcileOutbox({ db: t.app.db, sendQueue: t.app.sendQueue(), config: t.config, logger: t.app.logger }, 'test');
    await t.drain();
    expect(smtp.received).toHaveLength(1);
  });

  it('a connection lost after the body is recorded unknown, never retried', async () => {
    const id = await oneDue('after-body@example.com');
    smtp.dropAfterBody('after-body@example.com');
    await t.drain();
    expect(smtp.received).toHaveLength(1);
    expect((await ledger())[0]).toMatchObject({ id, status: 'unknown', claim_token: null });
  });
});

describe('bad input fails only itself', () => {
  it('a send job put on the queue by hand with a malformed payload fails with the reason and never runs', async () => {
    await t.app.sendQueue().add(SEND_JOB, { ledgerIds: ['1; drop table x'], groupKey: 'x' }, { attempts: 3 });
    await t.app.sendQueue().add(SEND_JOB, { nonsense: true }, { attempts: 3 });
    const failures = await drainCollectingFailures();
    expect(failures.sort()).toEqual([
      expect.stringMatching(/^malformed send-reminder payload: ledgerIds .*; groupKey /),
      expect.stringMatching(/^malformed send-reminder payload: ledgerIds.0 must be ledger ids/),
    ]);
    const failed = await t.app.sendQueue().getJobs(['failed']);
    expect(failed.map((j) => j.attemptsMade)).toEqual([1, 1]);
    expect(smtp.received).toHaveLength(0);
  });

  it('a recipient with more due items than fit one email gets several emails, each listing at most MAX_ITEMS_PER_EMAIL and under 102 KB', async () => {
    const { orderId } = await insertOrder(t.app.db, { customerName: 'N'.repeat(500), contacts: [{ email: 'bulk@example.com' }] });
    for (let i = 0; i < 85; i++) await insertLicense(t.app.db, { orderId, expiresOn: addDays(T, 30), key: `BULK-${String(i).padStart(3, '0')}` });
    await t.scan(T);
    await t.drain();
    const mails = smtp.received.filter((m) => m.to === 'bulk@example.com');
    expect(mails).toHaveLength(3);
    const counts = mails.map((m) => String(m.parsed.headers.get('x-reminder-ids')).split(',').length).sort((a, b) => b - a);
    expect(counts).toEqual([40, 40, 5]);
    for (const mail of mails) expect(Buffer.byteLength(mail.parsed.html || '')).toBeLessThan(102 * 1024);
    expect((await ledger()).every((r) => r.status === 'sent')).toBe(true);
  });
});
