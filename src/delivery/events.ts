import type { Kysely, Transaction } from 'kysely';
import type { Database, LedgerEvent, LedgerStatus } from '../db/types';

export interface EventInput {
  ledgerId: string;
  event: LedgerEvent;
  status: LedgerStatus;
  detail?: string | null;
  messageId?: string | null;
  templateVersion?: string | null;
  actor?: string | null;
}

/** Appends to the audit trail that `reminders history` reads. */
export async function recordEvents(db: Kysely<Database> | Transaction<Database>, events: EventInput[]): Promise<void> {
  if (events.length === 0) return;
  await db
    .insertInto('reminder_events')
    .values(
      events.map((e) => ({
        ledger_id: e.ledgerId,
        event: e.event,
        status: e.status,
        detail: e.detail ?? null,
        message_id: e.messageId ?? null,
        template_version: e.templateVersion ?? null,
        actor: e.actor ?? null,
      })),
    )
    .execute();
}
