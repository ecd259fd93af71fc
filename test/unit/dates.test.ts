import { addDays, businessDate, dateRange, daysBetween, parseIsoDate } from '../../src/dates';

describe('business dates', () => {
  it('uses the date in the business time zone, not UTC', () => {
    const instant = new Date('2026-03-01T23:30:00Z');
    expect(businessDate(instant, 'UTC')).toBe('2026-03-01');
    expect(businessDate(instant, 'Asia/Tokyo')).toBe('2026-03-02');
    expect(businessDate(new Date('2026-03-02T03:00:00Z'), 'America/Los_Angeles')).toBe('2026-03-01');
  });

  it('counts calendar days across DST changes', () => {
    // Europe/Berlin springs forward on 2026-03-29 and falls back on 2026-10-25.
    expect(daysBetween('2026-03-28', '2026-03-30')).toBe(2);
    expect(daysBetween('2026-10-24', '2026-10-26')).toBe(2);
    expect(addDays('2026-03-29', 1)).toBe('2026-03-30');
    expect(addDays('2026-11-01', -7)).toBe('2026-10-25');
    // 23- and 25-hour days still have one date each.
    expect(businessDate(new Date('2026-03-29T22:30:00Z'), 'Europe/Berlin')).toBe('2026-03-30');
    expect(businessDate(new Date('2026-10-25T22:30:00Z'), 'Europe/Berlin')).toBe('2026-10-25');
  });

  it('handles month ends and leap days', () => {
    expect(addDays('2028-02-28', 1)).toBe('2028-02-29');
    expect(addDays('2027-02-28', 1)).toBe('2027-03-01');
    expect(daysBetween('2026-12-31', '2027-03-31')).toBe(90);
    expect(dateRange('2026-12-30', '2027-01-02')).toEqual(['2026-12-30', '2026-12-31', '2027-01-01', '2027-01-02']);
  });

  it('rejects dates that are not YYYY-MM-DD', () => {
    expect(() => parseIsoDate('2026-02-30')).toThrow(/YYYY-MM-DD/);
    expect(() => parseIsoDate('27/11/2026')).toThrow(/YYYY-MM-DD/);
    expect(parseIsoDate('2026-11-27')).toBe('2026-11-27');
  });
});
