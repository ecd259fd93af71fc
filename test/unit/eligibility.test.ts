import fc from 'fast-check';
import type { LedgerStatus } from '../../src/db/types';
import { eligibility, ON_ITS_WAY, type PortalState, type SeriesMember, smallestOnItsWay } from '../../src/delivery/eligibility';

// Fewer runs under the mutation run (test/mutation/jest.config.js), which repeats them per mutant.
const PROPERTY_RUNS = Number(process.env.PROPERTY_RUNS ?? 1000);
const E = '2027-06-30';
const clear: PortalState = {
  license: { status: 'active', licenseType: 'annual', expiresOn: E, maintenanceExpiresOn: null },
  contacts: [{ unsubscribed: false }],
  hold: null,
  suppression: null,
};
const annual = (offset: number, forced = false) => ({ kind: 'license' as const, offset, expiresOn: E, forced });
const reason = (v: ReturnType<typeof eligibility>) => (v.send ? null : v.reason);

describe('eligibility: the portal and operators', () => {
  it('sends an active, unchanged, unheld license to a subscribed contact', () => {
    expect(eligibility(annual(30), clear, [])).toEqual({ send: true });
  });

  it.each([
    ['license no longer exists', { ...clear, license: null }],
    ['cancelled: license status is cancelled', { ...clear, license: { ...clear.license!, status: 'cancelled' } }],
    ['license type changed to lifetime', { ...clear, license: { ...clear.license!, licenseType: 'lifetime' } }],
    ['renewed: expiry moved to 2028-06-30', { ...clear, license: { ...clear.license!, expiresOn: '2028-06-30' } }],
    ['expiry date removed', { ...clear, license: { ...clear.license!, expiresOn: null } }],
    ['on hold: disputed', { ...clear, hold: 'disputed' }],
    ['suppressed: bounced', { ...clear, suppression: 'bounced' }],
    ['contact no longer on the order', { ...clear, contacts: [] }],
    ['unsubscribed', { ...clear, contacts: [{ unsubscribed: true }] }],
  ] as Array<[string, PortalState]>)('skips with "%s"', (expected, portal) => {
    expect(reason(eligibility(annual(30), portal, []))).toBe(expected);
  });

  it('a contact listed twice on the order counts as subscribed while one entry is', () => {
    expect(eligibility(annual(30), { ...clear, contacts: [{ unsubscribed: true }, { unsubscribed: false }] }, [])).toEqual({ send: true });
  });

  it('reads the maintenance date for maintenance reminders', () => {
    const lifetime: PortalState = { ...clear, license: { status: 'active', licenseType: 'lifetime', expiresOn: null, maintenanceExpiresOn: E } };
    expect(eligibility({ kind: 'maintenance', offset: 30, expiresOn: E }, lifetime, [])).toEqual({ send: true });
    expect(reason(eligibility({ kind: 'maintenance', offset: 30, expiresOn: '2027-01-01' }, lifetime, []))).toBe(`renewed: expiry moved to ${E}`);
  });

  it('a forced re-send is exempt from the series, never from the portal', () => {
    const series: SeriesMember[] = [{ id: '1', offset: 14, status: 'sent' }];
    expect(eligibility(annual(30, true), clear, series)).toEqual({ send: true });
    expect(reason(eligibility(annual(30, true), { ...clear, hold: 'x' }, series))).toBe('on hold: x');
  });
});

describe('eligibility: the series', () => {
  // The oracle is written out here, not read from ON_ITS_WAY: what may have reached the reader.
  const MAY_HAVE_REACHED_READER: readonly LedgerStatus[] = ['sent', 'pending', 'sending', 'unknown'];

  it('ON_ITS_WAY, derived from the transition table, is exactly what may have reached the reader', () => {
    expect([...ON_ITS_WAY].sort()).toEqual([...MAY_HAVE_REACHED_READER].sort());
  });

  it.each(MAY_HAVE_REACHED_READER)('a smaller offset that is %s blocks a larger one', (status) => {
    expect(reason(eligibility(annual(30), clear, [{ id: '1', offset: 14, status }]))).toMatch(/^superseded: the 14-day reminder/);
  });

  it.each(['failed', 'skipped'] as const)('a smaller offset that is %s does not block', (status) => {
    expect(eligibility(annual(30), clear, [{ id: '1', offset: 14, status }])).toEqual({ send: true });
  });

  it('larger offsets never block a smaller one', () => {
    expect(eligibility(annual(7), clear, [{ id: '1', offset: 30, status: 'sent' }, { id: '2', offset: 14, status: 'unknown' }])).toEqual({ send: true });
  });

  const statusArb = fc.constantFrom<LedgerStatus>('pending', 'sending', 'sent', 'failed', 'skipped', 'unknown');
  const seriesArb = fc.uniqueArray(fc.record({ offset: fc.integer({ min: 0, max: 120 }), status: statusArb }), { selector: (m) => m.offset, maxLength: 8 });

  it('over random series: sends exactly when no smaller offset is on its way (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 120 }), seriesArb, (offset, members) => {
        const series = members.filter((m) => m.offset !== offset).map((m, i) => ({ id: String(i), ...m }));
        const verdict = eligibility(annual(offset), clear, series);
        const blocking = series.filter((m) => m.offset < offset && MAY_HAVE_REACHED_READER.includes(m.status));
        expect(verdict.send).toBe(blocking.length === 0);
        if (!verdict.send) expect(verdict.reason).toContain(`the ${Math.min(...blocking.map((m) => m.offset))}-day reminder`);
      }),
      { numRuns: PROPERTY_RUNS },
    );
  });

  it('over random series, whatever order a worker, a retry and a replay decide in, one series never has two offsets sent where a smaller went first (property)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 120 }), { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 30 }), (offsets, picks) => {
        // Rows pending in random order; each decision sends (status sent) or skips.
        const series: SeriesMember[] = offsets.map((offset, i) => ({ id: String(i), offset, status: 'pending' as LedgerStatus }));
        const order = picks.map((p) => p % series.length);
        for (const index of [...order, ...series.keys()]) {
          const member = series[index]!;
          if (member.status !== 'pending') continue;
          const others = series.filter((m) => m !== member);
          member.status = eligibility(annual(member.offset), clear, others).send ? 'sent' : 'skipped';
        }
        const sent = series.filter((m) => m.status === 'sent');
        // Never a larger offset sent while a smaller one of the series was sent or pending before it.
        for (const m of sent) expect(smallestOnItsWay(m.offset, sent.filter((o) => o !== m))).toBeUndefined();
      }),
      { numRuns: Math.ceil(PROPERTY_RUNS / 2) },
    );
  });
});
