import { type Kysely, sql } from 'kysely';

/**
 * Leases: an attempt owns its `sending` rows by a lease (owner, expiry) that it extends while it
 * lives, instead of by row locks held across SMTP; `handed_over_at` marks the rows whose message
 * went (or may have gone) to the SMTP server. Additive only: a worker of the previous release
 * still claims by `claim_token` and row locks, and the lease sweep treats its rows (no lease) as
 * it did (see src/delivery/ledger-sql.ts).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table reminder_ledger add column if not exists lease_owner text`.execute(db);
  await sql`alter table reminder_ledger add column if not exists lease_expires_at timestamptz`.execute(db);
  await sql`alter table reminder_ledger add column if not exists handed_over_at timestamptz`.execute(db);
  await sql`create index if not exists reminder_ledger_lease_idx on reminder_ledger (lease_expires_at) where status = 'sending'`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index if exists reminder_ledger_lease_idx`.execute(db);
  await sql`alter table reminder_ledger drop column if exists handed_over_at`.execute(db);
  await sql`alter table reminder_ledger drop column if exists lease_expires_at`.execute(db);
  await sql`alter table reminder_ledger drop column if exists lease_owner`.execute(db);
}
