import { type Kysely, sql } from 'kysely';
import type { Database } from '../db/types';

const matches = sql<string>`lower(btrim(email))`;

/**
 * Unsubscribes every contact row of the address (case-insensitive, trimmed) that is not yet
 * unsubscribed; returns how many changed. The worker's send-time check then skips its pending
 * reminders as 'unsubscribed', and the scan stops finding it.
 */
export async function unsubscribeAddress(db: Kysely<Database>, address: string): Promise<number> {
  const rows = await db
    .updateTable('order_contacts')
    .set({ unsubscribed_at: sql`now()` })
    .where(matches, '=', address.trim().toLowerCase())
    .where('unsubscribed_at', 'is', null)
    .returning('id')
    .execute();
  return rows.length;
}

/** Contact rows of the address: how many, and how many are still subscribed. */
export async function subscriptionState(db: Kysely<Database>, address: string): Promise<{ contacts: number; subscribed: number }> {
  const row = await db
    .selectFrom('order_contacts')
    .select([sql<string>`count(*)`.as('contacts'), sql<string>`count(*) filter (where unsubscribed_at is null)`.as('subscribed')])
    .where(matches, '=', address.trim().toLowerCase())
    .executeTakeFirstOrThrow();
  return { contacts: Number(row.contacts), subscribed: Number(row.subscribed) };
}
