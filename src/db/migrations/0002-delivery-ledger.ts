import { type Kysely, sql } from 'kysely';

/**
 * The delivery ledger and its audit trail. The unique key (item, expiry date, offset, recipient)
 * is the at-most-once guarantee; queue job ids are only a shortcut in front of it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table reminder_ledger (
      id bigint generated always as identity primary key,
      kind text not null check (kind in ('license','maintenance')),
      license_id bigint not null,
      license_key text not null,
      order_id bigint not null,
      order_number text not null,
      expires_on date not null,
      offset_days integer not null,
      recipient text not null,
      scan_date date not null,
      group_key text not null,
      status text not null check (status in ('pending','sending','sent','failed','skipped','unknown')),
      reason text,
      attempts integer not null default 0,
      claim_token text,
      message_id text,
      template_version text,
      forced boolean not null default false,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      claimed_at timestamptz,
      sent_at timestamptz,
      constraint reminder_ledger_key unique (license_id, kind, expires_on, offset_days, recipient)
    )`.execute(db);
  await sql`create index reminder_ledger_group_idx on reminder_ledger (group_key)`.execute(db);
  await sql`create index reminder_ledger_open_idx on reminder_ledger (status, updated_at) where status in ('pending','sending','failed','unknown')`.execute(db);
  await sql`create index reminder_ledger_recipient_idx on reminder_ledger (recipient)`.execute(db);
  await sql`create index reminder_ledger_license_key_idx on reminder_ledger (license_key)`.execute(db);
  await sql`create index reminder_ledger_scan_date_idx on reminder_ledger (scan_date)`.execute(db);

  await sql`
    create table reminder_events (
      id bigint generated always as identity primary key,
      ledger_id bigint not null references reminder_ledger on delete cascade,
      at timestamptz not null default now(),
      event text not null,
      status text not null,
      detail text,
      message_id text,
      template_version text,
      actor text
    )`.execute(db);
  await sql`create index reminder_events_ledger_idx on reminder_events (ledger_id, id)`.execute(db);

  await sql`
    create table scan_runs (
      scan_date date primary key,
      started_at timestamptz not null default now(),
      completed_at timestamptz,
      duration_ms integer,
      queued integer not null default 0,
      skipped integer not null default 0,
      caught_up integer not null default 0,
      missed_days integer not null default 0
    )`.execute(db);

  await sql`
    create table license_holds (
      license_id bigint primary key,
      reason text not null,
      created_at timestamptz not null default now()
    )`.execute(db);

  await sql`
    create table suppressed_addresses (
      address text primary key check (address = lower(address)),
      reason text not null,
      created_at timestamptz not null default now()
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['suppressed_addresses', 'license_holds', 'scan_runs', 'reminder_events', 'reminder_ledger']) {
    await sql`drop table if exists ${sql.table(table)}`.execute(db);
  }
}
