import type { Kysely } from 'kysely';
import type { Database } from '../db/types';

/** How the console names a person in the audit trail and in the ledger's events. */
export const actorName = (userName: string) => `console ${userName}`;

/**
 * Records what a person did in the console. Actions on ledger rows (replay, force) are also in the
 * rows' own events through the delivery core's transitions, with the same name.
 */
export async function recordAction(db: Kysely<Database>, entry: { userName: string; action: string; target: string; detail?: string | null }): Promise<void> {
  await db
    .insertInto('console_actions')
    .values({ actor: actorName(entry.userName), action: entry.action, target: entry.target, detail: entry.detail ?? null })
    .execute();
}

export async function recentActions(db: Kysely<Database>, limit = 10) {
  return db.selectFrom('console_actions').select(['at', 'actor', 'action', 'target', 'detail']).orderBy('id', 'desc').limit(limit).execute();
}
