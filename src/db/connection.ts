import { Kysely, PostgresAdapter, PostgresDialect, type PostgresPool } from 'kysely';
import pg from 'pg';
import { isConnectionLoss } from './connection-errors';
import type { Database } from './types';

// Calendar dates stay `YYYY-MM-DD` strings: the default parser makes local-midnight Dates that shift days.
pg.types.setTypeParser(pg.types.builtins.DATE, (value: string) => value);
// bigint ids stay exact strings.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => value);

export interface DbOptions {
  maxConnections?: number;
  /**
   * Once the pool has reached PostgreSQL, a connection attempt that fails because the server is
   * restarting, failing over or briefly unreachable is retried with back-off for this long.
   * Before the first success nothing is retried: a wrong URL is reported at once.
   */
  reconnectMs?: number;
}

/**
 * The URL as node-postgres should read it. pg 8 treats `sslmode=prefer|require|verify-ca` as
 * `verify-full` (it verifies the certificate and the host name) and prints a ten-line warning
 * that this changes in pg 9. Naming the mode it applies keeps that behaviour, the safer one, and
 * the one-line errors free of the warning. `uselibpqcompat=true` (libpq's meanings) is left as is.
 */
export function pgConnectionString(databaseUrl: string): string {
  if (/[?&]uselibpqcompat=/i.test(databaseUrl)) return databaseUrl;
  return databaseUrl.replace(/([?&]sslmode=)(prefer|require|verify-ca)(?=&|#|$)/i, '$1verify-full');
}

/** Opens a pooled Kysely connection; `destroy()` it when done. */
export function createDb(databaseUrl: string, options: DbOptions = {}): Kysely<Database> {
  const pool = new pg.Pool({
    connectionString: pgConnectionString(databaseUrl),
    max: options.maxConnections ?? 10,
    // A host that vanished mid-failover drops packets rather than refusing: give up on it and retry.
    connectionTimeoutMillis: 15_000,
    keepAlive: true,
  });
  // An idle client losing its server must not crash the process; the next query reports it.
  pool.on('error', () => undefined);
  // Nor may a checked-out one: pg.Pool listens only while a client is idle, and a backend
  // terminated mid-transaction (restart, failover, pg_terminate_backend) emits 'error' on the
  // client. The query in flight fails on its own and the pool discards the client.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return new Kysely<Database>({ dialect: new ReconnectingPostgresDialect(pool, options.reconnectMs ?? 60_000) });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * A PostgreSQL dialect that waits for the server to come back (restart, switchover) before
 * failing a query that had not started, and whose migration lock survives PgBouncer's
 * transaction pooling.
 */
class ReconnectingPostgresDialect extends PostgresDialect {
  constructor(
    private readonly pgPool: pg.Pool,
    reconnectMs: number,
  ) {
    let reached = false;
    const retryingPool: PostgresPool = {
      // Only getting a connection is retried: no statement has been sent yet, so it cannot run twice.
      async connect() {
        const deadline = Date.now() + reconnectMs;
        for (let attempt = 0; ; attempt++) {
          try {
            const client = await pgPool.connect();
            reached = true;
            return client;
          } catch (error) {
            if (!reached || !isConnectionLoss(error) || Date.now() >= deadline) throw error;
            await sleep(Math.min(100 * 2 ** attempt, 2000, Math.max(deadline - Date.now(), 0)));
          }
        }
      },
      end: () => pgPool.end(),
    };
    super({ pool: retryingPool });
  }

  override createAdapter(): PostgresAdapter {
    return new TransactionLockAdapter(this.pgPool);
  }
}

const MIGRATION_LOCK_ID = 3853314791062309107n;

/**
 * Kysely's migrator takes a session-level advisory lock and releases it in a later statement.
 * Behind PgBouncer in transaction mode those two statements may reach different server
 * connections: the lock would stay held by an idle server connection and the next `migrate`
 * would wait for it. Holding a transaction-level lock in a transaction of its own keeps it on
 * one server connection for as long as the migrations run, with or without a pooler.
 */
class TransactionLockAdapter extends PostgresAdapter {
  private holder: pg.PoolClient | undefined;

  constructor(private readonly pgPool: pg.Pool) {
    super();
  }

  override async acquireMigrationLock(): Promise<void> {
    const client = await this.pgPool.connect();
    try {
      await client.query('begin');
      await client.query('select pg_advisory_xact_lock($1::bigint)', [MIGRATION_LOCK_ID.toString()]);
      this.holder = client;
    } catch (error) {
      client.release(error as Error);
      throw error;
    }
  }

  override async releaseMigrationLock(): Promise<void> {
    const client = this.holder;
    this.holder = undefined;
    if (!client) return;
    try {
      await client.query('commit');
      client.release();
    } catch (error) {
      client.release(error as Error);
    }
  }
}
