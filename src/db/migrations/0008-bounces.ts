import { type Kysely, sql } from 'kysely';

/**
 * Bounces and complaints: the raw source of every bounce, complaint or provider event received
 * (kept even when it cannot be parsed), the events read from them (one per unique key, so the
 * same bounce ingested twice is recorded once), a log of suppressions and their removal, and the
 * daily sales digests sent. The ledger gains the `bounced` status. Additive: a worker of the
 * previous release never writes `bounced` and keeps running against this schema.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // Widened, not changed: every status the previous release writes stays allowed.
  await sql`alter table reminder_ledger drop constraint if exists reminder_ledger_status_check`.execute(db);
  await sql`
    alter table reminder_ledger add constraint reminder_ledger_status_check
      check (status in ('pending','sending','sent','failed','skipped','unknown','bounced'))`.execute(db);
  await sql`create index if not exists reminder_ledger_message_id_idx on reminder_ledger (message_id) where message_id is not null`.execute(db);
  await sql`create index if not exists reminder_ledger_sent_at_idx on reminder_ledger (sent_at) where sent_at is not null`.execute(db);

  await sql`
    create table if not exists bounce_messages (
      id bigint generated always as identity primary key,
      channel text not null,
      received_at timestamptz not null default now(),
      raw bytea not null,
      raw_sha256 text not null unique,
      -- Why it could not be read (unparseable, matches no reminder…); null when it was read.
      problem text,
      events integer not null default 0,
      processed_at timestamptz
    )`.execute(db);
  await sql`create index if not exists bounce_messages_unprocessed_idx on bounce_messages (received_at) where processed_at is null`.execute(db);

  await sql`
    create table if not exists bounce_events (
      id bigint generated always as identity primary key,
      bounce_message_id bigint references bounce_messages on delete set null,
      event_key text not null unique,
      channel text not null,
      type text not null check (type in ('hard','soft','complaint','delay','unknown')),
      recipient text,
      recipient_domain text,
      status text,
      diagnostic text,
      feedback_type text,
      reminder_message_id text,
      ledger_ids bigint[] not null default '{}',
      matched_by text,
      action text not null default '',
      occurred_at timestamptz not null default now(),
      received_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index if not exists bounce_events_recipient_idx on bounce_events (recipient, type, received_at)`.execute(db);
  await sql`create index if not exists bounce_events_received_idx on bounce_events (received_at)`.execute(db);

  await sql`
    create table if not exists suppression_log (
      id bigint generated always as identity primary key,
      address text not null,
      action text not null check (action in ('suppressed','unsuppressed')),
      reason text,
      actor text,
      at timestamptz not null default now()
    )`.execute(db);
  await sql`create index if not exists suppression_log_address_idx on suppression_log (address, at)`.execute(db);

  await sql`
    create table if not exists sales_digests (
      digest_date date primary key,
      claimed_at timestamptz not null default now(),
      sent_at timestamptz,
      orders integer not null default 0,
      message_id text
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table if exists sales_digests`.execute(db);
  await sql`drop table if exists suppression_log`.execute(db);
  await sql`drop table if exists bounce_events`.execute(db);
  await sql`drop table if exists bounce_messages`.execute(db);
  await sql`drop index if exists reminder_ledger_sent_at_idx`.execute(db);
  await sql`drop index if exists reminder_ledger_message_id_idx`.execute(db);
  await sql`update reminder_ledger set status = 'sent' where status = 'bounced'`.execute(db);
  await sql`alter table reminder_ledger drop constraint if exists reminder_ledger_status_check`.execute(db);
  await sql`
    alter table reminder_ledger add constraint reminder_ledger_status_check
      check (status in ('pending','sending','sent','failed','skipped','unknown'))`.execute(db);
}
