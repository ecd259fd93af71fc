/**
 * `npm run demo`: a newcomer's first look. Creates (or resets) its own database, migrates,
 * loads demo data, runs the daily scan for 45 simulated days with a worker sending to the local
 * capture (or to SMTP_URL if set), and prints what went out and where to look at it.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { createApp } from '../src/app';
import { describeError } from '../src/cli/describe-error';
import { formatTable } from '../src/cli/table';
import { loadConfig, rawEnvironment } from '../src/config';
import { startSendWorker } from '../src/daemon';
import { migrateToLatest } from '../src/db/migrate';
import { loadDemoData, renewLicense } from '../src/demo/demo-data';
import { createLogger } from '../src/logger';
import { waitUntilDrained } from '../src/queue/drain';
import { addDays, businessDate } from '../src/dates';
import { runScan } from '../src/scan/run-scan';
import { checkRedis, checkSmtp, postgresUnavailable } from '../src/service-checks';
import { deleteQueueKeys } from '../src/queue/queue-keys';

const DAYS = 45;

async function main(): Promise<void> {
  const env = rawEnvironment();
  const base = loadConfig(env);
  // The demo keeps to a database and queue prefix of its own, so it never touches real data.
  const demoUrl = new URL(env.DEMO_DATABASE_URL ?? base.databaseUrl);
  if (!env.DEMO_DATABASE_URL) demoUrl.pathname = '/reminders_demo';
  const config = loadConfig({
    ...env,
    DATABASE_URL: demoUrl.toString(),
    QUEUE_PREFIX: env.DEMO_QUEUE_PREFIX ?? 'reminders-demo',
    SEND_RATE_PER_SEC: env.SEND_RATE_PER_SEC ?? '200',
    SEND_BACKOFF_MS: env.SEND_BACKOFF_MS ?? '200',
    LOG_LEVEL: env.LOG_LEVEL ?? 'error',
  });
  const dbName = demoUrl.pathname.slice(1);
  console.log(`Database ${dbName} on ${demoUrl.host} (reset for the demo), queues under "${config.queuePrefix}".`);
  await resetDatabase(demoUrl, dbName);
  const app = createApp(config, { logger: createLogger(config.logLevel) });
  try {
    await checkRedis(app.redis(), config.redisUrl);
    await checkSmtp(app.mailer(), config.smtpUrl);
    await deleteQueueKeys(config.redisUrl, config.queuePrefix);
    if (!config.smtpUrl) await rm(config.outboxDir, { recursive: true, force: true });
    await migrateToLatest(app.db);
    const today = businessDate(new Date(), config.timezone);
    const data = await loadDemoData(app.db, today);
    console.log(`Loaded ${data.orders} orders, ${data.contacts} contacts, ${data.licenses} licenses. Mail goes to ${app.mailer().description}.`);
    startSendWorker(app);
    const started = performance.now();
    for (let i = 0; i < DAYS; i++) {
      const day = addDays(today, i);
      if (i === 10) {
        for (const id of data.renewLater) await renewLicense(app.db, id);
        console.log(`${day}: ${data.renewLater.length} license(s) renewed in the portal: their old series stops, a new one starts.`);
      }
      const summary = await runScan({ db: app.db, sendQueue: app.sendQueue(), config, logger: app.logger }, day);
      await waitUntilDrained(app.sendQueue(), 50);
      if (summary.queued + summary.skipped > 0) {
        console.log(`${day}: scan queued ${summary.queued}, skipped ${summary.skipped}${summary.caughtUp ? `, ${summary.caughtUp} caught up late` : ''}`);
      }
    }
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    await printSummary(app.db, seconds);
    console.log(
      config.smtpUrl
        ? `\nThe emails went to ${app.mailer().description}.`
        : `\nOpen ${path.join(config.outboxDir, 'index.html')} in a browser to read every email (each also as .eml).`,
    );
    console.log('Try next: `npm run --silent cli -- failed`, `… history --recipient <address>`, `… forecast --days 30`.');
  } finally {
    await app.close();
  }
}

async function resetDatabase(url: URL, dbName: string): Promise<void> {
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect().catch((error: unknown) => {
    throw postgresUnavailable(url.toString(), error);
  });
  try {
    await client.query(`drop database if exists "${dbName}" with (force)`);
    await client.query(`create database "${dbName}"`);
  } finally {
    await client.end();
  }
}

async function printSummary(db: ReturnType<typeof createApp>['db'], seconds: string): Promise<void> {
  const rows = await db
    .selectFrom('reminder_ledger')
    .select(['kind', 'offset_days', 'status', (eb) => eb.fn.countAll<string>().as('n'), (eb) => eb.fn.count<string>('group_key').distinct().as('emails')])
    .groupBy(['kind', 'offset_days', 'status'])
    .orderBy('kind')
    .orderBy('offset_days', 'desc')
    .orderBy('status')
    .execute();
  console.log(`\nLedger after ${DAYS} simulated days (${seconds} s):`);
  console.log(formatTable(['kind', 'offset', 'status', 'reminders', 'emails'], rows.map((r) => [r.kind, r.offset_days, r.status, r.n, r.status === 'sent' ? r.emails : ''])));
  const reasons = await db
    .selectFrom('reminder_ledger')
    .select(['status', 'reason', (eb) => eb.fn.countAll<string>().as('n')])
    .where('status', 'in', ['skipped', 'failed', 'unknown'])
    .groupBy(['status', 'reason'])
    .orderBy('status')
    .execute();
  if (reasons.length > 0) {
    console.log('\nNot sent, and why:');
    console.log(formatTable(['status', 'reminders', 'reason'], reasons.map((r) => [r.status, r.n, r.reason])));
  }
}

main().catch((error: unknown) => {
  console.error(`demo: ${describeError(error) ?? (error instanceof Error ? (error.stack ?? error.message) : String(error))}`);
  process.exitCode = 1;
});
