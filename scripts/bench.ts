/**
 * `npm run bench`: figures for the scan and the send path, medians of several runs.
 * - scan: the same number of due items in a small and a large licenses table, to show the
 *   scan's cost follows the due items, not the table;
 * - render: MJML compile (first render) vs a cached render per email;
 * - send: end-to-end worker throughput (claim, render, SMTP to a local server, record).
 * Uses its own database and queue prefix on the configured servers and removes them after.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import pg from 'pg';
import { SMTPServer } from 'smtp-server';
import { sendReminderJob } from '../jobs/send-reminder';
import { createApp } from '../src/app';
import { loadConfig, rawEnvironment } from '../src/config';
import { migrateToLatest } from '../src/db/migrate';
import { createLogger } from '../src/logger';
import { createRenderer } from '../src/render/renderer';
import { loadSampleData, sampleInput } from '../src/render/sample-data';
import { waitUntilDrained } from '../src/queue/drain';
import { startWorker } from '../src/queue/workers';
import { addDays } from '../src/dates';
import { runScan } from '../src/scan/run-scan';
import { deleteQueueKeys } from '../src/queue/queue-keys';

const RUNS = 5;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
const T = '2030-01-01';

async function main(): Promise<void> {
  const env = rawEnvironment();
  const base = loadConfig(env);
  const dbName = `reminders_bench_${randomBytes(3).toString('hex')}`;
  const url = new URL(base.databaseUrl);
  const admin = new URL(url);
  admin.pathname = '/postgres';
  url.pathname = `/${dbName}`;
  await adminQuery(admin, `create database ${dbName}`);
  const smtp = await startSink();
  const config = loadConfig({ ...env, DATABASE_URL: url.toString(), QUEUE_PREFIX: `bench-${dbName}`, SMTP_URL: smtp.url, SEND_RATE_PER_SEC: '10000', LOG_LEVEL: 'silent' });
  const app = createApp(config, { logger: createLogger('silent') });
  try {
    await migrateToLatest(app.db);
    console.log(`node ${process.version}, ${RUNS} runs each, medians\n`);
    await benchScan(app);
    await benchRender(config);
    await benchSend(app, smtp);
  } finally {
    await app.close();
    await smtp.close();
    await deleteQueueKeys(config.redisUrl, config.queuePrefix);
    await adminQuery(admin, `drop database if exists ${dbName} with (force)`);
  }
}

async function benchScan(app: ReturnType<typeof createApp>): Promise<void> {
  const scan = (date: string) => runScan({ db: app.db, sendQueue: app.sendQueue(), config: app.config, logger: app.logger }, date);
  const due = 500;
  console.log(`scan: ${due} due licenses (one contact each), ledger cleared between runs`);
  let total = 0;
  for (const size of [10_000, 200_000]) {
    await sql`truncate reminder_events, reminder_ledger, scan_runs, licenses, order_contacts, orders cascade`.execute(app.db);
    await sql`insert into orders (id, order_number, customer_name) select g, 'B-' || g, 'Bench ' || g from generate_series(1, ${size}) g`.execute(app.db);
    await sql`insert into order_contacts (order_id, email) select g, 'c' || g || '@example.com' from generate_series(1, ${size}) g`.execute(app.db);
    // Everything expires far from T except `due` licenses at T+30.
    await sql`insert into licenses (order_id, license_key, product, license_type, expires_on, maintenance_expires_on)
      select g, 'K' || g, 'P', case when g % 2 = 0 then 'annual' else 'lifetime' end,
        case when g <= ${due} then ${addDays(T, 30)}::date else ${addDays(T, 400)}::date + (g % 300) end,
        case when g <= ${due} then ${addDays(T, 30)}::date else ${addDays(T, 400)}::date + (g % 300) end
      from generate_series(1, ${size}) g`.execute(app.db);
    await sql`analyze`.execute(app.db);
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      await sql`truncate reminder_events, reminder_ledger, scan_runs cascade`.execute(app.db);
      await app.sendQueue().obliterate({ force: true });
      const started = performance.now();
      const summary = await scan(T);
      times.push(performance.now() - started);
      total = summary.queued;
    }
    const repeat: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const started = performance.now();
      await scan(T);
      repeat.push(performance.now() - started);
    }
    console.log(
      `  ${String(size).padStart(7)} licenses: first scan ${median(times).toFixed(0)} ms (${total} queued), repeated scan ${median(repeat).toFixed(0)} ms`,
    );
  }
  await sql`truncate reminder_events, reminder_ledger, scan_runs, licenses, order_contacts, orders cascade`.execute(app.db);
  console.log('');
}

async function benchRender(config: ReturnType<typeof loadConfig>): Promise<void> {
  const input = sampleInput(config, loadSampleData(config.templatesDir), { kind: 'license', offset: 30, locale: 'en' });
  const first: number[] = [];
  const cached: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const renderer = createRenderer(config, createLogger('silent'));
    let started = performance.now();
    await renderer.render(input);
    first.push(performance.now() - started);
    started = performance.now();
    for (let i = 0; i < 500; i++) await renderer.render({ ...input, contactName: `Name ${i}` });
    cached.push((performance.now() - started) / 500);
    await renderer.close();
  }
  console.log(`render: first (MJML compile) ${median(first).toFixed(1)} ms, cached ${median(cached).toFixed(2)} ms per email\n`);
}

async function benchSend(app: ReturnType<typeof createApp>, smtp: Awaited<ReturnType<typeof startSink>>): Promise<void> {
  const emails = 300;
  console.log(`send: ${emails} emails per run through one worker process (concurrency ${app.config.sendConcurrency}, pool ${app.config.smtpPoolSize}) to a local SMTP server`);
  await sql`insert into orders (id, order_number, customer_name) select g, 'S-' || g, 'Send ' || g from generate_series(1, ${emails}) g`.execute(app.db);
  await sql`insert into order_contacts (order_id, email, name) select g, 's' || g || '@example.com', 'Contact ' || g from generate_series(1, ${emails}) g`.execute(app.db);
  await sql`insert into licenses (order_id, license_key, product, license_type, expires_on)
    select g, 'S' || g, 'Dynamic Web TWAIN', 'annual', ${addDays(T, 30)}::date from generate_series(1, ${emails}) g`.execute(app.db);
  const rates: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    await sql`truncate reminder_events, reminder_ledger, scan_runs cascade`.execute(app.db);
    await app.sendQueue().obliterate({ force: true });
    await runScan({ db: app.db, sendQueue: app.sendQueue(), config: app.config, logger: app.logger }, T);
    smtp.count = 0;
    const started = performance.now();
    const worker = startWorker(app, sendReminderJob, { concurrency: app.config.sendConcurrency, limiter: { max: 10_000, duration: 1000 } });
    await waitUntilDrained(app.sendQueue(), 20);
    const seconds = (performance.now() - started) / 1000;
    await worker.close();
    if (smtp.count !== emails) throw new Error(`expected ${emails} emails, the server got ${smtp.count}`);
    rates.push(emails / seconds);
  }
  console.log(`  ${median(rates).toFixed(0)} emails/s (runs: ${rates.map((r) => r.toFixed(0)).join(', ')})`);
}

async function startSink() {
  const state = { count: 0 };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, _session, callback) {
      stream.resume();
      stream.on('end', () => {
        state.count += 1;
        callback();
      });
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return Object.assign(state, {
    url: `smtp://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

async function adminQuery(url: URL, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
