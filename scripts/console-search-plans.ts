/**
 * How the console's reminder search and pages perform on a large ledger: runs each search the
 * Reminders page makes (and the Today and Activity reads) against DATABASE_URL, prints the median
 * time of three runs and the plan PostgreSQL chose (EXPLAIN ANALYZE). Reads only.
 *
 *   DATABASE_URL=postgres://…/big npx tsx scripts/console-search-plans.ts
 *
 * docs/operations.md gives the figures from a generated ledger of 10 million rows.
 */
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { type SearchFilter, searchReminders } from '../src/console/data';
import { addDays } from '../src/dates';
import type { Database } from '../src/db/types';

pg.types.setTypeParser(pg.types.builtins.DATE, (value: string) => value);
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => value);

async function main(): Promise<void> {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('set DATABASE_URL to the database to measure');
  const captured: Array<{ sql: string; parameters: readonly unknown[] }> = [];
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({ pool }),
    log: (event) => {
      if (event.level === 'query' && /^select/i.test(event.query.sql)) captured.push({ sql: event.query.sql, parameters: event.query.parameters });
    },
  });
  const { n } = await db.selectFrom('reminder_ledger').select(sql<string>`count(*)`.as('n')).executeTakeFirstOrThrow();
  const sample = await db.selectFrom('reminder_ledger').select(['license_key', 'order_number', 'recipient', 'id', 'scan_date']).where('id', '=', sql<string>`(select max(id) / 2 from reminder_ledger)`).executeTakeFirstOrThrow();
  const customer = await db.selectFrom('orders').select('customer_name').where('order_number', '=', sample.order_number).executeTakeFirstOrThrow();
  console.log(`ledger rows: ${n}`);

  const cases: Array<[string, SearchFilter]> = [
    ['license key', { q: sample.license_key }],
    ['order number', { q: sample.order_number }],
    ['address', { q: sample.recipient }],
    ['customer name (prefix)', { q: customer.customer_name.slice(0, -2) }],
    ['status failed, first page', { status: 'failed' }],
    ['status failed, a page half-way down', { status: 'failed', before: `${sample.scan_date}_${sample.id}` }],
    ['everything, first page', {}],
    ['kind + offset + 30 days of scan dates', { kind: 'maintenance', offset: 30, from: addDays(sample.scan_date, -29), to: sample.scan_date }],
    ['kind + offset, one scan date with no match', { kind: 'maintenance', offset: 30, from: sample.scan_date, to: sample.scan_date }],
    ['kind + offset, no date (slowest form)', { kind: 'maintenance', offset: 7 }],
    ['failed + license key', { q: sample.license_key, status: 'failed' }],
  ];
  for (const [name, filter] of cases) {
    const times: number[] = [];
    let rows = 0;
    for (let i = 0; i < 3; i++) {
      captured.length = 0;
      const started = performance.now();
      rows = (await searchReminders(db, filter)).rows.length;
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    console.log(`\n## ${name}: ${rows} row(s), median ${times[1]?.toFixed(1)} ms (${JSON.stringify(filter)})`);
    const last = captured[captured.length - 1];
    if (!last) continue;
    const plan = await sql.raw(`explain (analyze, costs off, timing off, summary on) ${inline(last.sql, last.parameters)}`).execute(db);
    for (const row of plan.rows as Array<{ 'QUERY PLAN': string }>) console.log(`    ${row['QUERY PLAN']}`);
  }
  await db.destroy();
}

/** The statement with its parameters written in (numbers as numbers, the rest as quoted text), for EXPLAIN. */
function inline(text: string, parameters: readonly unknown[]): string {
  return text.replace(/\$(\d+)/g, (_, i: string) => {
    const value = parameters[Number(i) - 1];
    return typeof value === 'number' ? String(value) : `'${String(value).replace(/'/g, "''")}'`;
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
