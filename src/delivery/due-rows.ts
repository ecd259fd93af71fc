import type { Kysely } from 'kysely';
import type { Database, IsoDate, LedgerStatus, NewLedgerRow, ReminderKind } from '../db/types';
import { recordEvents } from './events';
import { type SeriesMember, seriesKey } from './eligibility';

/** What the ledger holds for the given items of one kind: series key → its rows. */
export async function recordedSeries(db: Kysely<Database>, kind: ReminderKind, licenseIds: string[]): Promise<Map<string, SeriesMember[]>> {
  const series = new Map<string, SeriesMember[]>();
  for (let i = 0; i < licenseIds.length; i += 10_000) {
    const rows = await db
      .selectFrom('reminder_ledger')
      .select(['id', 'license_id', 'expires_on', 'recipient', 'offset_days', 'status'])
      .where('kind', '=', kind)
      .where('license_id', 'in', licenseIds.slice(i, i + 10_000))
      .execute();
    for (const row of rows) {
      const key = seriesKey(kind, row.license_id, row.expires_on, row.recipient);
      let members = series.get(key);
      if (!members) series.set(key, (members = []));
      members.push({ id: row.id, offset: row.offset_days, status: row.status });
    }
  }
  return series;
}

export interface RecordedRow {
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
 * Records due reminders (the ledger's entry transition: nothing → pending or skipped). A row whose
 * key is already in the ledger is left alone: the unique key decides, not a prior read, so two
 * scans at once record each reminder once. Returns only the rows this call created.
 */
export async function recordDue(db: Kysely<Database>, rows: NewLedgerRow[]): Promise<RecordedRow[]> {
  const recorded: RecordedRow[] = [];
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
      recorded.push(...created);
    });
  }
  return recorded;
}
