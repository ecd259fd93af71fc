import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import type { Database, LedgerStatus } from '../../src/db/types';

const ADMIN_URL = process.env.TEST_ADMIN_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * Database faults of the test's own making, against the real PostgreSQL: a trigger that makes
 * the chosen ledger UPDATE fail (a number of times, or always), and the termination of every
 * backend connected to the test's database, as a restart or failover would.
 */
export interface DbFaults {
  /**
   * The next `times` UPDATEs that move a ledger row to `status` fail (Infinity: all of them). The
   * count lives in a sequence, which a rolled-back transaction does not undo.
   */
  failUpdatesTo(status: LedgerStatus, times: number): Promise<void>;
  /**
   * The next `times` transactions that move a ledger row to `status` fail at COMMIT (a deferred
   * constraint trigger): the statement itself succeeds, the commit does not.
   */
  failCommitsTo(status: LedgerStatus, times: number): Promise<void>;
  /** How many times the injected fault fired so far. */
  fired(status: LedgerStatus): Promise<number>;
  /** Removes every injected update fault. */
  clear(): Promise<void>;
  /** pg_terminate_backend on every other session of the test's database; returns how many. */
  terminateBackends(): Promise<number>;
}

export function dbFaults(db: Kysely<Database>, databaseName: string): DbFaults {
  const seq = (status: string) => sql.raw(`fault_seq_${status}`);
  return {
    async failUpdatesTo(status, times) {
      const limit = Number.isFinite(times) ? times : 2_000_000_000;
      await sql`drop sequence if exists ${seq(status)}`.execute(db);
      await sql`create sequence ${seq(status)}`.execute(db);
      await sql`create table if not exists fault_rules (status text primary key, fail_times bigint not null)`.execute(db);
      await sql`insert into fault_rules values (${status}, ${limit}) on conflict (status) do update set fail_times = excluded.fail_times`.execute(db);
      await sql
        .raw(
          `create or replace function injected_fault() returns trigger language plpgsql as $$
          declare rule record;
          begin
            select * into rule from fault_rules where status = new.status;
            if found and new.status is distinct from old.status then
              if nextval('fault_seq_' || new.status) <= rule.fail_times then
                raise exception 'injected fault: update to % refused', new.status using errcode = '57P01';
              end if;
            end if;
            return new;
          end $$`,
        )
        .execute(db);
      await sql`drop trigger if exists injected_fault on reminder_ledger`.execute(db);
      await sql`create trigger injected_fault before update on reminder_ledger for each row execute function injected_fault()`.execute(db);
    },
    async failCommitsTo(status, times) {
      await this.failUpdatesTo(status, times);
      // Same rule and counter, checked at COMMIT instead of at the UPDATE.
      await sql`drop trigger if exists injected_fault on reminder_ledger`.execute(db);
      await sql`create constraint trigger injected_fault after update on reminder_ledger deferrable initially deferred for each row execute function injected_fault()`.execute(
        db,
      );
    },
    async fired(status) {
      const { rows } = await sql<{ last_value: string; is_called: boolean }>`select last_value, is_called from ${seq(status)}`.execute(db);
      const calls = rows[0]?.is_called ? Number(rows[0].last_value) : 0;
      const rule = await sql<{ fail_times: string }>`select fail_times from fault_rules where status = ${status}`.execute(db);
      return Math.min(calls, Number(rule.rows[0]?.fail_times ?? 0));
    },
    async clear() {
      await sql`drop trigger if exists injected_fault on reminder_ledger`.execute(db);
      await sql`drop table if exists fault_rules`.execute(db);
    },
    async terminateBackends() {
      const client = new pg.Client({ connectionString: ADMIN_URL });
      await client.connect();
      try {
        const { rows } = await client.query<{ n: string }>(
          'select count(pg_terminate_backend(pid)) as n from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
          [databaseName],
        );
        return Number(rows[0]?.n ?? 0);
      } finally {
        await client.end();
      }
    },
  };
}

/** The database name of a connection URL. */
export const databaseOf = (url: string) => new URL(url).pathname.slice(1);
