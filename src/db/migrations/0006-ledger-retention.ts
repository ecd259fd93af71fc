import { type Kysely, sql } from 'kysely';

/**
 * A ledger that keeps years of rows: an index for `reminders failed` whose cost follows the rows it
 * shows rather than every undelivered row ever kept (it is partial: recording a pending row, the
 * scan's hot path, does not maintain it), and the archive that prune moves old series to (each row whole, as JSON, so that columns added
 * to the ledger later are archived too). Additive only.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create index if not exists reminder_ledger_undelivered_idx on reminder_ledger (updated_at, id)
    where status in ('failed', 'unknown', 'skipped')`.execute(db);
  await sql`
    create table if not exists reminder_ledger_archive (
      id bigint primary key,
      kind text not null,
      license_id bigint not null,
      license_key text not null,
      expires_on date not null,
      offset_days integer not null,
      recipient text not null,
      status text not null,
      -- The ledger row as it was, every column.
      row jsonb not null,
      archived_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index if not exists reminder_ledger_archive_license_key_idx on reminder_ledger_archive (license_key)`.execute(db);
  await sql`create index if not exists reminder_ledger_archive_recipient_idx on reminder_ledger_archive (recipient)`.execute(db);
  await sql`
    create table if not exists reminder_events_archive (
      id bigint primary key,
      ledger_id bigint not null,
      row jsonb not null,
      archived_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index if not exists reminder_events_archive_ledger_idx on reminder_events_archive (ledger_id, id)`.execute(db);
  await sql`
    create table if not exists ledger_prunes (
      id bigint generated always as identity primary key,
      -- Series whose expiry date is before this were archived: a scan whose window reaches back
      -- before it could record them again, so scans refuse such dates.
      expired_before date not null,
      ledger_rows bigint not null,
      event_rows bigint not null,
      actor text,
      pruned_at timestamptz not null default now()
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table if exists ledger_prunes`.execute(db);
  await sql`drop table if exists reminder_events_archive`.execute(db);
  await sql`drop table if exists reminder_ledger_archive`.execute(db);
  await sql`drop index if exists reminder_ledger_undelivered_idx`.execute(db);
}
