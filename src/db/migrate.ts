import { type Kysely, type Migration, type MigrationResultSet, Migrator } from 'kysely';
import * as portalTables from './migrations/0001-portal-tables';
import * as deliveryLedger from './migrations/0002-delivery-ledger';
import * as deliveryCore from './migrations/0003-delivery-core';
import * as ledgerRetention from './migrations/0006-ledger-retention';
import * as consoleTables from './migrations/0007-console';
import * as bounces from './migrations/0008-bounces';
import type { Database } from './types';

/** Migrations in order; listed here rather than read from disk so that ts and built js agree. */
export const migrations: Record<string, Migration> = {
  '0001-portal-tables': portalTables,
  '0002-delivery-ledger': deliveryLedger,
  '0003-delivery-core': deliveryCore,
  '0006-ledger-retention': ledgerRetention,
  '0007-console': consoleTables,
  '0008-bounces': bounces,
};

/** Applies every pending migration. Idempotent; Kysely's advisory lock makes concurrent runs safe. */
export async function migrateToLatest(db: Kysely<Database>): Promise<MigrationResultSet> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
  const result = await migrator.migrateToLatest();
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error');
    const cause = result.error instanceof Error ? result.error.message : String(result.error);
    throw new Error(`Migration ${failed?.migrationName ?? '(unknown)'} failed: ${cause}`, { cause: result.error });
  }
  return result;
}
