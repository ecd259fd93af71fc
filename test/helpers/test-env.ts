import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { sendReminderJob } from '../../jobs/send-reminder';
import { type App, createApp } from '../../src/app';
import { type Config, loadConfig } from '../../src/config';
import { migrateToLatest } from '../../src/db/migrate';
import { createLogger } from '../../src/logger';
import { waitUntilDrained } from '../../src/queue/drain';
import { deleteQueueKeys } from '../../src/queue/queue-keys';
import { startWorker } from '../../src/queue/workers';
import { sendBackoff } from '../../src/daemon';
import { runScan, type ScanSummary } from '../../src/scan/run-scan';
import { checkFolder } from '../../src/templates-store/check-files';
import { publishVersions } from '../../src/templates-store/store';

const ADMIN_URL = process.env.TEST_ADMIN_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface TestEnv {
  app: App;
  config: Config;
  /** The variables a child process needs to share this database and queue prefix. */
  env: Record<string, string>;
  /** Empties the portal tables, the ledger and the queues: each test starts from nothing. */
  reset(): Promise<void>;
  /** The scan for one business date, in process. */
  scan(date: string): Promise<ScanSummary>;
  /** Runs an in-process send worker until the send queue is empty. */
  drain(): Promise<void>;
  cleanup(): Promise<void>;
}

/**
 * A database and a queue prefix of the test file's own, migrated, removed by `cleanup()`;
 * files can then run in parallel against one PostgreSQL and one Redis.
 */
export async function createTestEnv(name: string, overrides: Record<string, string> = {}): Promise<TestEnv> {
  const suffix = randomBytes(4).toString('hex');
  const dbName = `rt_${name.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${suffix}`;
  await adminQuery(`create database ${dbName}`);
  const databaseUrl = new URL(ADMIN_URL);
  databaseUrl.pathname = `/${dbName}`;
  const env: Record<string, string> = {
    DATABASE_URL: databaseUrl.toString(),
    REDIS_URL,
    QUEUE_PREFIX: `test-${name}-${suffix}`,
    LOG_LEVEL: 'silent',
    TEMPLATES_DIR: path.resolve(__dirname, '../../templates'),
    OUTBOX_DIR: path.join(require('node:os').tmpdir(), `outbox-${dbName}`),
    SEND_BACKOFF_MS: '50',
    // One process per `reminders work` unless a test asks for more: tests start enough processes.
    WORKER_PROCESSES: '1',
    UNSUBSCRIBE_SECRET: 'test-unsubscribe-secret',
    ...overrides,
  };
  let built: { config: Config; app: App } | undefined;
  try {
    const config = loadConfig(env);
    built = { config, app: createApp(config, { logger: createLogger('silent') }) };
    await migrateToLatest(built.app.db);
    // As the first `reminders migrate` does: workers send published versions only.
    await publishTemplates(built.app, config);
  } catch (error) {
    // Leave nothing behind when the environment cannot be built.
    await built?.app.close();
    await adminQuery(`drop database if exists ${dbName} with (force)`);
    throw error;
  }
  const { config, app } = built;
  return {
    app,
    config,
    env,
    async reset() {
      // The published templates stay: they are the installation's, not a test's.
      await sql`truncate reminder_events, reminder_ledger, license_renewals, scan_runs, license_holds, suppressed_addresses, licenses, order_contacts, orders cascade`.execute(
        app.db,
      );
      await app.sendQueue().obliterate({ force: true });
      await app.scanQueue().obliterate({ force: true });
    },
    scan: (date) => runScan({ db: app.db, sendQueue: app.sendQueue(), config, logger: app.logger }, date),
    async drain() {
      const worker = startWorker(app, sendReminderJob, { concurrency: 4, limiter: { max: 1000, duration: 1000 }, backoff: sendBackoff(config) });
      try {
        await waitUntilDrained(app.sendQueue(), 50);
      } finally {
        await worker.close();
      }
    },
    async cleanup() {
      await app.close();
      await deleteQueueKeys(REDIS_URL, config.queuePrefix);
      await adminQuery(`drop database if exists ${dbName} with (force)`);
    },
  };
}

/**
 * Publishes the templates folder as the first `migrate` does. Checking the 28 variants costs MJML
 * seconds, so the check of one folder (and offsets) is kept in a file and shared by the test files
 * (and runs) that use the same one.
 */
async function publishTemplates(app: App, config: Config): Promise<void> {
  const hash = createHash('sha256');
  for (const file of readdirSync(config.templatesDir, { recursive: true, withFileTypes: true })) {
    if (!file.isFile()) continue;
    const absolute = path.join(file.parentPath, file.name);
    hash.update(absolute).update(readFileSync(absolute));
  }
  // A version's content is the files' MJML output, whatever the links or time zone: the offsets
  // alone decide which variants there are.
  hash.update(JSON.stringify(config.offsets));
  const cache = path.join(os.tmpdir(), `reminders-test-published-${hash.digest('hex').slice(0, 16)}.json`);
  let variants: Awaited<ReturnType<typeof checkFolder>>['variants'];
  if (existsSync(cache)) {
    variants = JSON.parse(readFileSync(cache, 'utf8')) as typeof variants;
  } else {
    const check = await checkFolder(config.templatesDir, config);
    if (check.problems.length > 0) return; // a test of broken templates: nothing is published, as with migrate
    variants = check.variants;
    writeFileSync(`${cache}.${process.pid}`, JSON.stringify(variants));
    renameSync(`${cache}.${process.pid}`, cache);
  }
  await publishVersions(
    app.db,
    variants.map((v) => ({ ref: v.ref, arm: 'A' as const, content: v.content })),
    { actor: 'migrate', message: 'the shipped templates', source: 'migrate', action: 'publish' },
  );
}

async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** Polls `check` until it returns a value that is not undefined/false, or fails at the deadline. */
export async function waitFor<T>(check: () => Promise<T | undefined | false> | T | undefined | false, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
