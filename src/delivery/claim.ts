import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database, IsoDate, LedgerRow } from '../db/types';
import type { ReminderEmailInput } from '../render/types';
import { type EmailConfig, readEmailInput } from './email-input';
import { eligibility } from './eligibility';
import { Batcher, batcherFor } from './batcher';
import { applyLeaseTransition, applyTransition, claimGroups, type ClaimGroupRequest, type LeaseSettings, SEND_BATCH_MAX, SEND_BATCH_WINDOW_MS } from './ledger-sql';
import { type EligibilityReads, readEligibilityInputs } from './portal-state';

export interface ClaimRequest {
  groupKey: string;
  /** At most this many rows: one email lists at most MAX_ITEMS_PER_EMAIL items. */
  limit: number;
  actor: string;
  /** The send job claiming, recorded on the rows (the dashboard's link back to the ledger). */
  jobId?: string;
  /** The business date of this send: the email's days left are counted from it (see daysLeftFrom). */
  sendDay?: IsoDate;
}

export interface Claim {
  /** This attempt's lease owner: every later transition of these rows names it. */
  owner: string;
  /** Rows now `sending` under the lease, eligible, as they are after the claim. */
  rows: LedgerRow[];
  /** The template's input. Undefined when nothing is left to send. */
  input?: ReminderEmailInput;
  skipped: Array<{ id: string; reason: string }>;
  /** Rows the claim took; 0 means the group has nothing left to send now. */
  examined: number;
}

/** What one attempt's part of a batched claim found: its rows, and the batch's reads of them. */
interface Claimed {
  rows: LedgerRow[];
  reads?: EligibilityReads;
  readError?: unknown;
}

const claimBatchers = new WeakMap<object, Map<string, Batcher<ClaimGroupRequest, Claimed>>>();

/**
 * The claims of the process's attempts, group-committed (see batcher.ts): one statement claims
 * the next rows of every group asking in the window, one statement reads what the eligibility
 * rule and the emails need for all of them. A failed read is each attempt's to handle.
 */
function claimBatched(db: Kysely<Database>, request: ClaimGroupRequest, settings: LeaseSettings): Promise<Claimed> {
  const kind = `claim|${settings.leaseMs}|${settings.replayGraceMs}`;
  const batcher = batcherFor(claimBatchers, db, kind, () =>
    new Batcher<ClaimGroupRequest, Claimed>(
      async (requests) => {
        const claimed = await claimGroups(db, requests, settings);
        const all = claimed.flat();
        if (all.length === 0) return claimed.map((rows) => ({ rows }));
        try {
          const reads = await readEligibilityInputs(db, all);
          return claimed.map((rows) => ({ rows, reads }));
        } catch (error) {
          return claimed.map((rows) => ({ rows, readError: error }));
        }
      },
      { maxBatch: SEND_BATCH_MAX, windowMs: SEND_BATCH_WINDOW_MS, maxInFlight: 2, keys: (r) => [r.groupKey] },
    ),
  );
  return batcher.submit(request);
}

/**
 * Claims the next pending rows of one email's group (rows to `sending` under a fresh lease, in
 * one statement shared with the other attempts of the process claiming at the same moment),
 * applies the eligibility rule to each (the ineligible ones are let go as `skipped`, with the
 * reason) and builds the email's data from the claim's reads. No transaction stays open: the
 * lease holds the rows. If the reads fail the rows go back to `pending` (or, if even that cannot
 * be written, the sweep puts them back once the lease expires: they were never handed over).
 */
export async function claimNext(db: Kysely<Database>, config: EmailConfig, request: ClaimRequest, settings: LeaseSettings): Promise<Claim> {
  const owner = randomUUID();
  const { rows: claimed, reads, readError } = await claimBatched(db, { groupKey: request.groupKey, limit: request.limit, owner, actor: request.actor, jobId: request.jobId }, settings);
  const empty: Claim = { owner, rows: [], skipped: [], examined: claimed.length };
  if (claimed.length === 0) return empty;
  try {
    if (!reads) throw readError;
    const skipped: Array<{ id: string; reason: string }> = [];
    const rows: LedgerRow[] = [];
    for (const row of claimed) {
      const input = reads.byRow.get(row.id);
      const verdict = input
        ? eligibility({ kind: row.kind, offset: row.offset_days, expiresOn: row.expires_on, forced: row.forced }, input.portal, input.series)
        : ({ send: false, reason: 'ledger row vanished' } as const);
      if (verdict.send) rows.push(row);
      else skipped.push({ id: row.id, reason: verdict.reason });
    }
    const byReason = new Map<string, string[]>();
    for (const s of skipped) byReason.set(s.reason, [...(byReason.get(s.reason) ?? []), s.id]);
    for (const [reason, ids] of byReason) await applyLeaseTransition(db, 'skip', { ids, owner, actor: request.actor, detail: reason }, settings);
    const input = rows.length > 0 ? await readEmailInput(db, config, rows, reads, request.sendDay) : undefined;
    return { ...empty, rows, skipped, input };
  } catch (error) {
    await applyTransition(db, 'retry', { ids: claimed.map((r) => r.id), owner, actor: request.actor, detail: `claim not completed: ${(error as Error).message}` }, settings).catch(
      () => undefined,
    );
    throw error;
  }
}
