import { type Kysely, type Migration, type MigrationResultSet, Migrator, sql } from 'kysely';
import * as portalTables from './migrations/0001-portal-tables';
import * as deliveryLedger from './migrations/0002-delivery-ledger';
import * as deliveryCore from './migrations/0003-delivery-core';
import * as leases from './migrations/0004-leases';
import * as ledgerRetention from './migrations/0006-ledger-retention';
import * as consoleTables from './migrations/0007-console';
import * as bounces from './migrations/0008-bounces';
import * as templatePublishing from './migrations/0009-template-publishing';
import * as consoleUserEmail from './migrations/0011-console-user-email';
import { maskUrlCredentials } from '../redact';
import { UserError } from '../user-error';
import type { Database } from './types';

/** Migrations in order; listed here rather than read from disk so that ts and built js agree. */
export const migrations: Record<string, Migration> = {
  '0001-portal-tables': portalTables,
  '0002-delivery-ledger': deliveryLedger,
  '0003-delivery-core': deliveryCore,
  '0004-leases': leases,
  '0006-ledger-retention': ledgerRetention,
  '0007-console': consoleTables,
  '0008-bounces': bounces,
  '0009-template-publishing': templatePublishing,
  '0011-console-user-email': consoleUserEmail,
};

const migrator = (db: Kysely<Database>) => new Migrator({ db, provider: { getMigrations: async () => migrations } });

/** Kysely's default name for the table that records applied migrations. */
const MIGRATION_TABLE = 'kysely_migration';

/** Applies every pending migration. Idempotent; Kysely's advisory lock makes concurrent runs safe. */
export async function migrateToLatest(db: Kysely<Database>): Promise<MigrationResultSet> {
  const result = await migrator(db).migrateToLatest();
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error');
    const cause = result.error instanceof Error ? result.error.message : String(result.error);
    throw new Error(`Migration ${failed?.migrationName ?? '(unknown)'} failed: ${cause}`, { cause: result.error });
  }
  return result;
}

/**
 * The migrations of this release not yet applied to the database (none when it is up to date).
 * Reads Kysely's migration table directly: its own `getMigrations()` introspects every table and
 * column of the database first, which on a portal's large schema costs more than the command.
 */
export async function pendingMigrations(db: Kysely<Database>): Promise<string[]> {
  const { rows } = await sql<{ found: boolean }>`select to_regclass(${MIGRATION_TABLE}) is not null as found`.execute(db);
  const applied = rows[0]?.found ? (await sql<{ name: string }>`select name from ${sql.table(MIGRATION_TABLE)}`.execute(db)).rows.map((row) => row.name) : [];
  return Object.keys(migrations).filter((name) => !applied.includes(name));
}

/**
 * Stops a command before it starts on a database this release's migrations have not (all) been
 * applied to, with the one thing to do, instead of a `relation "…" does not exist` half-way.
 * Migrations a newer release applied are no obstacle: they only add.
 */
export async function requireSchema(db: Kysely<Database>, databaseUrl: string): Promise<void> {
  const pending = await pendingMigrations(db);
  if (pending.length === 0) return;
  const where = `the database at ${maskUrlCredentials(databaseUrl)}`;
  if (pending.length === Object.keys(migrations).length) {
    throw new UserError(`${capitalize(where)} has no reminder tables yet: run \`reminders migrate\` first.`);
  }
  throw new UserError(`${capitalize(where)} lacks ${pending.length} migration(s) of this release (${pending.join(', ')}): run \`reminders migrate\` first.`);
}

const capitalize = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);
