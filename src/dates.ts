import { DateTime } from 'luxon';
import type { IsoDate } from './db/types';

const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;

/** Parses a `YYYY-MM-DD` calendar date; throws a user-readable error otherwise. */
export function parseIsoDate(value: string): IsoDate {
  const parsed = DateTime.fromISO(value, { zone: 'UTC' });
  if (!ISO_DATE.test(value) || !parsed.isValid) throw new Error(`"${value}" is not a date in the form YYYY-MM-DD`);
  return value;
}

/** The calendar date in `timezone` at instant `now`: the business "today". */
export function businessDate(now: Date, timezone: string): IsoDate {
  const date = DateTime.fromJSDate(now, { zone: timezone }).toISODate();
  if (!date) throw new Error(`cannot compute a date in time zone ${timezone}`);
  return date;
}

/** Calendar arithmetic on dates: no clock time, so DST changes cannot shift it. */
export function addDays(date: IsoDate, days: number): IsoDate {
  return DateTime.fromISO(date, { zone: 'UTC' }).plus({ days }).toISODate() as IsoDate;
}

/** Whole calendar days from `from` to `to` (negative when `to` is earlier). */
export function daysBetween(from: IsoDate, to: IsoDate): number {
  const start = DateTime.fromISO(from, { zone: 'UTC' });
  const end = DateTime.fromISO(to, { zone: 'UTC' });
  return Math.round(end.diff(start, 'days').days);
}

/** Every date from `from` to `to` inclusive. */
export function dateRange(from: IsoDate, to: IsoDate): IsoDate[] {
  const dates: IsoDate[] = [];
  for (let date = from; date <= to; date = addDays(date, 1)) dates.push(date);
  return dates;
}
