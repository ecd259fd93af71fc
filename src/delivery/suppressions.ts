import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database } from '../db/types';
import { normalizeAddress } from '../send/address';
import { UserError } from '../user-error';

type Db = Kysely<Database> | Transaction<Database>;

/**
 * Suppresses an address: no reminder goes to it ("suppressed: <reason>") until unsuppressed.
 * Every suppression and its removal is logged with its reason (`suppression_log`).
 */
export async function suppressAddress(
  db: Db,
  email: string,
  reason: string,
  actor: string | null = null,
): Promise<{ address: string; previousReason: string | null }> {
  const text = requireReason(reason);
  const address = normalizeAddress(email);
  const previous = await db.selectFrom('suppressed_addresses').select('reason').where('address', '=', address).executeTakeFirst();
  await db
    .insertInto('suppressed_addresses')
    .values({ address, reason: text })
    .onConflict((oc) => oc.column('address').doUpdateSet({ reason: text, created_at: sql`now()` }))
    .execute();
  await db.insertInto('suppression_log').values({ address, action: 'suppressed', reason: text, actor }).execute();
  return { address, previousReason: previous?.reason ?? null };
}

/** Lifts a suppression; the reason it had stays in `suppression_log`. */
export async function unsuppressAddress(db: Db, email: string, actor: string | null = null): Promise<{ address: string; removedReason: string | null }> {
  const address = normalizeAddress(email);
  const removed = await db.deleteFrom('suppressed_addresses').where('address', '=', address).returning('reason').executeTakeFirst();
  if (removed) await db.insertInto('suppression_log').values({ address, action: 'unsuppressed', reason: removed.reason, actor }).execute();
  return { address, removedReason: removed?.reason ?? null };
}

function requireReason(reason: string): string {
  const text = reason.trim();
  if (text === '') throw new UserError('--reason must not be empty: it is shown wherever a reminder is skipped because of it');
  return text;
}
