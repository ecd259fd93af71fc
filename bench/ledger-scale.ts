/**
 * `npx tsx bench/ledger-scale.ts [--sizes 100000,10000000]`: the hot queries of the ledger (the
 * scan's statement, the claim's selection, `reminders failed`, `reminders history`) timed with a
 * small and a large ledger, with their plans: their cost must follow the rows they touch, not the
 * rows the ledger keeps. Own database on the configured server, removed after. The large size
 * takes a while to seed (10M rows and their events: ~15 minutes on 2 shared cores).
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import { createApp } from '../src/app';
import { loadConfig, rawEnvironment } from '../src/config';
import { migrateToLatest } from '../src/db/migrate';
import type { Database } from '../src/db/types';
import { createLogger } from '../src/logger';
import { ledgerHistory } from '../src/ops/history';
import { listUndelivered } from '../src/ops/undelivered';
import { plannedRowsQuery, planScanInDatabase } from '../src/scan/due-sql';
import { figure, printTable, show } from './figures';

const { values: args } = parseArgs({ options: { sizes: { type: 'string', default: '100000,10000000' }, runs: { type: 'string', default: '5' }, due: { type: 'string', default: '2000' } } });
const sizes = (args.sizes ?? '').split(',').map(Number);
const runs = Number(args.runs);
const due = Number(args.due);
const T = '2030-01-01';
const log = (message: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${message}`);

/** Ledger rows ids from..to: four years of series (2026–2029, before T), mostly sent or skipped. */
async function seedLedger(db: Kysely<Database>, from: number, to: number): Promise<void> {
  for (let start = from; start <= to; start += 500_000) {
    const end = Math.min(to, start + 499_999);
    await sql`
      insert into reminder_ledger (kind, license_id, license_key, order_id, order_number, expires_on, offset_days, recipient,
        scan_date, group_key, status, reason, attempts, updated_at, created_at)
      select case when g % 2 = 0 then 'license' else 'maintenance' end, 1000000 + g / 6, 'K-' || (1000000 + g / 6), g / 6, 'O-' || (g / 6),
        date '2026-01-01' + ((g / 6) % 1400)::int, (array[90, 60, 30, 14, 7, 0])[1 + g % 6], 'r' || (g / 6) % 200000 || '@example.com',
        date '2026-01-01' + ((g / 6) % 1400)::int - (array[90, 60, 30, 14, 7, 0])[1 + g % 6],
        'send.license.' || (array[90, 60, 30, 14, 7, 0])[1 + g % 6] || '.' || g,
        case when g % 100 < 80 then 'sent' when g % 100 < 95 then 'skipped' when g % 100 < 98 then 'failed' else 'unknown' end,
        case when g % 100 >= 80 then 'bench' end, 1,
        timestamptz '2026-01-01' + (g / 6 % 1400) * interval '1 day', timestamptz '2026-01-01' + (g / 6 % 1400) * interval '1 day'
      from generate_series(${start}::bigint, ${end}::bigint) g`.execute(db);
    await sql`
      insert into reminder_events (ledger_id, event, status, actor, at)
      select id, 'queued', 'pending', 'scan', created_at from reminder_ledger where id between ${start}::bigint and ${end}::bigint`.execute(db);
    log(`  ledger rows up to ${end.toLocaleString('en-US')}`);
  }
  // Years-old rows are all-visible, as autovacuum leaves them: counts can come from an index alone.
  await sql`vacuum analyze reminder_ledger`.execute(db);
  await sql`analyze`.execute(db);
}

async function time(fn: () => Promise<unknown>): Promise<{ ms: number; result: unknown }> {
  const started = performance.now();
  const result = await fn();
  return { ms: performance.now() - started, result };
}

async function explain(db: Kysely<Database>, query: ReturnType<typeof sql>): Promise<string> {
  return db.transaction().execute(async (trx) => {
    await sql`set local jit = off`.execute(trx);
    await sql`set local enable_seqscan = off`.execute(trx);
    const { rows } = await sql<{ 'QUERY PLAN': string }>`explain (analyze, buffers, costs off) ${query}`.execute(trx);
    return rows.map((r) => r['QUERY PLAN']).join('\n');
  });
}

async function main(): Promise<void> {
  const env = rawEnvironment();
  const base = loadConfig(env);
  const dbName = `reminders_ledger_${randomBytes(3).toString('hex')}`;
  const url = new URL(base.databaseUrl);
  const admin = new URL(url);
  admin.pathname = '/postgres';
  url.pathname = `/${dbName}`;
  const adminQuery = async (text: string) => {
    const client = new pg.Client({ connectionString: admin.toString() });
    await client.connect();
    await client.query(text).finally(() => client.end());
  };
  await adminQuery(`create database ${dbName}`);
  const config = loadConfig({ ...env, DATABASE_URL: url.toString(), QUEUE_PREFIX: `bench-${dbName}` });
  const app = createApp(config, { logger: createLogger('silent') });
  const rows: Array<[string, string, string?]> = [];
  const plans: string[] = [];
  try {
    await migrateToLatest(app.db);
    const db = app.db;
    // The due licenses of the scan: `due` of them, one contact each, expiring on T + 30.
    await sql`insert into orders (id, order_number, customer_name) select g, 'B-' || g, 'C ' || g from generate_series(1, ${due}::bigint) g`.execute(db);
    await sql`insert into order_contacts (order_id, email) select g, 'c' || g || '@example.com' from generate_series(1, ${due}::bigint) g`.execute(db);
    await sql`insert into licenses (id, order_id, license_key, product, license_type, expires_on) select g, g, 'K-' || g, 'P', 'annual', date '2030-01-31' from generate_series(1, ${due}::bigint) g`.execute(db);
    // One pending group for the claim, the kind of group a scan leaves.
    let seeded = 0;
    for (const size of sizes) {
      log(`seeding the ledger to ${size.toLocaleString('en-US')} rows`);
      await seedLedger(db, seeded + 1, size);
      seeded = size;
      await sql`delete from reminder_ledger where group_key = 'bench-claim'`.execute(db);
      await sql`
        insert into reminder_ledger (kind, license_id, license_key, order_id, order_number, expires_on, offset_days, recipient, scan_date, group_key, status)
        select 'license', g, 'K-' || g, g, 'B-' || g, date '2030-01-31', 30, 'claim@example.com', ${T}::date, 'bench-claim', 'pending'
        from generate_series(1, 10) g`.execute(db);
      await sql`analyze reminder_ledger`.execute(db);
      const label = `${(size / 1e6 >= 1 ? `${size / 1e6}M` : `${size / 1e3}k`)}`;
      const claimQuery = sql`select * from reminder_ledger where group_key = 'bench-claim' and status = 'pending'
        and (claim_token is null or claimed_at is null or claimed_at < now() - interval '5 minutes') order by id limit 50 for update skip locked`;
      const measures: Array<[string, () => Promise<unknown>, number, ReturnType<typeof sql>]> = [
        [`scan plan, ${due} due (ms per due)`, () => planScanInDatabase(db, config, T), due, plannedRowsQuery(config, T)],
        ['claim selection, 10 rows (ms per row)', () => claimQuery.execute(db), 10, claimQuery],
        [
          'failed, 100 most recent (ms per row)',
          () => listUndelivered(db, { statuses: ['failed', 'unknown'], limit: 100 }),
          100,
          sql`select id from reminder_ledger where status in ('failed','unknown') order by updated_at desc, id desc limit 100`,
        ],
        [
          'failed, the total it prints (ms per 1,000 undelivered rows)',
          () => sql`select count(*) from reminder_ledger where status in ('failed','unknown')`.execute(db),
          Math.round(size * 0.05) / 1000,
          sql`select count(*) from reminder_ledger where status in ('failed','unknown')`,
        ],
        ['history of one license key (ms per row)', () => ledgerHistory(db, { licenseKey: 'K-1000500' }), 6, sql`select * from reminder_ledger where license_key = 'K-1000500'`],
      ];
      for (const [name, fn, items, query] of measures) {
        await fn();
        const times: number[] = [];
        for (let i = 0; i < runs; i++) times.push((await time(fn)).ms / items);
        rows.push([`${name}, ${label} ledger`, show(figure(times), 3)]);
        plans.push(`-- ${name}, ${label} ledger\n${await explain(db, query)}`);
      }
    }
  } finally {
    await app.close();
    await adminQuery(`drop database if exists ${dbName} with (force)`);
  }
  console.log(`\nmedians (min–max) of ${runs} runs, after one warm-up\n`);
  printTable(rows);
  console.log(`\n${plans.join('\n\n')}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
