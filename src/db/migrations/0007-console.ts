import { type Kysely, sql } from 'kysely';

/**
 * The operations console: named accounts, their sessions, failed sign-ins (for the rate limit),
 * the actions people took, and the indexes that keep the console's reminder search fast on a
 * ledger of millions of rows (see docs/operations.md for the measured plans). Additive only.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table if not exists console_users (
      name text primary key,
      role text not null check (role in ('viewer','operator','marketing','admin')),
      -- scrypt$N$r$p$salt$hash (base64url): see src/console/passwords.ts
      password_hash text not null,
      created_at timestamptz not null default now(),
      password_changed_at timestamptz not null default now()
    )`.execute(db);
  await sql`
    create table if not exists console_sessions (
      -- sha256 of the cookie's value: a copy of this table opens no session
      id text primary key,
      user_name text not null references console_users on delete cascade,
      csrf_token text not null,
      created_at timestamptz not null default now(),
      last_seen_at timestamptz not null default now(),
      expires_at timestamptz not null
    )`.execute(db);
  await sql`create index if not exists console_sessions_user_idx on console_sessions (user_name)`.execute(db);
  await sql`create index if not exists console_sessions_expires_idx on console_sessions (expires_at)`.execute(db);
  await sql`
    create table if not exists console_sign_in_failures (
      id bigint generated always as identity primary key,
      user_name text not null,
      address text not null,
      at timestamptz not null default now()
    )`.execute(db);
  await sql`create index if not exists console_sign_in_failures_user_idx on console_sign_in_failures (user_name, at)`.execute(db);
  await sql`create index if not exists console_sign_in_failures_address_idx on console_sign_in_failures (address, at)`.execute(db);
  await sql`
    create table if not exists console_actions (
      id bigint generated always as identity primary key,
      at timestamptz not null default now(),
      actor text not null,
      action text not null,
      target text not null,
      detail text
    )`.execute(db);
  await sql`create index if not exists console_actions_at_idx on console_actions (at)`.execute(db);

  // Reminder search, newest scan date first (keyset pages on scan date and id): by order (order
  // number or customer name → order ids), by status, by a range of scan dates.
  await sql`create index if not exists reminder_ledger_order_idx on reminder_ledger (order_id, id)`.execute(db);
  await sql`create index if not exists reminder_ledger_status_scan_idx on reminder_ledger (status, scan_date, id)`.execute(db);
  await sql`create index if not exists reminder_ledger_scan_id_idx on reminder_ledger (scan_date, id)`.execute(db);
  await sql`create index if not exists orders_customer_name_idx on orders (lower(customer_name) text_pattern_ops)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index if exists orders_customer_name_idx`.execute(db);
  await sql`drop index if exists reminder_ledger_scan_id_idx`.execute(db);
  await sql`drop index if exists reminder_ledger_status_scan_idx`.execute(db);
  await sql`drop index if exists reminder_ledger_order_idx`.execute(db);
  for (const table of ['console_actions', 'console_sign_in_failures', 'console_sessions', 'console_users']) {
    await sql`drop table if exists ${sql.table(table)}`.execute(db);
  }
}
