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
import { loadConfig, rawEnvironment, secretsOf } from '../src/config';
import { startSendWorker } from '../src/daemon';
import { pgConnectionString } from '../src/db/connection';
import { migrateToLatest } from '../src/db/migrate';
import { publishShippedIfNone } from '../src/templates-store/publish-shipped';
import { type DemoDataSummary, loadDemoData, renewLicense } from '../src/demo/demo-data';
import { createLogger } from '../src/logger';
import { waitUntilDrained } from '../src/queue/drain';
import { addDays, businessDate } from '../src/dates';
import { runScan } from '../src/scan/run-scan';
import { checkRedis, checkSmtp, postgresUnavailable } from '../src/service-checks';
import { deleteQueueKeys } from '../src/queue/queue-keys';
import { annotateOutbox, type CaptureNote } from '../src/send/capture-mailer';

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
  const app = createApp(config, { logger: createLogger(config.logLevel, { secrets: secretsOf(config), format: config.logFormat }) });
  try {
    await checkRedis(app.redis(), config.redisUrl);
    await checkSmtp(app.mailer(), config.smtpUrl);
    await deleteQueueKeys(config.redisUrl, config.queuePrefix);
    if (!config.smtpUrl) await rm(config.outboxDir, { recursive: true, force: true });
    await migrateToLatest(app.db);
    // As the first `reminders migrate` does: the workers send the published versions.
    const shipped = await publishShippedIfNone(app.db, config.templatesDir, config);
    if (shipped?.status === 'refused') throw new Error(`the templates of ${config.templatesDir} fail validation: run \`npm run cli -- templates validate\``);
    const today = businessDate(new Date(), config.timezone);
    const data = await loadDemoData(app.db, today);
    console.log(`Loaded ${data.orders} orders, ${data.contacts} contacts, ${data.licenses} licenses. Mail goes to ${app.mailer().description}.`);
    console.log(
      `Left out of every scan by design (no ledger row, so never "skipped"): ${data.unsubscribedContacts} unsubscribed contact(s), ${data.cancelledLicenses} cancelled license(s).`,
    );
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
    await printSummary(app.db, seconds, data);
    if (!config.smtpUrl) await annotateOutbox(config.outboxDir, await outboxNotes(app.db));
    console.log(
      config.smtpUrl
        ? `\nThe emails went to ${app.mailer().description}.`
        : `\nOpen ${path.join(config.outboxDir, 'index.html')} in a browser to read every email by simulated day (each also as .eml).`,
    );
    console.log(await tryNext(app.db, demoUrl, config.queuePrefix, addDays(today, DAYS)));
  } finally {
    await app.close();
  }
}

async function resetDatabase(url: URL, dbName: string): Promise<void> {
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: pgConnectionString(admin.toString()) });
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

type Db = ReturnType<typeof createApp>['db'];

/** Single quotes for a shell, where the value needs them. */
const shellWord = (value: string) => (/^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`);

/**
 * Commands to try next that work as printed: pointed at the demo's database and queues, with an
 * address the demo really failed to reach and a forecast that starts after the simulated days.
 */
async function tryNext(db: Db, demoUrl: URL, queuePrefix: string, after: string): Promise<string> {
  const failed = await db.selectFrom('reminder_ledger').select('recipient').where('status', '=', 'failed').orderBy('id').executeTakeFirst();
  const cli = 'npm run --silent cli --';
  return [
    '\nTry next, against the demo\'s database and queues (the default DATABASE_URL is another database):',
    `  export DATABASE_URL=${shellWord(demoUrl.toString())} QUEUE_PREFIX=${shellWord(queuePrefix)}`,
    `  ${cli} failed                       # what was not delivered, and why`,
    failed ? `  ${cli} history --recipient ${shellWord(failed.recipient)}   # every reminder and event of one address` : null,
    `  ${cli} forecast --from ${after} --days 30   # what the next 30 days would send`,
    `  ${cli} templates preview            # every email template at http://127.0.0.1:4000`,
  ]
    .filter((line) => line !== null)
    .join('\n');
}

/** Day, kind and reminder of every sent email, by Message-ID, for the outbox index. */
async function outboxNotes(db: Db): Promise<Map<string, CaptureNote>> {
  const rows = await db
    .selectFrom('reminder_ledger')
    .select(['message_id', 'scan_date', 'kind', 'offset_days', 'expires_on'])
    .where('status', '=', 'sent')
    .where('message_id', 'is not', null)
    .execute();
  const notes = new Map<string, CaptureNote>();
  for (const row of rows) {
    const expired = row.offset_days === 0 && row.expires_on < row.scan_date;
    const reminder = expired ? 'expired (sent late)' : row.offset_days === 0 ? 'expiry day' : `${row.offset_days} days`;
    notes.set(row.message_id as string, { day: row.scan_date, kind: row.kind === 'license' ? 'annual license' : 'maintenance', reminder });
  }
  return notes;
}

async function printSummary(db: Db, seconds: string, data: DemoDataSummary): Promise<void> {
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
  const late = await db
    .selectFrom('reminder_ledger')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('status', '=', 'sent')
    .where('offset_days', '=', 0)
    .whereRef('expires_on', '<', 'scan_date')
    .executeTakeFirstOrThrow();
  console.log(
    `\nAlso: ${late.n} "has expired" email(s) (an expiry-day reminder caught up after the expiry date); ` +
      `${data.unsubscribedContacts} unsubscribed contact(s) and ${data.cancelledLicenses} cancelled license(s) got nothing, as designed (no ledger row).`,
  );
}

main().catch((error: unknown) => {
  console.error(`demo: ${describeError(error) ?? (error instanceof Error ? (error.stack ?? error.message) : String(error))}`);
  process.exitCode = 1;
});
