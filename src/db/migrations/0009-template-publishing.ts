import { type Kysely, sql } from 'kysely';

/**
 * Published template versions, copy experiments and renewal outcomes. What a worker sends is the
 * live publication of its variant (and arm), never a file on its own disk and never a draft. The
 * content of a version stays in `template_versions`; these tables say which one is live, who
 * published what and why, what was refused, and which renewals the scan saw. Additive only: a
 * worker of the previous release keeps running (and keeps sending from its files) meanwhile.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // The variant's live version per arm; one row per variant and arm, locked while publishing.
  await sql`
    create table if not exists template_live (
      family text not null,
      locale text not null,
      variant text not null,
      arm text not null check (arm in ('A', 'B')),
      version text not null,
      publication_id bigint not null,
      primary key (family, locale, variant, arm)
    )`.execute(db);
  // Every publish, rollback and end of an experiment, with who did it and why (never updated).
  await sql`
    create table if not exists template_publications (
      id bigint generated always as identity primary key,
      family text not null,
      locale text not null,
      variant text not null,
      arm text not null check (arm in ('A', 'B')),
      -- null: the arm was withdrawn (an experiment ended)
      version text,
      action text not null check (action in ('publish', 'rollback', 'end-experiment')),
      source text not null,
      actor text not null,
      message text not null default '',
      published_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index if not exists template_publications_variant_idx on template_publications (family, locale, variant, id desc)`.execute(db);
  // The latest refused publish of a variant and arm, until one of it is published: visible to every process.
  await sql`
    create table if not exists template_refusals (
      family text not null,
      locale text not null,
      variant text not null,
      arm text not null,
      version text not null,
      problems jsonb not null,
      source text not null,
      actor text not null,
      refused_at timestamptz not null default now(),
      primary key (family, locale, variant, arm)
    )`.execute(db);
  // Saved, never sent.
  await sql`
    create table if not exists template_drafts (
      id bigint generated always as identity primary key,
      family text not null,
      locale text not null,
      variant text not null,
      arm text not null check (arm in ('A', 'B')),
      base_version text,
      files jsonb not null,
      actor text not null,
      message text not null default '',
      saved_at timestamptz not null default now()
    )`.execute(db);
  // What an email was sent with besides its version: the experiment's arm and the variant's locale.
  await sql`alter table reminder_ledger add column if not exists template_arm text`.execute(db);
  await sql`alter table reminder_ledger add column if not exists template_locale text`.execute(db);
  // The scan looks for renewals among the recent series only.
  await sql`create index if not exists reminder_ledger_expires_on_idx on reminder_ledger (expires_on)`.execute(db);
  // An expiry date seen moving forward by the scan, on the business date it saw it.
  await sql`
    create table if not exists license_renewals (
      license_id bigint not null,
      kind text not null,
      old_expires_on date not null,
      new_expires_on date not null,
      observed_on date not null,
      recorded_at timestamptz not null default now(),
      primary key (license_id, kind, old_expires_on)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table if exists license_renewals`.execute(db);
  await sql`drop index if exists reminder_ledger_expires_on_idx`.execute(db);
  await sql`alter table reminder_ledger drop column if exists template_locale`.execute(db);
  await sql`alter table reminder_ledger drop column if exists template_arm`.execute(db);
  await sql`drop table if exists template_drafts`.execute(db);
  await sql`drop table if exists template_refusals`.execute(db);
  await sql`drop table if exists template_publications`.execute(db);
  await sql`drop table if exists template_live`.execute(db);
}
