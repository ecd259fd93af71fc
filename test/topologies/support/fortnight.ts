import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Queue } from 'bullmq';
import { sql } from 'kysely';
import pg from 'pg';
import { DAILY_SCAN_JOB } from '../../../src/scan/scan-job-payload';
import { loadConfig } from '../../../src/config';
import { createDb } from '../../../src/db/connection';
import { deleteQueueKeys } from '../../../src/queue/queue-keys';
import { createQueue, createRedis, SCAN_QUEUE } from '../../../src/queue/queues';
import { addDays } from '../../../src/dates';
import { exited, spawnCli } from '../../helpers/cli';
import { insertLicense, insertOrder } from '../../helpers/fixtures';
import { until } from '../../helpers/servers';
import { startSmtpServer } from '../../helpers/smtp';

/** Where the product runs for one run, and what goes wrong in the middle of it. */
export interface Topology {
  name: string;
  /** Admin URL of the PostgreSQL server that holds the run's database (direct, never pooled). */
  adminUrl: string;
  /** The DATABASE_URL the product gets for the run's direct URL (e.g. through PgBouncer). */
  productDatabaseUrl?: (directUrl: string) => string;
  redisUrl: string;
  fault?: {
    /** Breaks something while sends are under way; resolves with what it did, once it is done. */
    inject(run: { queuePrefix: string }): Promise<string>;
    /** Which service to probe, with the product's own client settings, to time the recovery. */
    probe: 'redis' | 'postgres';
  };
}

/** What a run ended with, counted per ledger row at the SMTP server (X-Reminder-Ids). */
export interface FortnightReport {
  topology: string;
  due: number;
  delivered: number;
  unknown: number;
  duplicates: number;
  lost: number;
  failed: number;
  fault: string;
  /** From the fault until the service answered the product's client again. */
  serviceBackMs: number | null;
  /** From the fault until the next email arrived after that. */
  sendsResumedMs: number | null;
  /** Scan jobs added again because Redis refused them or lost them in the failover. */
  scanResubmissions: number;
  /** Unknown rows without a reason (must be none). */
  unknownWithoutReason: number;
  /** Advisory locks still held once both `migrate` processes had exited (must be none). */
  migrationLocksLeft: number;
  processExits: Array<number | string>;
  /** Exit codes of the `work --drain` runs started just before the fault: a failover must not end them in error. */
  drainExits: Array<number | string>;
}

export const FIRST_DAY = '2027-09-06';
const DAYS = 14;
const FAULT_DAY = 7;

async function adminQuery(adminUrl: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** Reminders on every day of the fortnight, and a burst on the fault day so that the fault lands mid-drain. */
async function seed(db: ReturnType<typeof createDb>): Promise<void> {
  const offsets = [90, 60, 30, 14, 7, 0];
  for (let i = 0; i < 56; i++) {
    const contacts = [{ email: `spread${i}@example.com` }, ...(i % 7 === 0 ? [{ email: i % 2 ? 'Shared@Example.com' : 'shared@example.com' }] : [])];
    const { orderId } = await insertOrder(db, { contacts });
    const expiry = addDays(FIRST_DAY, (i % DAYS) + (offsets[i % offsets.length] as number));
    const lifetime = i % 4 === 3;
    await insertLicense(db, { orderId, type: lifetime ? 'lifetime' : 'annual', expiresOn: lifetime ? null : expiry, maintenanceExpiresOn: lifetime ? expiry : null });
  }
  for (let i = 0; i < 40; i++) {
    const { orderId } = await insertOrder(db, { contacts: [{ email: `burst${i}@example.com` }] });
    await insertLicense(db, { orderId, expiresOn: addDays(FIRST_DAY, FAULT_DAY + 30) });
  }
}

const elapsed = (since: number) => Date.now() - since;

/** Progress on stderr: a run takes a minute or more, and a stuck one should say where. */
const step = (topology: string, message: string) => process.stderr.write(`${new Date().toISOString().slice(11, 23)} [${topology}] ${message}\n`);

/**
 * A simulated fortnight on one topology: three `reminders work` processes and two schedulers
 * (`reminders start --no-worker`), each its own process; the test plays the clock by queueing
 * each day's scan twice (both schedulers scan every day). On the fault day the fault is injected
 * while the day's burst is being sent, and the run goes on. It ends when the ledger has nothing
 * pending or being sent.
 */
export async function runFortnight(topology: Topology): Promise<FortnightReport> {
  const suffix = randomBytes(3).toString('hex');
  const dbName = `rt_topo_${topology.name.replace(/\W/g, '_')}_${suffix}`;
  await adminQuery(topology.adminUrl, `create database ${dbName}`);
  const direct = new URL(topology.adminUrl);
  direct.pathname = `/${dbName}`;
  const directUrl = direct.toString();
  const smtp = await startSmtpServer();
  const env: Record<string, string> = {
    DATABASE_URL: topology.productDatabaseUrl ? topology.productDatabaseUrl(directUrl) : directUrl,
    REDIS_URL: topology.redisUrl,
    QUEUE_PREFIX: `topo-${topology.name.replace(/\W/g, '-')}-${suffix}`,
    SMTP_URL: smtp.url,
    LOG_LEVEL: 'info',
    TEMPLATES_DIR: path.resolve(__dirname, '../../../templates'),
    OUTBOX_DIR: path.join(tmpdir(), `outbox-${dbName}`),
    SEND_RATE_PER_SEC: '8',
    SEND_CONCURRENCY: '3',
    SEND_BACKOFF_MS: '200',
    SEND_ATTEMPTS: '8',
    UNSUBSCRIBE_SECRET: 'test-unsubscribe-secret',
    HTTP_PORT: '0',
    // Three `reminders work` processes, each one process (not one per core).
    WORKER_PROCESSES: '1',
  };
  const config = loadConfig(env);
  const db = createDb(directUrl, { reconnectMs: 60_000 });
  const producer = createRedis(config.redis, 'producer');
  let scanQueue: Queue | undefined;
  const processes: ReturnType<typeof spawnCli>[] = [];
  const drains: ReturnType<typeof spawnCli>[] = [];
  try {
    // Two hosts migrating at once: one applies, the other waits for the lock and finds nothing to do.
    step(topology.name, 'migrating from two processes at once');
    const migrations = [spawnCli(['migrate'], env), spawnCli(['migrate'], env)];
    const migrateExits = await Promise.all(migrations.map(exited));
    if (migrateExits.some((code) => code !== 0)) throw new Error(`migrate failed: ${migrations.map((m) => m.output()).join('\n')}`);
    // A migration lock left behind (a session lock stranded on a pooled server connection) would
    // make the next deploy's `migrate` wait: none may survive the migrations.
    const locks = await sql<{ n: string }>`select count(*) as n from pg_locks l join pg_database d on d.oid = l.database where l.locktype = 'advisory' and d.datname = ${dbName}`.execute(db);
    const migrationLocksLeft = Number(locks.rows[0]?.n);
    await seed(db);

    step(topology.name, 'starting three workers and two schedulers');
    for (let i = 0; i < 3; i++) processes.push(spawnCli(['work'], env));
    for (let i = 0; i < 2; i++) processes.push(spawnCli(['start', '--no-worker', '--no-http'], env));
    await until(() => processes.every((p) => /send worker started|daemon started/.test(p.output())), 'three workers and two schedulers to start', 120_000).catch(
      (error: Error) => {
        throw new Error(`${error.message}\n${processes.map((p) => p.output().slice(-1500)).join('\n---\n')}`);
      },
    );
    scanQueue = createQueue(SCAN_QUEUE, producer, config.queuePrefix);
    scanQueue.on('error', () => undefined);
    const queue = scanQueue;

    let scanResubmissions = 0;
    /** Queues the day's scan for both schedulers and waits until both ran it; re-adds a job Redis refused or lost. */
    const scanDay = async (date: string) => {
      const ids = [`sim.${date}.a`, `sim.${date}.b`];
      const add = (jobId: string) =>
        queue.add(DAILY_SCAN_JOB, { date }, { jobId, attempts: 10, backoff: { type: 'fixed', delay: 500 }, removeOnComplete: false, removeOnFail: false });
      const done = new Set<string>();
      let added = new Set<string>();
      await until(
        async () => {
          for (const jobId of ids) {
            if (done.has(jobId)) continue;
            try {
              const job = await queue.getJob(jobId);
              if (!job) {
                if (added.has(jobId)) scanResubmissions++;
                await add(jobId);
                added = new Set([...added, jobId]);
                continue;
              }
              const state = await job.getState();
              if (state === 'completed') done.add(jobId);
              else if (state === 'failed') {
                await job.remove();
                scanResubmissions++;
                await add(jobId);
              }
            } catch {
              // Redis is away (the producer connection fails fast): try again on the next poll.
            }
          }
          return done.size === ids.length;
        },
        `both scans of ${date}`,
        120_000,
      );
    };

    let fault = 'none';
    let recovery: Promise<{ back: number; resumed: number }> | undefined;
    for (let day = 0; day < DAYS; day++) {
      const date = addDays(FIRST_DAY, day);
      await scanDay(date);
      step(topology.name, `scanned ${date} twice; ${smtp.received.length} emails so far`);
      if (day === FAULT_DAY && topology.fault) {
        const before = smtp.received.length;
        await until(() => smtp.received.length >= before + 5, 'the burst to start arriving', 60_000);
        const open = await db.selectFrom('reminder_ledger').select(sql<string>`count(*)`.as('n')).where('status', 'in', ['pending', 'sending']).executeTakeFirstOrThrow();
        step(topology.name, `injecting the fault with ${open.n} reminders pending, two drains running`);
        // As a cron-driven deployment would: drains running through the fault must end cleanly.
        drains.push(spawnCli(['work', '--drain', '--max-wait', '600'], env), spawnCli(['work', '--drain', '--max-wait', '600'], env));
        const faultAt = Date.now();
        fault = `${await topology.fault.inject({ queuePrefix: config.queuePrefix })} with ${open.n} reminders pending`;
        recovery = timeRecovery(topology.fault.probe, faultAt);
      }
    }
    const recovered = await recovery;
    step(topology.name, recovered ? `recovered: service back after ${recovered.back} ms, sends resumed after ${recovered.resumed} ms` : 'no fault');

    // Done when nothing is pending or being sent. A send job lost with a failed-over master is
    // resubmitted by the next scan, as the daemon's periodic check would do in production.
    let lastOpen = -1;
    let quietSince = Date.now();
    await until(
      async () => {
        const open = Number(
          (await db.selectFrom('reminder_ledger').select(sql<string>`count(*)`.as('n')).where('status', 'in', ['pending', 'sending']).executeTakeFirstOrThrow()).n,
        );
        if (open !== lastOpen) {
          lastOpen = open;
          quietSince = Date.now();
        } else if (open > 0 && elapsed(quietSince) > 20_000) {
          quietSince = Date.now();
          scanResubmissions++;
          await queue.add(DAILY_SCAN_JOB, { date: addDays(FIRST_DAY, DAYS - 1) }, { jobId: `sim.rescan.${Date.now()}` }).catch(() => undefined);
        }
        return open === 0;
      },
      'every reminder of the fortnight to be sent or settled',
      180_000,
    );

    step(topology.name, `ledger settled; ${smtp.received.length} emails; stopping the processes`);
    for (const p of processes) p.kill('SIGTERM');
    const processExits = await Promise.all(processes.map(exited));
    const drainExits = await Promise.all(drains.map(exited));
    for (const [i, drain] of drains.entries()) if (drainExits[i] !== 0) step(topology.name, `drain ${i} exited ${drainExits[i]}:\n${drain.output().slice(-3000)}`);

    const rows = await db.selectFrom('reminder_ledger').select(['id', 'status', 'reason']).execute();
    const deliveries = new Map<string, number>();
    for (const mail of smtp.received) {
      for (const id of String(mail.parsed.headers.get('x-reminder-ids') ?? '').split(',')) deliveries.set(id, (deliveries.get(id) ?? 0) + 1);
    }
    const due = rows.filter((r) => r.status !== 'skipped');
    const count = (id: string) => deliveries.get(id) ?? 0;
    return {
      topology: topology.name,
      due: due.length,
      delivered: due.filter((r) => count(r.id) >= 1).length,
      unknown: due.filter((r) => r.status === 'unknown').length,
      duplicates: [...deliveries.values()].reduce((sum, n) => sum + Math.max(0, n - 1), 0),
      // Neither delivered nor visible as `unknown`; or marked sent without arriving.
      lost: due.filter((r) => (count(r.id) === 0 && r.status !== 'unknown') || (r.status === 'sent' && count(r.id) === 0)).length,
      failed: due.filter((r) => r.status === 'failed').length,
      fault,
      serviceBackMs: recovered ? recovered.back : null,
      sendsResumedMs: recovered ? recovered.resumed : null,
      scanResubmissions,
      unknownWithoutReason: due.filter((r) => r.status === 'unknown' && !r.reason).length,
      migrationLocksLeft,
      processExits,
      drainExits,
    };
  } catch (error) {
    // What the processes said is the best clue to a stuck run.
    step(topology.name, `failed: ${(error as Error).message}\n${processes.map((p, i) => `--- process ${i}\n${p.output().slice(-3000)}`).join('\n')}`);
    throw error;
  } finally {
    for (const p of [...processes, ...drains]) if (p.exitCode === null) p.kill('SIGKILL');
    await Promise.all([...processes, ...drains].map(exited));
    await scanQueue?.close().catch(() => undefined);
    producer.disconnect();
    await db.destroy().catch(() => undefined);
    await smtp.close();
    await deleteQueueKeys(topology.redisUrl, config.queuePrefix).catch(() => undefined);
    await adminQuery(topology.adminUrl, `drop database if exists ${dbName} with (force)`).catch(() => undefined);
  }

  /** Polls the broken service with the product's own client settings, then waits for the next email. */
  async function timeRecovery(probe: 'redis' | 'postgres', faultAt: number): Promise<{ back: number; resumed: number }> {
    if (probe === 'redis') {
      // A write under the queue prefix: on a cluster it lands in the queues' slot, on the new master.
      await until(async () => (await producer.set(`${config.queuePrefix}:probe`, String(Date.now()))) === 'OK', 'Redis to accept writes again', 120_000);
    } else {
      const probeDb = createDb(env.DATABASE_URL as string, { reconnectMs: 0, maxConnections: 1 });
      try {
        await until(async () => (await sql`select 1`.execute(probeDb), true), 'PostgreSQL to answer again', 120_000);
      } finally {
        await probeDb.destroy();
      }
    }
    const back = elapsed(faultAt);
    const received = smtp.received.length;
    await until(() => smtp.received.length > received, 'sends to resume', 120_000);
    return { back, resumed: elapsed(faultAt) };
  }
}

/** The table a run prints: one line per topology. */
export function formatReports(reports: FortnightReport[]): string {
  const seconds = (ms: number | null) => (ms === null ? 'n/a' : `${(ms / 1000).toFixed(1)} s`);
  const header = ['topology', 'due', 'delivered', 'unknown', 'duplicates', 'lost', 'service back', 'sends resumed', 'scan re-adds', 'fault'];
  const lines = reports.map((r) => [r.topology, r.due, r.delivered, r.unknown, r.duplicates, r.lost, seconds(r.serviceBackMs), seconds(r.sendsResumedMs), r.scanResubmissions, r.fault].map(String));
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] as string).length)));
  return [header, ...lines].map((cells) => cells.map((c, i) => c.padEnd(widths[i] as number)).join('  ')).join('\n');
}

/** The promise of every topology: each due reminder delivered once or visible as `unknown`, and clean exits. */
export function expectExactlyOnce(report: FortnightReport): void {
  process.stdout.write(`\n${formatReports([report])}\n\n`);
  expect(report.due).toBeGreaterThan(100);
  const { duplicates, lost, failed, unknownWithoutReason, migrationLocksLeft } = report;
  expect({ duplicates, lost, failed, unknownWithoutReason, migrationLocksLeft }).toEqual({
    duplicates: 0,
    lost: 0,
    failed: 0,
    unknownWithoutReason: 0,
    migrationLocksLeft: 0,
  });
  expect(report.processExits).toEqual([0, 0, 0, 0, 0]);
  expect(report.drainExits.every((code) => code === 0)).toBe(true);
  // Sends resume within 30 s of the service answering again (leases settle, retries are promoted).
  if (report.serviceBackMs !== null && report.sendsResumedMs !== null) expect(report.sendsResumedMs - report.serviceBackMs).toBeLessThanOrEqual(30_000);
}
