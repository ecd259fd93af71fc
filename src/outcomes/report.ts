import type { Kysely } from 'kysely';
import type { Database, IsoDate } from '../db/types';
import { type ArmComparison, compareArms, type OutcomeRow, outcomeTable, type SentReminder } from './outcome-table';

export interface OutcomesReport {
  from: IsoDate | null;
  to: IsoDate | null;
  /** The business date the outcomes are known as of (today). */
  asOf: IsoDate;
  rows: OutcomeRow[];
  comparisons: ArmComparison[];
}

/**
 * Renewals attributed to the reminders sent between `from` and `to` (their business dates), as
 * known on `asOf`. Reminders sent before template versions were published (no version or arm
 * recorded) are shown under version "unknown", arm A.
 */
export async function outcomesReport(db: Kysely<Database>, range: { from?: IsoDate; to?: IsoDate; asOf: IsoDate }): Promise<OutcomesReport> {
  const rows = await db
    .selectFrom('reminder_ledger as l')
    .leftJoin('license_renewals as r', (join) => join.onRef('r.license_id', '=', 'l.license_id').onRef('r.kind', '=', 'l.kind').onRef('r.old_expires_on', '=', 'l.expires_on'))
    .select(['l.kind', 'l.offset_days', 'l.template_locale', 'l.template_version', 'l.template_arm', 'l.license_id', 'l.expires_on', 'l.scan_date', 'r.observed_on'])
    .where('l.sent_at', 'is not', null)
    .$if(range.from !== undefined, (q) => q.where('l.scan_date', '>=', range.from!))
    .$if(range.to !== undefined, (q) => q.where('l.scan_date', '<=', range.to!))
    .execute();
  const reminders: SentReminder[] = rows.map((r) => ({
    kind: r.kind,
    offset: r.offset_days,
    locale: r.template_locale ?? 'unknown',
    templateVersion: r.template_version ?? 'unknown',
    arm: r.template_arm ?? 'A',
    licenseId: r.license_id,
    expiresOn: r.expires_on,
    sentOn: r.scan_date,
    renewedOn: r.observed_on ?? null,
  }));
  const table = outcomeTable(reminders, range.asOf);
  return { from: range.from ?? null, to: range.to ?? null, asOf: range.asOf, rows: table, comparisons: compareArms(table) };
}
