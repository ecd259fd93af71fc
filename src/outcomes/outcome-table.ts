import { addDays, daysBetween } from '../dates';
import type { IsoDate } from '../db/types';
import { RENEWAL_WINDOW_DAYS } from './renewals';

/** One reminder sent, with its series' renewal if the scan saw one. */
export interface SentReminder {
  kind: string;
  offset: number;
  locale: string;
  templateVersion: string;
  arm: string;
  licenseId: string;
  expiresOn: IsoDate;
  /** The reminder's business date. */
  sentOn: IsoDate;
  /** The business date the scan saw the series renewed, or null. */
  renewedOn: IsoDate | null;
}

/** One row of the outcomes report (the fixed JSON form). */
export interface OutcomeRow {
  kind: string;
  offset: number;
  locale: string;
  templateVersion: string;
  arm: string;
  /** Reminders sent (one per recipient). */
  sent: number;
  /** Series (item, expiry date) renewed on or before the expiry date, after the reminder. */
  renewedBeforeExpiry: number;
  /** Series renewed within 30 days after the expiry date. */
  renewedAfterExpiry: number;
  /** Series not renewed by 30 days after the expiry date (series still inside that window are in none of the three). */
  notRenewed: number;
  /** Median days from the reminder to the renewal, over the renewed series; null when none. */
  medianDaysToRenewal: number | null;
}

/** Arms A and B of one kind × offset × locale compared. */
export interface ArmComparison {
  kind: string;
  offset: number;
  locale: string;
  /** Series decided (renewed, or not renewed once the window closed) and renewed, per arm. */
  a: { series: number; renewed: number; rate: number | null };
  b: { series: number; renewed: number; rate: number | null };
  /** Renewal rate of B minus A, and its 95 % confidence interval (normal approximation). */
  difference: number | null;
  confidenceInterval: [number, number] | null;
  significant: boolean;
  verdict: string;
}

type Outcome = 'before' | 'after' | 'not' | 'open';

/** Where a series stands on `asOf`, for a reminder sent on `sentOn`. */
export function seriesOutcome(expiresOn: IsoDate, renewedOn: IsoDate | null, asOf: IsoDate): Outcome {
  const windowEnd = addDays(expiresOn, RENEWAL_WINDOW_DAYS);
  if (renewedOn !== null && renewedOn <= expiresOn) return 'before';
  if (renewedOn !== null && renewedOn <= windowEnd) return 'after';
  return asOf > windowEnd ? 'not' : 'open';
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * The outcomes table: per kind × offset × locale × template version × arm, reminders sent and
 * what became of their series. A renewal counts for the reminders of its series sent on or
 * before the day it was seen; a reminder sent after it does not claim it.
 */
export function outcomeTable(reminders: readonly SentReminder[], asOf: IsoDate): OutcomeRow[] {
  const groups = new Map<string, { row: OutcomeRow; series: Map<string, { sentOn: IsoDate; expiresOn: IsoDate; renewedOn: IsoDate | null }> }>();
  for (const r of reminders) {
    const key = [r.kind, r.offset, r.locale, r.templateVersion, r.arm].join('|');
    let group = groups.get(key);
    if (!group) {
      group = {
        row: { kind: r.kind, offset: r.offset, locale: r.locale, templateVersion: r.templateVersion, arm: r.arm, sent: 0, renewedBeforeExpiry: 0, renewedAfterExpiry: 0, notRenewed: 0, medianDaysToRenewal: null },
        series: new Map(),
      };
      groups.set(key, group);
    }
    group.row.sent += 1;
    const seriesKey = `${r.licenseId}|${r.expiresOn}`;
    const known = group.series.get(seriesKey);
    // Several recipients of one series: the earliest reminder is the one that started the clock.
    if (!known || r.sentOn < known.sentOn) group.series.set(seriesKey, { sentOn: r.sentOn, expiresOn: r.expiresOn, renewedOn: r.renewedOn });
  }
  const rows: OutcomeRow[] = [];
  for (const { row, series } of groups.values()) {
    const days: number[] = [];
    for (const s of series.values()) {
      const renewedOn = s.renewedOn !== null && s.renewedOn >= s.sentOn ? s.renewedOn : null;
      const outcome = seriesOutcome(s.expiresOn, renewedOn, asOf);
      if (outcome === 'before') row.renewedBeforeExpiry += 1;
      else if (outcome === 'after') row.renewedAfterExpiry += 1;
      else if (outcome === 'not') row.notRenewed += 1;
      if (renewedOn && (outcome === 'before' || outcome === 'after')) days.push(daysBetween(s.sentOn, renewedOn));
    }
    row.medianDaysToRenewal = median(days);
    rows.push(row);
  }
  return rows.sort(
    (a, b) => a.kind.localeCompare(b.kind) || b.offset - a.offset || a.locale.localeCompare(b.locale) || a.templateVersion.localeCompare(b.templateVersion) || a.arm.localeCompare(b.arm),
  );
}

const Z_95 = 1.959964;

/**
 * Arm B against arm A for every kind × offset × locale that ran both: the difference in renewal
 * rate (over decided series) with a 95 % Wald interval; "not yet significant" while it spans 0.
 */
export function compareArms(rows: readonly OutcomeRow[]): ArmComparison[] {
  const cells = new Map<string, { kind: string; offset: number; locale: string; A: { series: number; renewed: number }; B: { series: number; renewed: number } }>();
  for (const row of rows) {
    if (row.arm !== 'A' && row.arm !== 'B') continue;
    const key = `${row.kind}|${row.offset}|${row.locale}`;
    const cell = cells.get(key) ?? { kind: row.kind, offset: row.offset, locale: row.locale, A: { series: 0, renewed: 0 }, B: { series: 0, renewed: 0 } };
    const renewed = row.renewedBeforeExpiry + row.renewedAfterExpiry;
    cell[row.arm].series += renewed + row.notRenewed;
    cell[row.arm].renewed += renewed;
    cells.set(key, cell);
  }
  const comparisons: ArmComparison[] = [];
  for (const cell of cells.values()) {
    if (!rows.some((r) => r.arm === 'B' && r.kind === cell.kind && r.offset === cell.offset && r.locale === cell.locale)) continue;
    const rate = (x: { series: number; renewed: number }) => (x.series > 0 ? x.renewed / x.series : null);
    const pa = rate(cell.A);
    const pb = rate(cell.B);
    let difference: number | null = null;
    let interval: [number, number] | null = null;
    let significant = false;
    if (pa !== null && pb !== null) {
      difference = pb - pa;
      const se = Math.sqrt((pa * (1 - pa)) / cell.A.series + (pb * (1 - pb)) / cell.B.series);
      interval = [difference - Z_95 * se, difference + Z_95 * se];
      significant = se > 0 && (interval[0] > 0 || interval[1] < 0);
    }
    const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
    const verdict =
      difference === null || interval === null
        ? 'not yet significant: an arm has no decided series yet'
        : significant
          ? `${difference > 0 ? 'B' : 'A'} renews more: ${difference > 0 ? '+' : ''}${pct(difference)} (95 % CI ${pct(interval[0])} to ${pct(interval[1])})`
          : `not yet significant: ${difference >= 0 ? '+' : ''}${pct(difference)} (95 % CI ${pct(interval[0])} to ${pct(interval[1])})`;
    comparisons.push({
      kind: cell.kind,
      offset: cell.offset,
      locale: cell.locale,
      a: { ...cell.A, rate: pa },
      b: { ...cell.B, rate: pb },
      difference,
      confidenceInterval: interval,
      significant,
      verdict,
    });
  }
  return comparisons.sort((a, b) => a.kind.localeCompare(b.kind) || b.offset - a.offset || a.locale.localeCompare(b.locale));
}

export const OUTCOME_COLUMNS = ['kind', 'offset', 'locale', 'templateVersion', 'arm', 'sent', 'renewedBeforeExpiry', 'renewedAfterExpiry', 'notRenewed', 'medianDaysToRenewal'] as const;

/** RFC 4180 CSV of the rows, with the JSON field names as the header. */
export function outcomesCsv(rows: readonly OutcomeRow[]): string {
  const cell = (value: unknown) => {
    const text = value === null || value === undefined ? '' : String(value);
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return [OUTCOME_COLUMNS.join(','), ...rows.map((row) => OUTCOME_COLUMNS.map((c) => cell(row[c])).join(','))].map((line) => `${line}\r\n`).join('');
}
