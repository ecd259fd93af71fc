import { type Kysely, sql } from 'kysely';

/**
 * Delivery core: the send job that last claimed a row (the dashboard shows it), a claim index
 * whose cost follows one group rather than the whole backlog, and the template versions that
 * passed validation (a broken edit falls back to them, also after a restart). Additive only:
 * a worker of the previous release keeps running against this schema during a rolling upgrade.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table reminder_ledger add column if not exists job_id text`.execute(db);
  await sql`create index if not exists reminder_ledger_pending_group_idx on reminder_ledger (group_key, id) where status = 'pending'`.execute(db);
  await sql`create index if not exists reminder_ledger_sending_idx on reminder_ledger (claimed_at) where status = 'sending'`.execute(db);
  await sql`create index if not exists reminder_ledger_series_idx on reminder_ledger (license_id, kind, expires_on, recipient)`.execute(db);
  await sql`
    create table if not exists template_versions (
      family text not null,
      locale text not null,
      variant text not null,
      version text not null,
      -- The composed MJML's files (path → text) and the compiled parts the worker fills.
      files jsonb not null,
      html text not null,
      subject text not null,
      subject_where text not null default '',
      template_locale text not null,
      created_at timestamptz not null default now(),
      primary key (family, locale, variant, version)
    )`.execute(db);
  await sql`create index if not exists template_versions_latest_idx on template_versions (family, locale, variant, created_at desc)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table if exists template_versions`.execute(db);
  await sql`drop index if exists reminder_ledger_series_idx`.execute(db);
  await sql`drop index if exists reminder_ledger_sending_idx`.execute(db);
  await sql`drop index if exists reminder_ledger_pending_group_idx`.execute(db);
  await sql`alter table reminder_ledger drop column if exists job_id`.execute(db);
}
