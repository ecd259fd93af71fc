import type { Kysely } from 'kysely';
import type { Database, IsoDate, ReminderKind } from '../db/types';
import { type SeriesMember, seriesKey } from '../delivery/eligibility';
import { addDays } from '../dates';
import { planScan, type ScanConfig } from './run-scan';

export interface ForecastDay {
  date: IsoDate;
  /** Emails (one per recipient, kind and offset) and the reminders they carry, per kind and offset. */
  sends: Array<{ kind: ReminderKind; offset: number; emails: number; reminders: number; late: number }>;
  skipped: number;
}

/**
 * What daily scans from `from` for `days` days would send, given today's portal data and
 * ledger: each simulated day sees what the days before it would have recorded. Writes nothing.
 */
export async function forecast(db: Kysely<Database>, config: ScanConfig, from: IsoDate, days: number): Promise<ForecastDay[]> {
  const simulated = new Map<string, SeriesMember[]>();
  const result: ForecastDay[] = [];
  for (let i = 0; i < days; i++) {
    const date = addDays(from, i);
    const planned = await planScan(db, config, date, simulated);
    const sends = new Map<string, { kind: ReminderKind; offset: number; groups: Set<string>; reminders: number; late: number }>();
    let skipped = 0;
    for (const row of planned) {
      const key = seriesKey(row.kind, String(row.license_id), row.expires_on, row.recipient);
      simulated.set(key, [...(simulated.get(key) ?? []), { id: `forecast-${i}`, offset: row.offset_days, status: row.status === 'pending' ? 'sent' : 'skipped' }]);
      if (row.status !== 'pending') {
        skipped += 1;
        continue;
      }
      const bucketKey = `${row.kind}|${row.offset_days}`;
      const bucket = sends.get(bucketKey) ?? { kind: row.kind, offset: row.offset_days, groups: new Set(), reminders: 0, late: 0 };
      bucket.groups.add(row.group_key);
      bucket.reminders += 1;
      if (row.days_left < row.offset_days) bucket.late += 1;
      sends.set(bucketKey, bucket);
    }
    result.push({
      date,
      skipped,
      sends: [...sends.values()]
        .sort((a, b) => a.kind.localeCompare(b.kind) || b.offset - a.offset)
        .map(({ kind, offset, groups, reminders, late }) => ({ kind, offset, emails: groups.size, reminders, late })),
    });
  }
  return result;
}
