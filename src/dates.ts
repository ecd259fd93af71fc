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

const MS_PER_DAY = 86_400_000;

/**
 * Days since 1970-01-01 of a calendar date. Whole days in UTC have no clock time and no DST,
 * so day arithmetic is integer arithmetic: the scan does it for every candidate, where luxon
 * objects cost ~15 % of its CPU.
 */
export function toEpochDay(date: IsoDate): number {
  const ms = new Date(0).setUTCFullYear(Number(date.slice(0, 4)), Number(date.slice(5, 7)) - 1, Number(date.slice(8, 10)));
  return Math.round(ms / MS_PER_DAY);
}

/** The calendar date `day` days after 1970-01-01. */
export function fromEpochDay(day: number): IsoDate {
  return new Date(day * MS_PER_DAY).toISOString().slice(0, 10);
}

/** Calendar arithmetic on dates: no clock time, so DST changes cannot shift it. */
export function addDays(date: IsoDate, days: number): IsoDate {
  return fromEpochDay(toEpochDay(date) + days);
}

/** Whole calendar days from `from` to `to` (negative when `to` is earlier). */
export function daysBetween(from: IsoDate, to: IsoDate): number {
  return toEpochDay(to) - toEpochDay(from);
}

/** Every date from `from` to `to` inclusive. */
export function dateRange(from: IsoDate, to: IsoDate): IsoDate[] {
  const dates: IsoDate[] = [];
  for (let day = toEpochDay(from), last = toEpochDay(to); day <= last; day++) dates.push(fromEpochDay(day));
  return dates;
}
