import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database, LedgerEvent, LedgerStatus } from '../db/types';
import { recordEvents } from './events';

/**
 * Every change of a ledger row's status, in one table. Each transition is one guarded
 * `update … where status in (from) [and claim_token = ours]` with its audit events in the same
 * transaction, and reports the rows it moved and the rows it did not: a miss is an answer the
 * caller must handle, never ignored.
 */
export const TRANSITIONS = {
  /** A worker takes pending rows for one email (a fresh claim token per attempt). */
  claim: { from: ['pending'], to: 'sending', event: 'claimed', token: false },
  /** The send-time check found a reason not to send. */
  skip: { from: ['pending'], to: 'skipped', event: 'skipped', token: false },
  /** A failure before the SMTP hand-over: nothing left, so the queue may try again. Never after. */
  retry: { from: ['sending', 'unknown'], to: 'pending', event: 'retry', token: true },
  /**
   * The server accepted the message. Also from `unknown` (a sweep gave up on the attempt too early)
   * and from `pending` (an operator replayed the `unknown` row while this attempt was still alive:
   * the delivery happened, so the replay is moot).
   */
  sent: { from: ['sending', 'unknown', 'pending'], to: 'sent', event: 'sent', token: true },
  /** A permanent refusal, a bad address or template, or the last of the retries. */
  failed: { from: ['sending', 'unknown'], to: 'failed', event: 'failed', token: true },
  /** The connection was lost after the body went out: it may have been delivered. */
  unknown: { from: ['sending'], to: 'unknown', event: 'unknown', token: true },
  /** A claim whose attempt is gone (no live transaction holds it, and it is old). */
  sweep: { from: ['sending'], to: 'unknown', event: 'unknown', token: false },
  /**
   * An operator's replay. A replayed `unknown` row keeps its claim token: should the old attempt
   * still be alive and succeed, its `sent` counts, and the row is not claimed again until that
   * claim is older than SEND_CLAIM_TIMEOUT_MS.
   */
  replay: { from: ['failed', 'unknown', 'skipped'], to: 'pending', event: 'replayed', token: false },
  /** An operator's deliberate second copy of a delivered reminder (`--force --reason`). */
  force: { from: ['sent'], to: 'pending', event: 'replayed', token: false },
  /** A finished send job retried from the dashboard: its failed rows are replayed. */
  reopen: { from: ['failed'], to: 'pending', event: 'replayed', token: false },
  /** A hard bounce arrived for a delivered reminder: the address is dead (its reason is kept). */
  bounce: { from: ['sent'], to: 'bounced', event: 'bounced', token: false },
} as const satisfies Record<string, { from: readonly LedgerStatus[]; to: LedgerStatus; event: LedgerEvent; token: boolean }>;

export type TransitionName = keyof typeof TRANSITIONS;

export interface TransitionRequest {
  ids: readonly string[];
  /** Required by the transitions that name a claim (`token: true` in the table). */
  claimToken?: string;
  /** Audit-trail text, and the row's `reason` where the target status has one. */
  detail?: string | null;
  actor: string;
  messageId?: string | null;
  templateVersion?: string | null;
  /** Extra columns for this transition (a replay's new group, a forced flag). */
  set?: Partial<{ group_key: string; forced: boolean; job_id: string | null; claim_token: null }>;
}

export interface TransitionResult {
  transition: TransitionName;
  /** Rows that moved (with their values after the move). */
  moved: Array<{ id: string; attempts: number; status: LedgerStatus }>;
  /** Requested rows that were not in an allowed status, or not under this claim. */
  missed: string[];
}

type Db = Kysely<Database> | Transaction<Database>;

/** Observers of misses (metrics); the caller logs and handles the miss itself. */
const missListeners: Array<(name: TransitionName, count: number) => void> = [];
export function onTransitionMiss(listener: (name: TransitionName, count: number) => void): () => void {
  missListeners.push(listener);
  return () => missListeners.splice(missListeners.indexOf(listener), 1);
}

/**
 * Applies one transition to the given rows, inside `db` when it is a transaction (so the caller's
 * other writes commit with it) or in a transaction of its own.
 */
export async function transition(db: Db, name: TransitionName, request: TransitionRequest): Promise<TransitionResult> {
  const spec = TRANSITIONS[name];
  if (spec.token && !request.claimToken) throw new Error(`the ${name} transition needs the claim token of the attempt`);
  if (request.ids.length === 0) return { transition: name, moved: [], missed: [] };
  const run = async (trx: Transaction<Database>) => {
    const keepsReason = spec.to === 'failed' || spec.to === 'skipped' || spec.to === 'unknown' || spec.to === 'bounced';
    const moved = await trx
      .updateTable('reminder_ledger')
      .set({
        status: spec.to,
        reason: keepsReason ? (request.detail ?? null) : null,
        updated_at: sql`now()`,
        ...(name === 'claim'
          ? { claim_token: request.claimToken ?? null, claimed_at: sql`now()`, attempts: sql`attempts + 1` }
          : {}),
        ...(name === 'retry' ? { claim_token: null } : {}),
        ...(name === 'sent' ? { sent_at: sql`now()`, message_id: request.messageId ?? null } : {}),
        ...(request.messageId !== undefined && name !== 'sent' ? { message_id: request.messageId } : {}),
        ...(request.templateVersion !== undefined ? { template_version: request.templateVersion } : {}),
        ...request.set,
      })
      .where('id', 'in', [...request.ids])
      .where('status', 'in', [...spec.from])
      .$if(spec.token, (q) => q.where('claim_token', '=', request.claimToken as string))
      .returning(['id', 'attempts', 'status'])
      .execute();
    await recordEvents(
      trx,
      moved.map((row) => ({
        ledgerId: row.id,
        event: spec.event,
        status: spec.to,
        detail: name === 'claim' ? `attempt ${row.attempts}${request.detail ? `: ${request.detail}` : ''}` : (request.detail ?? null),
        messageId: request.messageId ?? null,
        templateVersion: request.templateVersion ?? null,
        actor: request.actor,
      })),
    );
    return moved;
  };
  const moved = db.isTransaction ? await run(db as Transaction<Database>) : await db.transaction().execute(run);
  const movedIds = new Set(moved.map((r) => r.id));
  const missed = request.ids.filter((id) => !movedIds.has(id));
  if (missed.length > 0) for (const listener of missListeners) listener(name, missed.length);
  return { transition: name, moved, missed };
}

/**
 * Claims older than `olderThanMs` that no live attempt holds become `unknown`. An attempt holds
 * its rows' locks from just before the SMTP hand-over until its outcome is recorded, so SKIP
 * LOCKED leaves every live send alone whatever the threshold; a dead worker's locks went with
 * its connection.
 */
export async function sweepStaleClaims(db: Kysely<Database>, olderThanMs: number, actor: string): Promise<string[]> {
  return db.transaction().execute(async (trx) => {
    const stale = await trx
      .selectFrom('reminder_ledger')
      .select('id')
      .where('status', '=', 'sending')
      .where('claimed_at', '<', sql<Date>`now() - ${`${olderThanMs} milliseconds`}::interval`)
      .forUpdate()
      .skipLocked()
      .execute();
    const { moved } = await transition(trx, 'sweep', {
      ids: stale.map((r) => r.id),
      actor,
      detail: 'the attempt that claimed it stopped before recording an outcome: it may have been delivered; check, then replay to resend',
    });
    return moved.map((r) => r.id);
  });
}
