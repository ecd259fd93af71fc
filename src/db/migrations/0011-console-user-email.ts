import { type Kysely, sql } from 'kysely';

/**
 * A console account's own email address: where the template editor's "send a test to myself"
 * goes. Never an address typed into the form, so the console cannot be used to mail anyone else.
 * Additive only.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table console_users add column if not exists email text`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table console_users drop column if exists email`.execute(db);
}
