import { UnrecoverableError } from 'bullmq';
import { sendReminderJob } from '../../jobs/send-reminder';
import { SEND_JOB } from '../../src/delivery/send-job-payload';
import { runSendJob } from '../../src/delivery/send-job';
import { reconcileOutbox } from '../../src/delivery/outbox';
import { pendingGroups, settleExpiredLeases } from '../../src/delivery/ledger-sql';
import { enqueueGroups } from '../../src/delivery/outbox';
import { replay } from '../../src/ops/replay';
import { waitUntilDrained } from '../../src/queue/drain';
import { startWorker } from '../../src/queue/workers';
import { sendBackoff } from '../../src/daemon';
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
// A short lease (so the tests wait seconds, not minutes): the SMTP deadline is 3 s, the outcome
// retry 2.4 s; the replay grace is 1 s.
const LEASE_MS = 6000;
useMailTestEnv('faults', { SEND_ATTEMPTS: '3', SEND_BACKOFF_MS: '50', SEND_LEASE_MS: String(LEASE_MS), SEND_REPLAY_GRACE_MS: '1000', SEND_BACKOFF_MAX_MS: '200', MAX_ITEMS_PER_EMAIL: '40' }, (env, server) => {
  t = env;
  smtp = server;
  faults = dbFaults(env.app.db, databaseOf(env.config.databaseUrl));
});
afterEach(async () => {
  await faults.clear();
  // Whatever a test injected, no ledger key may have been delivered twice.
  expect(duplicateDeliveries(smtp.received)).toEqual([]);
});

const settings = () => ({ leaseMs: t.config.sendLeaseMs, replayGraceMs: t.config.sendReplayGraceMs });
const settle = () => settleExpiredLeases(t.app.db, 'sweep', settings());
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
  const worker = startWorker(t.app, sendReminderJob, { concurrency: 4, limiter: { max: 1000, duration: 1000 }, backoff: sendBackoff(t.config) });
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

  it.each(['UPDATE', 'COMMIT'] as const)(
    'recording `sent` fails at every %s: one delivery, OUTCOME NOT RECORDED, never back to pending, unknown once the lease expired',
    async (where) => {
      const id = await oneDue();
      await (where === 'UPDATE' ? faults.failUpdatesTo('sent', Infinity) : faults.failCommitsTo('sent', Infinity));
      const failures = await drainCollectingFailures();
      expect(smtp.received).toHaveLength(1);
      const messageId = String(smtp.received[0]?.parsed.messageId).replace(/[<>]/g, '');
      expect(failures).toEqual([expect.stringContaining(`as ${messageId}, but the outcome could not be recorded`)]);
      expect((await ledger())[0]).toMatchObject({ id, status: 'sending', attempts: 1, message_id: messageId, handed_over_at: expect.any(Date) });
      expect((await trail(id)).map((e) => e.event)).toEqual(['queued', 'claimed']);
      // While the lease lives nothing touches it; an outbox pass and another drain send nothing.
      expect(await settle()).toEqual({ pending: [], unknown: [] });
      await reconcileOutbox({ db: t.app.db, sendQueue: t.app.sendQueue(), config: t.config, logger: t.app.logger }, 'test');
      await t.drain();
      expect(smtp.received).toHaveLength(1);
      // The lease expires (the attempt is long over): handed over, so unknown, never pending.
      await waitFor(async () => (await settle()).unknown.length === 1, 'the lease to expire and be settled', 3 * LEASE_MS);
      expect((await ledger())[0]).toMatchObject({ status: 'unknown', reason: expect.stringMatching(/may have been delivered/) });
      expect((await trail(id)).some((e) => e.status === 'pending' && e.event !== 'queued')).toBe(false);
    },
  );

  it('the COMMIT of `sent` fails once: the outcome is written again, one delivery, recorded sent', async () => {
    const id = await oneDue();
    await faults.failCommitsTo('sent', 1);
    await t.drain();
    expect(await faults.fired('sent')).toBe(1);
    expect(smtp.received).toHaveLength(1);
    expect((await ledger())[0]).toMatchObject({ id, status: 'sent', attempts: 1 });
    expect((await trail(id)).map((e) => e.event)).toEqual(['queued', 'claimed', 'sent']);
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

  it('backends terminated during SMTP with the reply held: the sweep and an operator replay meanwhile leave the live attempt alone; one delivery', async () => {
    const id = await oneDue();
    let during: { swept: unknown; replay: string[] } | undefined;
    smtp.holdReplies(1500);
    smtp.beforeNextReply(async () => {
      // Mid hand-over: the worker's connections die, as in a failover or an idle-in-transaction
      // time-out. Its lease does not: the sweep and an operator's replay find the row in flight.
      await faults.terminateBackends();
      const swept = await settle();
      const result = await replay({ db: t.app.db, sendQueue: t.app.sendQueue(), config: t.config }, { ids: [id] }, { actor: 'operator' });
      during = { swept, replay: result.entries.map((e) => e.action) };
    });
    await t.drain();
    smtp.holdReplies(0);
    expect(during).toEqual({ swept: { pending: [], unknown: [] }, replay: ['in-flight'] });
    expect(smtp.received).toHaveLength(1);
    expect((await ledger())[0]).toMatchObject({ id, status: 'sent' });
    expect((await trail(id)).map((e) => e.event)).toEqual(['queued', 'claimed', 'sent']);
    await reconcileOutbox({ db: t.app.db, sendQueue: t.app.sendQueue(), config: t.config, logger: t.app.logger }, 'test');
    await t.drain();
    expect(smtp.received).toHaveLength(1);
  });

  it("a reply that never comes: the SMTP deadline ends the attempt inside its lease and it records unknown; replaying it is then the operator's decision", async () => {
    const id = await oneDue('stall@example.com');
    smtp.holdReplies(3 * LEASE_MS);
    const started = Date.now();
    await t.drain();
    // The deadline (half the lease) cut the connection: the attempt recorded unknown itself.
    expect(Date.now() - started).toBeLessThan(3 * LEASE_MS);
    smtp.holdReplies(0);
    expect(smtp.received).toHaveLength(1);
    expect((await ledger())[0]).toMatchObject({ id, status: 'unknown', lease_expires_at: null });
    // The operator's decision: replaying it sends a second copy, on purpose.
    const result = await replay({ db: t.app.db, sendQueue: t.app.sendQueue(), config: t.config }, { ids: [id] }, { actor: 'operator' });
    expect(result.entries.map((e) => e.action)).toEqual(['replay']);
  });

  it('an outbox pass that read a group before its job failed with a 550 does not send the failed row again', async () => {
    const id = await oneDue('refused@example.com');
    const stale = await pendingGroups(t.app.db);
    smtp.forceReply('refused@example.com', { code: 550, message: '550 no such user' });
    await t.drain();
    expect((await ledger())[0]).toMatchObject({ id, status: 'failed' });
    // The pass now enqueues what it read: a new job with the stale ids.
    await enqueueGroups(t.app.sendQueue(), stale);
    await t.drain();
    expect(smtp.attempts.get('refused@example.com')).toBe(1);
    expect((await ledger())[0]).toMatchObject({ id, status: 'failed' });
    // The same job retried by hand (Bull Board) reopens nothing either.
    const [job] = await t.app.sendQueue().getJobs(['failed']);
    await job!.retry();
    await t.drain();
    expect(smtp.attempts.get('refused@example.com')).toBe(1);
    expect((await ledger())[0]!.status).toBe('failed');
  });

  it("the attempt budget is each row's: a group's second email gets all its attempts after the first used some", async () => {
    const { orderId } = await insertOrder(t.app.db, { contacts: [{ email: 'two@example.com' }] });
    await insertLicense(t.app.db, { orderId, expiresOn: addDays(T, 30), key: 'TWO-1' });
    await insertLicense(t.app.db, { orderId, expiresOn: addDays(T, 30), key: 'TWO-2' });
    await t.scan(T);
    const groupKey = (await ledger())[0]!.group_key;
    // One item per email, two attempts per row. Try 1: email 1 deferred. Try 2: email 1 sent,
    // email 2 deferred (a job-wide count of 2 would fail it now). Try 3: email 2 sent.
    smtp.forceReply('two@example.com', { code: 451, message: '451 try later', times: 1 });
    const deps = { db: t.app.db, mailer: t.app.mailer(), renderer: t.app.renderer(), config: { ...t.config, maxItemsPerEmail: 1, sendAttempts: 2 }, logger: t.app.logger };
    const outcomes: string[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      // On the second try the first email goes through and the second is deferred.
      if (attempt === 2) smtp.beforeNextReply(() => smtp.forceReply('two@example.com', { code: 451, message: '451 try later', times: 1 }));
      outcomes.push(
        await runSendJob(deps, { groupKey, ledgerIds: [] }, { attempt, actor: 'test' }).then(
          (r) => `sent ${r.sent.length}`,
          (error: Error) => error.name,
        ),
      );
    }
    expect(outcomes).toEqual(['TransientSendError', 'TransientSendError', 'sent 1']);
    expect((await ledger()).map((r) => [r.status, r.attempts])).toEqual([
      ['sent', 2],
      ['sent', 2],
    ]);
    expect(smtp.received).toHaveLength(2);
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
