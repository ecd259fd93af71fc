import { randomUUID } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import type { Database, IsoDate, LedgerRow } from '../db/types';
import type { ReminderEmailInput } from '../render/types';
import { type EmailConfig, readEmailInput } from './email-input';
import { eligibility } from './eligibility';
import { readEligibilityInputs } from './portal-state';
import { transition } from './transitions';

/** Audit-trail actor of failed rows reopened because their finished job was retried (Bull Board). */
export const DASHBOARD_RETRY_ACTOR = 'dashboard retry';

export interface ClaimRequest {
  groupKey: string;
  /** At most this many rows: one email lists at most MAX_ITEMS_PER_EMAIL items. */
  limit: number;
  actor: string;
  /** The send job claiming, recorded on the rows (the dashboard's link back to the ledger). */
  jobId?: string;
  /**
   * Rows of the job found `failed` go back to `pending` first. A send job's rows are only
   * `failed` after the job failed for good, so finding them so means someone retried the job
   * (Bull Board): the same as `replay` for those rows. Never `sent` or `unknown` ones.
   */
  reopenIds?: readonly string[];
  /**
   * A pending row that still carries an earlier attempt's claim (an `unknown` row an operator
   * replayed) is left alone until that claim is this old: the earlier attempt may still be
   * handing the message over, and its success would make this send a second copy.
   */
  earlierClaimGraceMs: number;
  /** The business date of this send: the email's days left are counted from it (see daysLeftFrom). */
  sendDay?: IsoDate;
}

export interface Claim {
  /** This attempt's claim token: every later transition of these rows names it. */
  token: string;
  /** Rows now `sending` under the token, as they are after the claim. */
  rows: LedgerRow[];
  /** The template's input, read in the claim's transaction. Undefined when nothing was claimed. */
  input?: ReminderEmailInput;
  skipped: Array<{ id: string; reason: string }>;
  reopened: string[];
  /** Pending rows looked at; 0 means the group has nothing left to send. */
  examined: number;
}

/**
 * Claims the next pending rows of one email's group in one transaction: locks them (rows another
 * attempt holds are passed over), applies the eligibility rule to each (skipping with the reason),
 * moves the rest to `sending` under a fresh token, and reads the email's data. If any of it fails
 * (the database went away) nothing is written and the rows stay `pending` for the retry.
 */
export async function claimNext(db: Kysely<Database>, config: EmailConfig, request: ClaimRequest): Promise<Claim> {
  const token = randomUUID();
  return db.transaction().execute(async (trx) => {
    let reopened: string[] = [];
    if (request.reopenIds && request.reopenIds.length > 0) {
      const failed = await trx
        .selectFrom('reminder_ledger')
        .select('id')
        .where('id', 'in', [...request.reopenIds])
        .where('group_key', '=', request.groupKey)
        .where('status', '=', 'failed')
        .forUpdate()
        .skipLocked()
        .execute();
      const moved = await transition(trx, 'reopen', {
        ids: failed.map((r) => r.id),
        actor: DASHBOARD_RETRY_ACTOR,
        set: { claim_token: null },
        detail: 'send job retried from the queue (e.g. Bull Board): failed → pending',
      });
      reopened = moved.moved.map((r) => r.id);
    }
    const candidates = await trx
      .selectFrom('reminder_ledger')
      .selectAll()
      .where('group_key', '=', request.groupKey)
      .where('status', '=', 'pending')
      .where((eb) =>
        eb.or([eb('claim_token', 'is', null), eb('claimed_at', 'is', null), eb('claimed_at', '<', sql<Date>`now() - ${`${request.earlierClaimGraceMs} milliseconds`}::interval`)]),
      )
      .orderBy('id')
      .limit(request.limit)
      .forUpdate()
      .skipLocked()
      .execute();
    const empty: Claim = { token, rows: [], skipped: [], reopened, examined: candidates.length };
    if (candidates.length === 0) return empty;

    const reads = await readEligibilityInputs(trx, candidates);
    const skipped: Array<{ id: string; reason: string }> = [];
    const claimable: LedgerRow[] = [];
    for (const row of candidates) {
      const input = reads.byRow.get(row.id);
      const verdict = input
        ? eligibility({ kind: row.kind, offset: row.offset_days, expiresOn: row.expires_on, forced: row.forced }, input.portal, input.series)
        : ({ send: false, reason: 'ledger row vanished' } as const);
      if (verdict.send) claimable.push(row);
      else skipped.push({ id: row.id, reason: verdict.reason });
    }
    const byReason = new Map<string, string[]>();
    for (const s of skipped) byReason.set(s.reason, [...(byReason.get(s.reason) ?? []), s.id]);
    for (const [reason, ids] of byReason) await transition(trx, 'skip', { ids, actor: request.actor, detail: reason });

    const claimed = await transition(trx, 'claim', { ids: claimable.map((r) => r.id), claimToken: token, actor: request.actor, set: { job_id: request.jobId ?? null } });
    // The rows are locked and pending: a miss here means the table changed under a lock.
    if (claimed.missed.length > 0) throw new Error(`claim missed locked pending rows ${claimed.missed.join(', ')}`);
    const attempts = new Map(claimed.moved.map((r) => [r.id, r.attempts]));
    const rows = claimable.map((r) => ({ ...r, status: 'sending' as const, claim_token: token, attempts: attempts.get(r.id) ?? r.attempts + 1 }));
    const emailInput = rows.length > 0 ? await readEmailInput(trx, config, rows, reads, request.sendDay) : undefined;
    return { ...empty, rows, skipped, input: emailInput };
  });
}
