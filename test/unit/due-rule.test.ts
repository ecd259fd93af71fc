import fc from 'fast-check';
import type { LedgerStatus } from '../../src/db/types';
import { candidateDaysLeft, dueOffsets, planSeries } from '../../src/scan/due-rule';

const OFFSETS = [90, 60, 30, 14, 7, 0];

describe('dueOffsets', () => {
  it.each(OFFSETS)('sends offset %i on its own day', (k) => {
    expect(dueOffsets(k, OFFSETS, 3)).toEqual({ send: k, superseded: [] });
  });

  it('sends nothing on days that are not an offset or inside a catch-up window', () => {
    for (const daysLeft of [91, 89, 61, 59, 31, 29, 15, 13, 8, 6, 1, -4, 100]) {
      expect(dueOffsets(daysLeft, OFFSETS, 0).send).toBeNull();
    }
    expect(dueOffsets(85, OFFSETS, 3).send).toBeNull();
  });

  it('catches up an offset missed by up to CATCHUP_DAYS, with the true days left', () => {
    expect(dueOffsets(28, OFFSETS, 3)).toEqual({ send: 30, superseded: [] });
    expect(dueOffsets(27, OFFSETS, 3)).toEqual({ send: 30, superseded: [] });
    expect(dueOffsets(26, OFFSETS, 3)).toEqual({ send: null, superseded: [] });
  });

  it('sends only the smallest candidate and supersedes the rest', () => {
    expect(dueOffsets(7, [14, 10, 7, 0], 7)).toEqual({ send: 7, superseded: [10, 14] });
  });

  it('sends the expiry-day reminder late after expiry, inside the window only', () => {
    expect(dueOffsets(-2, OFFSETS, 3)).toEqual({ send: 0, superseded: [] });
    expect(dueOffsets(-3, OFFSETS, 3)).toEqual({ send: 0, superseded: [] });
    expect(dueOffsets(-4, OFFSETS, 3).send).toBeNull();
  });

  it('a license loaded with 20 days left first hears at 14', () => {
    expect(dueOffsets(20, OFFSETS, 3).send).toBeNull();
    expect(dueOffsets(14, OFFSETS, 3).send).toBe(14);
  });

  it('follows configured offsets', () => {
    expect(dueOffsets(45, [45, 5], 0).send).toBe(45);
    expect(dueOffsets(30, [45, 5], 0).send).toBeNull();
  });
});

describe('planSeries', () => {
  const none = new Map<number, LedgerStatus>();

  it('plans a pending row for a due offset that is not recorded', () => {
    expect(planSeries(30, OFFSETS, 3, none)).toEqual([{ offset: 30, status: 'pending', reason: null }]);
  });

  it('adds nothing for an offset already recorded, whatever its status', () => {
    for (const status of ['pending', 'sending', 'sent', 'failed', 'skipped', 'unknown'] as const) {
      expect(planSeries(30, OFFSETS, 3, new Map([[30, status]]))).toEqual([]);
    }
  });

  it('records superseded offsets as skipped', () => {
    const plan = planSeries(7, [14, 10, 7, 0], 7, none);
    expect(plan).toEqual([
      { offset: 7, status: 'pending', reason: null },
      { offset: 10, status: 'skipped', reason: expect.stringContaining('superseded') },
      { offset: 14, status: 'skipped', reason: expect.stringContaining('superseded') },
    ]);
  });

  it('never sends an offset once a smaller one of the same expiry is recorded', () => {
    const plan = planSeries(30, OFFSETS, 3, new Map<number, LedgerStatus>([[14, 'sent']]));
    expect(plan).toEqual([{ offset: 30, status: 'skipped', reason: expect.stringContaining('14-day') }]);
  });

  it('a smaller offset that was itself skipped does not block', () => {
    expect(planSeries(30, OFFSETS, 3, new Map<number, LedgerStatus>([[14, 'skipped']]))[0]?.status).toBe('pending');
  });
});

describe('candidateDaysLeft', () => {
  it('covers each offset and its catch-up window, and the late expiry day', () => {
    const days = candidateDaysLeft(OFFSETS, 3);
    expect(days).toEqual(expect.arrayContaining([90, 87, 60, 57, 30, 27, 14, 11, 7, 4, 0, -3]));
    expect(days).not.toContain(-4);
    expect(days).not.toContain(86);
    expect(days).toHaveLength(24);
  });
});

describe('the due-date rule over sequences of scan days (property)', () => {
  /** Replays scans on the given days-left values (descending) against an in-memory ledger. */
  function simulate(scanDays: number[], offsets: number[], catchup: number) {
    const ledger = new Map<number, LedgerStatus>();
    const sends: number[] = [];
    for (const daysLeft of scanDays) {
      for (const step of planSeries(daysLeft, offsets, catchup, ledger)) {
        expect(ledger.has(step.offset)).toBe(false);
        ledger.set(step.offset, step.status === 'pending' ? 'sent' : 'skipped');
        if (step.status === 'pending') sends.push(step.offset);
      }
    }
    return sends;
  }

  const offsetsArb = fc.uniqueArray(fc.integer({ min: 0, max: 120 }), { minLength: 1, maxLength: 8 }).map((o) => o.sort((a, b) => b - a));

  it('never sends one key twice, and sends in strictly decreasing offsets', () => {
    fc.assert(
      fc.property(
        offsetsArb,
        fc.integer({ min: 0, max: 10 }),
        fc.array(fc.integer({ min: -15, max: 130 }), { maxLength: 60 }),
        (offsets, catchup, days) => {
          const scanDays = [...days].sort((a, b) => b - a);
          const sends = simulate(scanDays, offsets, catchup);
          expect(new Set(sends).size).toBe(sends.length);
          for (let i = 1; i < sends.length; i++) expect(sends[i]).toBeLessThan(sends[i - 1] as number);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('repeating scan days (retries, replays, two daemons) changes nothing', () => {
    fc.assert(
      fc.property(offsetsArb, fc.integer({ min: 0, max: 10 }), fc.array(fc.integer({ min: -15, max: 130 }), { maxLength: 40 }), (offsets, catchup, days) => {
        const scanDays = [...days].sort((a, b) => b - a);
        const doubled = scanDays.flatMap((d) => [d, d]);
        expect(simulate(doubled, offsets, catchup)).toEqual(simulate(scanDays, offsets, catchup));
      }),
      { numRuns: 300 },
    );
  });

  it('sends every offset exactly once when the scan runs daily', () => {
    fc.assert(
      fc.property(offsetsArb, fc.integer({ min: 0, max: 10 }), (offsets, catchup) => {
        const daily: number[] = [];
        for (let d = 130; d >= -15; d--) daily.push(d);
        expect(simulate(daily, offsets, catchup)).toEqual(offsets);
      }),
      { numRuns: 300 },
    );
  });

  it('with gaps no longer than the window, still sends every offset', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 1000 }), (catchup, seed) => {
        const days: number[] = [];
        let rng = seed;
        for (let d = 95; d >= -10; ) {
          days.push(d);
          rng = (rng * 1103515245 + 12345) % 2147483648;
          d -= 1 + (rng % (catchup + 1));
        }
        expect(simulate(days, OFFSETS, catchup)).toEqual(OFFSETS);
      }),
      { numRuns: 300 },
    );
  });
});
