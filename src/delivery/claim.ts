import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database, IsoDate, LedgerRow } from '../db/types';
import type { ReminderEmailInput } from '../render/types';
import { type EmailConfig, readEmailInput } from './email-input';
import { eligibility } from './eligibility';
import { applyTransition, claimRows, type LeaseSettings } from './ledger-sql';
import { readEligibilityInputs } from './portal-state';

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

/**
 * Claims the next pending rows of one email's group (one statement: rows to `sending` under a
 * fresh lease), applies the eligibility rule to each (the ineligible ones are let go as
 * `skipped`, with the reason) and reads the email's data. No transaction stays open: the lease
 * holds the rows. If the reads fail the rows go back to `pending` (or, if even that cannot be
 * written, the sweep puts them back once the lease expires: they were never handed over).
 */
export async function claimNext(db: Kysely<Database>, config: EmailConfig, request: ClaimRequest, settings: LeaseSettings): Promise<Claim> {
  const owner = randomUUID();
  const claimed = await claimRows(db, { groupKey: request.groupKey, limit: request.limit, owner, actor: request.actor, jobId: request.jobId }, settings);
  const empty: Claim = { owner, rows: [], skipped: [], examined: claimed.length };
  if (claimed.length === 0) return empty;
  try {
    const reads = await readEligibilityInputs(db, claimed);
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
    for (const [reason, ids] of byReason) await applyTransition(db, 'skip', { ids, owner, actor: request.actor, detail: reason }, settings);
    const input = rows.length > 0 ? await readEmailInput(db, config, rows, reads, request.sendDay) : undefined;
    return { ...empty, rows, skipped, input };
  } catch (error) {
    await applyTransition(db, 'retry', { ids: claimed.map((r) => r.id), owner, actor: request.actor, detail: `claim not completed: ${(error as Error).message}` }, settings).catch(
      () => undefined,
    );
    throw error;
  }
}
