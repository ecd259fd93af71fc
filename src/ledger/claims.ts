import { randomUUID } from 'node:crypto';
import { type Kysely, sql, type Transaction } from 'kysely';
import type { Database, LedgerRow } from '../db/types';
import { EXPIRY_SOURCE, normalizeAddress } from '../scan/candidates';
import { recordEvents } from './events';
import { smallerOffsetsOnTheirWay } from './ledger';

export interface ClaimResult<Prepared = undefined> {
  /** What `prepare` returned for the claimed rows (undefined when none were claimed). */
  prepared?: Prepared;
  /** Rows this worker now owns (`sending`), with its token. */
  claimed: LedgerRow[];
  claimToken: string;
  /** Rows turned `skipped` by the send-time check, with the reason. */
  skipped: Array<{ id: string; reason: string }>;
  /** Rows found `sending` from an earlier attempt that died: now `unknown`. */
  orphaned: string[];
  /** Rows found `sending` under a fresh claim: another attempt owns them; left alone. */
  busy: string[];
  /** Rows found `failed` and moved back to `pending` because the job was retried (see ClaimOptions). */
  reopened: string[];
}

export interface ClaimOptions<Prepared = undefined> {
  /**
   * Reads what the send needs, inside the claim's transaction: if it fails (the database went
   * away), the claim rolls back and the rows stay `pending` for the queue's retry.
   */
  prepare?: (trx: Transaction<Database>, claimed: LedgerRow[]) => Promise<Prepared>;
  /**
   * Rows of the job found `failed` go back to `pending` first, with a 'replayed' event under
   * this actor. A send job's rows can only be `failed` after the job failed for good, so finding
   * them so means someone retried the job (Bull Board's retry): the same as `replay --all-failed`
   * for those rows. `sent` and `unknown` rows are never reopened this way.
   */
  reopenFailedAs?: string;
  /**
   * A `sending` row claimed longer ago than this belongs to an attempt that died (its job's lock
   * expired, so the queue ran the job again). A fresher claim is left to its owner.
   */
  staleClaimMs: number;
}

/** Which rows one send job covers: the ids it was queued with, and any pending row of its group. */
export interface ClaimSelection {
  ledgerIds: string[];
  /** Rows recorded into the group after the job was queued (a second scan the same day) join it. */
  groupKey?: string;
}

/**
 * Re-checks and claims the pending rows of one email in one transaction. Row locks make two
 * workers queue up here, and only `pending` rows move to `sending`: the loser finds none.
 */
export async function claimRows<Prepared = undefined>(
  db: Kysely<Database>,
  selection: ClaimSelection,
  actor: string,
  options: ClaimOptions<Prepared>,
): Promise<ClaimResult<Prepared>> {
  const claimToken = randomUUID();
  const { ledgerIds, groupKey } = selection;
  return db.transaction().execute(async (trx) => {
    // The database's clock decides whether a claim is stale, as in the scan's sweep: hosts' clocks may differ.
    let rows = await trx
      .selectFrom('reminder_ledger')
      .selectAll()
      .select(sql<boolean>`coalesce(claimed_at < now() - ${`${options.staleClaimMs} milliseconds`}::interval, true)`.as('stale_claim'))
      .where((eb) =>
        groupKey
          ? eb.or([eb('id', 'in', ledgerIds), eb.and([eb('group_key', '=', groupKey), eb('status', '=', 'pending')])])
          : eb('id', 'in', ledgerIds),
      )
      .orderBy('id')
      .forUpdate()
      .execute();
    const reopened = options.reopenFailedAs ? rows.filter((r) => r.status === 'failed').map((r) => r.id) : [];
    if (reopened.length > 0) {
      const reopenedRows = await trx
        .updateTable('reminder_ledger')
        .set({ status: 'pending', reason: null, claim_token: null, updated_at: sql`now()` })
        .where('id', 'in', reopened)
        .where('status', '=', 'failed')
        .returningAll()
        .execute();
      await recordEvents(
        trx,
        reopenedRows.map((r) => ({
          ledgerId: r.id,
          event: 'replayed',
          status: 'pending',
          detail: 'send job retried from the queue (e.g. Bull Board): failed → pending',
          actor: options.reopenFailedAs,
        })),
      );
      rows = rows.map((r) => ({ ...r, ...reopenedRows.find((o) => o.id === r.id) }));
    }
    const sending = rows.filter((r) => r.status === 'sending');
    const orphaned = sending.filter((r) => r.stale_claim).map((r) => r.id);
    const busy = sending.filter((r) => !r.stale_claim).map((r) => r.id);
    const pending = rows.filter((r) => r.status === 'pending');
    const skipped: Array<{ id: string; reason: string }> = [];
    if (pending.length > 0) {
      const reasons = await sendTimeCheck(trx, pending);
      for (const row of pending) {
        const reason = reasons.get(row.id);
        if (reason) skipped.push({ id: row.id, reason });
      }
    }
    const claimable = pending.filter((r) => !skipped.some((s) => s.id === r.id)).map((r) => r.id);

    if (orphaned.length > 0) {
      const reason = 'an earlier attempt stopped after claiming: delivery uncertain, replay to resend';
      // The claim token stays: should that attempt still be alive and succeed, it records `sent`.
      await trx
        .updateTable('reminder_ledger')
        .set({ status: 'unknown', reason, updated_at: sql`now()` })
        .where('id', 'in', orphaned)
        .execute();
      await recordEvents(trx, orphaned.map((id) => ({ ledgerId: id, event: 'unknown', status: 'unknown', detail: reason, actor })));
    }
    for (const { id, reason } of skipped) {
      await trx.updateTable('reminder_ledger').set({ status: 'skipped', reason, updated_at: sql`now()` }).where('id', '=', id).execute();
    }
    await recordEvents(trx, skipped.map(({ id, reason }) => ({ ledgerId: id, event: 'skipped', status: 'skipped', detail: reason, actor })));

    let claimed: LedgerRow[] = [];
    if (claimable.length > 0) {
      claimed = await trx
        .updateTable('reminder_ledger')
        .set({
          status: 'sending',
          claim_token: claimToken,
          claimed_at: sql`now()`,
          updated_at: sql`now()`,
          attempts: sql`attempts + 1`,
        })
        .where('id', 'in', claimable)
        .where('status', '=', 'pending')
        .returningAll()
        .execute();
      await recordEvents(trx, claimed.map((r) => ({ ledgerId: r.id, event: 'claimed', status: 'sending', detail: `attempt ${r.attempts}`, actor })));
    }
    const prepared = claimed.length > 0 && options.prepare ? await options.prepare(trx, claimed) : undefined;
    return { claimed, claimToken, skipped, orphaned, busy, reopened, prepared };
  });
}

/** Why each row must not be sent now (renewed, cancelled, held, suppressed, unsubscribed), if it must not. */
async function sendTimeCheck(db: Kysely<Database>, rows: LedgerRow[]): Promise<Map<string, string>> {
  const licenseIds = [...new Set(rows.map((r) => r.license_id))];
  const orderIds = [...new Set(rows.map((r) => r.order_id))];
  const recipients = [...new Set(rows.map((r) => r.recipient))];
  const [licenses, holds, suppressed, contacts, smaller] = await Promise.all([
    db.selectFrom('licenses').select(['id', 'status', 'license_type', 'expires_on', 'maintenance_expires_on']).where('id', 'in', licenseIds).execute(),
    db.selectFrom('license_holds').select(['license_id', 'reason']).where('license_id', 'in', licenseIds).execute(),
    db.selectFrom('suppressed_addresses').select(['address', 'reason']).where('address', 'in', recipients).execute(),
    db.selectFrom('order_contacts').select(['order_id', 'email', 'unsubscribed_at']).where('order_id', 'in', orderIds).execute(),
    smallerOffsetsOnTheirWay(db, rows.map((r) => r.id)),
  ]);
  const reasons = new Map<string, string>();
  for (const row of rows) {
    const license = licenses.find((l) => l.id === row.license_id);
    const hold = holds.find((h) => h.license_id === row.license_id);
    const suppression = suppressed.find((s) => s.address === row.recipient);
    const ownContacts = contacts.filter((c) => c.order_id === row.order_id && normalizeAddress(c.email) === row.recipient);
    const source = EXPIRY_SOURCE[row.kind];
    const expiry = license?.[source.column];
    let reason: string | null = null;
    const supersededBy = row.forced ? undefined : smaller.get(row.id)?.offset;
    if (!license) reason = 'license no longer exists';
    else if (license.status !== 'active') reason = `cancelled: license status is ${license.status}`;
    else if (license.license_type !== source.type) reason = `license type changed to ${license.license_type}`;
    else if (expiry !== row.expires_on) reason = expiry ? `renewed: expiry moved to ${expiry}` : 'expiry date removed';
    else if (hold) reason = `on hold: ${hold.reason}`;
    else if (suppression) reason = `suppressed: ${suppression.reason}`;
    else if (supersededBy !== undefined) reason = `superseded: the ${supersededBy}-day reminder of this expiry is already sent or on its way`;
    else if (ownContacts.length === 0) reason = 'contact no longer on the order';
    else if (ownContacts.every((c) => c.unsubscribed_at !== null)) reason = 'unsubscribed';
    if (reason) reasons.set(row.id, reason);
  }
  return reasons;
}

export interface Outcome {
  status: 'sent' | 'failed' | 'unknown' | 'pending';
  event: 'sent' | 'failed' | 'unknown' | 'retry';
  detail: string | null;
  messageId?: string | null;
  templateVersion?: string | null;
}

/**
 * Records what happened to claimed rows. Guarded by the claim token, not the status: a send
 * that succeeded still counts as sent if a sweep meanwhile called it unknown.
 */
export async function recordOutcome(
  db: Kysely<Database>,
  ledgerIds: string[],
  claimToken: string,
  outcome: Outcome,
  actor: string,
): Promise<string[]> {
  if (ledgerIds.length === 0) return [];
  return db.transaction().execute(async (trx) => {
    const updated = await trx
      .updateTable('reminder_ledger')
      .set({
        status: outcome.status,
        reason: outcome.status === 'sent' ? null : outcome.detail,
        message_id: outcome.messageId ?? null,
        template_version: outcome.templateVersion ?? null,
        sent_at: outcome.status === 'sent' ? sql`now()` : null,
        claim_token: outcome.status === 'pending' ? null : claimToken,
        updated_at: sql`now()`,
      })
      .where('id', 'in', ledgerIds)
      .where('claim_token', '=', claimToken)
      .where('status', 'in', ['sending', 'unknown'])
      .returning('id')
      .execute();
    await recordEvents(
      trx,
      updated.map((r) => ({
        ledgerId: r.id,
        event: outcome.event,
        status: outcome.status,
        detail: outcome.detail,
        messageId: outcome.messageId ?? null,
        templateVersion: outcome.templateVersion ?? null,
        actor,
      })),
    );
    return updated.map((r) => r.id);
  });
}
