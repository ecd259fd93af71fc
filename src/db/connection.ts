import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './types';

// Calendar dates stay `YYYY-MM-DD` strings: the default parser makes local-midnight Dates that shift days.
pg.types.setTypeParser(pg.types.builtins.DATE, (value: string) => value);
// bigint ids stay exact strings.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => value);

/** Opens a pooled Kysely connection; `destroy()` it when done. */
export function createDb(databaseUrl: string, maxConnections = 10): Kysely<Database> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: maxConnections });
  // An idle client losing its server must not crash the process; the next query reports it.
  pool.on('error', () => undefined);
  // Nor may a checked-out one: pg.Pool listens only while a client is idle, and a backend
  // terminated mid-transaction (restart, failover, pg_terminate_backend) emits 'error' on the
  // client. The query in flight fails on its own and the pool discards the client.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}
