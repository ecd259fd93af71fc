import { type Kysely, sql } from 'kysely';
import type { Database, IsoDate, LedgerStatus, NewLedgerRow, ReminderKind } from '../db/types';
import { recordEvents } from './events';

/** Key of one series: an item's expiry date, for one recipient. */
export const seriesKey = (licenseId: string, expiresOn: IsoDate, recipient: string) => `${licenseId}|${expiresOn}|${recipient}`;

/** What the ledger holds for the given items: series key → offset → status. */
export async function recordedSeries(
  db: Kysely<Database>,
  kind: ReminderKind,
  licenseIds: string[],
): Promise<Map<string, Map<number, LedgerStatus>>> {
  const series = new Map<string, Map<number, LedgerStatus>>();
  if (licenseIds.length === 0) return series;
  const rows = await db
    .selectFrom('reminder_ledger')
    .select(['license_id', 'expires_on', 'recipient', 'offset_days', 'status'])
    .where('kind', '=', kind)
    .where('license_id', 'in', licenseIds)
    .execute();
  for (const row of rows) {
    const key = seriesKey(row.license_id, row.expires_on, row.recipient);
    let offsets = series.get(key);
    if (!offsets) series.set(key, (offsets = new Map()));
    offsets.set(row.offset_days, row.status);
  }
  return series;
}

export interface InsertedRow {
  id: string;
  kind: ReminderKind;
  license_id: string;
  expires_on: IsoDate;
  offset_days: number;
  recipient: string;
  status: LedgerStatus;
  reason: string | null;
}

/**
 * Inserts planned rows; a row whose key is already in the ledger is left alone (the unique
 * key decides, not a prior read). Returns only the rows this call created.
 */
export async function insertPlanned(
  db: Kysely<Database>,
  rows: NewLedgerRow[],
): Promise<InsertedRow[]> {
  const inserted: InsertedRow[] = [];
  for (let i = 0; i < rows.length; i += 1000) {
    const chunk = rows.slice(i, i + 1000);
    await db.transaction().execute(async (trx) => {
      const created = await trx
        .insertInto('reminder_ledger')
        .values(chunk)
        .onConflict((oc) => oc.constraint('reminder_ledger_key').doNothing())
        .returning(['id', 'status', 'offset_days', 'kind', 'reason', 'license_id', 'expires_on', 'recipient'])
        .execute();
      await recordEvents(
        trx,
        created.map((row) => ({
          ledgerId: row.id,
          event: row.status === 'pending' ? 'queued' : 'skipped',
          status: row.status,
          detail: row.reason,
          actor: 'scan',
        })),
      );
      inserted.push(...created);
    });
  }
  return inserted;
}

/** Pending rows by group: what the send queue must hold. Rebuilds jobs Redis may have lost. */
export async function pendingGroups(db: Kysely<Database>): Promise<Array<{ groupKey: string; ledgerIds: string[] }>> {
  const rows = await db
    .selectFrom('reminder_ledger')
    .select(['group_key', sql<string[]>`array_agg(id order by id)`.as('ids')])
    .where('status', '=', 'pending')
    .groupBy('group_key')
    .orderBy('group_key')
    .execute();
  return rows.map((row) => ({ groupKey: row.group_key, ledgerIds: row.ids.map(String) }));
}

/**
 * Claims older than `olderThanMs` belong to a worker that died mid-send (a live one records the
 * outcome within seconds): the mail may or may not have gone out, so they become `unknown`.
 */
export async function sweepStaleClaims(db: Kysely<Database>, olderThanMs: number): Promise<number> {
  const reason = 'worker stopped after claiming: delivery uncertain, replay to resend';
  const rows = await db
    .updateTable('reminder_ledger')
    .set({ status: 'unknown', reason, updated_at: sql`now()` })
    .where('status', '=', 'sending')
    .where('claimed_at', '<', sql<Date>`now() - ${`${olderThanMs} milliseconds`}::interval`)
    .returning('id')
    .execute();
  await recordEvents(
    db,
    rows.map((row) => ({ ledgerId: row.id, event: 'unknown', status: 'unknown', detail: reason, actor: 'scan' })),
  );
  return rows.length;
}

/**
 * For each row, the smallest smaller offset of the same series (license, kind, expiry date,
 * recipient) that went out or may have: sent, pending, being sent, or unknown. A larger offset
 * must not follow it, whether by a late replay or a retry of an old job.
 */
export async function smallerOffsetsOnTheirWay(
  db: Kysely<Database>,
  ids: string[],
): Promise<Map<string, { id: string; offset: number; status: LedgerStatus }>> {
  const found = new Map<string, { id: string; offset: number; status: LedgerStatus }>();
  if (ids.length === 0) return found;
  const rows = await db
    .selectFrom('reminder_ledger as r')
    .innerJoin('reminder_ledger as s', (join) =>
      join
        .onRef('s.license_id', '=', 'r.license_id')
        .onRef('s.kind', '=', 'r.kind')
        .onRef('s.expires_on', '=', 'r.expires_on')
        .onRef('s.recipient', '=', 'r.recipient')
        .onRef('s.offset_days', '<', 'r.offset_days'),
    )
    .select(['r.id as rowId', 's.id as smallerId', 's.offset_days as offset', 's.status as status'])
    .where('r.id', 'in', ids)
    .where('s.status', 'in', ['sent', 'pending', 'sending', 'unknown'])
    .orderBy('s.offset_days')
    .execute();
  for (const row of rows) if (!found.has(row.rowId)) found.set(row.rowId, { id: row.smallerId, offset: row.offset, status: row.status });
  return found;
}
