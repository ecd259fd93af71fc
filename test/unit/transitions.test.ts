import type { LedgerStatus } from '../../src/db/types';
import {
  allows,
  attemptBounds,
  backoffDelay,
  FORCE_ONLY,
  leaseSettled,
  NEEDS_OPERATOR,
  ON_ITS_WAY,
  ON_ITS_WAY_WITHOUT_OPERATOR,
  OPEN_STATUSES,
  outcomeTransition,
  REPLAYABLE,
  replayMove,
  SETTLED_STATUSES,
  settleTransition,
  TRANSITIONS,
  transitionsFrom,
} from '../../src/delivery/transitions';

// Every expectation is written out by hand: the table is checked against the rules of the
// issue, not against itself.
const ALL: LedgerStatus[] = ['pending', 'sending', 'sent', 'failed', 'skipped', 'unknown'];

describe('the transition table', () => {
  it('`sent` is reached only from `sending`, by the lease owner', () => {
    const toSent = Object.entries(TRANSITIONS).filter(([, t]) => t.to === 'sent');
    expect(toSent.map(([name]) => name)).toEqual(['sent']);
    expect(TRANSITIONS.sent).toMatchObject({ from: ['sending'], guard: 'lease', lease: 'release', event: 'sent' });
  });

  it('no worker or sweep move leaves `unknown`, `failed` or `sent`; only the operator does, and a bounce report', () => {
    for (const status of ['unknown', 'failed', 'sent', 'bounced'] as const) {
      expect(transitionsFrom(status).map((n) => TRANSITIONS[n].by).filter((by) => by === 'worker' || by === 'sweep')).toEqual([]);
    }
    expect(transitionsFrom('unknown')).toEqual(['replay']);
    expect(transitionsFrom('failed')).toEqual(['replay']);
    expect(transitionsFrom('sent')).toEqual(['force', 'bounce']);
    expect(transitionsFrom('bounced')).toEqual(['force']);
    expect(TRANSITIONS.bounce).toMatchObject({ from: ['sent'], to: 'bounced', by: 'report', guard: 'settled', keepsReason: true });
    expect(transitionsFrom('skipped')).toEqual(['replay']);
    expect(allows('retry', 'unknown')).toBe(false);
    expect(allows('retry', 'sending')).toBe(true);
  });

  it('what leaves each status', () => {
    expect(transitionsFrom('pending')).toEqual(['claim']);
    expect(transitionsFrom('sending')).toEqual(['skip', 'unreachable', 'retry', 'sent', 'failed', 'unknown', 'settlePending', 'settleUnknown']);
    // The hand-over mark changes no status.
    expect(TRANSITIONS.handOver).toMatchObject({ from: ['sending'], to: 'sending', event: null, handedOver: 'mark', lease: 'extend', guard: 'lease' });
  });

  it('each move back to pending clears the hand-over mark and the lease, and only the claim takes one', () => {
    for (const [name, t] of Object.entries(TRANSITIONS)) {
      if (t.to === 'pending') expect({ name, handedOver: t.handedOver, lease: t.lease }).toEqual({ name, handedOver: 'clear', lease: 'clear' });
      if (t.lease === 'take') expect(name).toBe('claim');
    }
    expect(TRANSITIONS.claim).toMatchObject({ from: ['pending'], to: 'sending', attempts: 1, guard: 'none', handedOver: 'clear', event: 'claimed' });
  });

  it('attempts: counted at the claim, given back when the server was not reached, nowhere else', () => {
    const counted = Object.entries(TRANSITIONS)
      .filter(([, t]) => t.attempts !== 0)
      .map(([name, t]) => [name, t.attempts]);
    expect(counted).toEqual([
      ['claim', 1],
      ['unreachable', -1],
    ]);
  });

  it('guards: worker outcomes need the lease, the sweep an expired one, operators a settled one', () => {
    const guards = Object.fromEntries(Object.entries(TRANSITIONS).map(([name, t]) => [name, t.guard]));
    expect(guards).toEqual({
      claim: 'none',
      skip: 'lease',
      handOver: 'lease',
      unreachable: 'lease',
      retry: 'lease',
      sent: 'lease',
      failed: 'lease',
      unknown: 'lease',
      settlePending: 'expired',
      settleUnknown: 'expired',
      replay: 'settled',
      force: 'settled',
      bounce: 'settled',
    });
  });

  it('events and reasons', () => {
    const events = Object.fromEntries(Object.entries(TRANSITIONS).map(([name, t]) => [name, [t.event, t.keepsReason, t.by]]));
    expect(events).toEqual({
      claim: ['claimed', false, 'worker'],
      skip: ['skipped', true, 'worker'],
      handOver: [null, false, 'worker'],
      unreachable: ['retry', false, 'worker'],
      retry: ['retry', false, 'worker'],
      sent: ['sent', false, 'worker'],
      failed: ['failed', true, 'worker'],
      unknown: ['unknown', true, 'worker'],
      settlePending: ['retry', false, 'sweep'],
      settleUnknown: ['unknown', true, 'sweep'],
      replay: ['replayed', false, 'operator'],
      force: ['replayed', false, 'operator'],
      bounce: ['bounced', true, 'report'],
    });
    // The sweep keeps the expired lease on an unknown row, so a replay waits out its grace.
    expect(TRANSITIONS.settleUnknown).toMatchObject({ from: ['sending'], to: 'unknown', lease: 'keep', handedOver: 'keep' });
    expect(TRANSITIONS.settlePending).toMatchObject({ from: ['sending'], to: 'pending' });
    for (const name of ['sent', 'failed', 'unknown', 'skip'] as const) expect(TRANSITIONS[name].lease).toBe('release');
    expect(TRANSITIONS.skip).toMatchObject({ from: ['sending'], to: 'skipped' });
    expect(TRANSITIONS.failed).toMatchObject({ from: ['sending'], to: 'failed', handedOver: 'keep' });
    expect(TRANSITIONS.unknown).toMatchObject({ from: ['sending'], to: 'unknown', handedOver: 'keep' });
    expect(TRANSITIONS.sent.handedOver).toBe('keep');
    expect(TRANSITIONS.retry).toMatchObject({ from: ['sending'], to: 'pending' });
    expect(TRANSITIONS.unreachable).toMatchObject({ from: ['sending'], to: 'pending' });
    expect(TRANSITIONS.replay).toMatchObject({ from: ['failed', 'unknown', 'skipped'], to: 'pending', lease: 'clear', handedOver: 'clear' });
    expect(TRANSITIONS.force).toMatchObject({ from: ['sent', 'bounced'], to: 'pending', lease: 'clear', handedOver: 'clear' });
  });
});

describe('status lists derived from the table', () => {
  it('open, settled, on its way, needing an operator', () => {
    expect(OPEN_STATUSES).toEqual(['pending', 'sending']);
    expect(SETTLED_STATUSES).toEqual(['sent', 'failed', 'skipped', 'unknown', 'bounced']);
    expect(ON_ITS_WAY_WITHOUT_OPERATOR).toEqual(['pending', 'sending']);
    expect(ON_ITS_WAY).toEqual(['pending', 'sending', 'sent', 'unknown']);
    expect(NEEDS_OPERATOR).toEqual(['failed', 'unknown']);
    expect(REPLAYABLE).toEqual(['failed', 'unknown', 'skipped']);
    expect(FORCE_ONLY).toEqual(['sent', 'bounced']);
  });

  it("replay's mapping", () => {
    const map = (force: boolean) => Object.fromEntries(ALL.map((s) => [s, replayMove(s, force)]));
    expect(map(false)).toEqual({ pending: 'already-pending', sending: 'in-flight', sent: 'refuse-sent', failed: 'replay', skipped: 'replay', unknown: 'replay' });
    expect(map(true)).toEqual({ pending: 'already-pending', sending: 'in-flight', sent: 'force', failed: 'replay', skipped: 'replay', unknown: 'replay' });
  });
});

describe('leases', () => {
  const now = new Date('2030-01-01T12:00:00.000Z');
  const at = (ms: number) => new Date(now.getTime() + ms);

  it('a replay waits until the lease and its grace are over', () => {
    expect(leaseSettled(null, now, 10_000)).toBe(true);
    expect(leaseSettled(at(5000), now, 0)).toBe(false);
    expect(leaseSettled(at(0), now, 0)).toBe(false);
    expect(leaseSettled(at(-1), now, 0)).toBe(true);
    expect(leaseSettled(at(-5000), now, 10_000)).toBe(false);
    expect(leaseSettled(at(-10_000), now, 10_000)).toBe(false);
    expect(leaseSettled(at(-10_001), now, 10_000)).toBe(true);
  });

  it('an expired lease goes back to pending only when it is known that nothing was handed over', () => {
    expect(settleTransition({ handedOverAt: null, leased: true })).toBe('settlePending');
    expect(settleTransition({ handedOverAt: now, leased: true })).toBe('settleUnknown');
    // A row without a lease (claimed by the previous release) may have been handed over.
    expect(settleTransition({ handedOverAt: null, leased: false })).toBe('settleUnknown');
    expect(settleTransition({ handedOverAt: now, leased: false })).toBe('settleUnknown');
  });

  it('the SMTP deadline and the outcome retry together end before the lease', () => {
    expect(attemptBounds(20_000)).toEqual({ smtpDeadlineMs: 10_000, recordWithinMs: 8000, heartbeatMs: 4000 });
    for (const lease of [2000, 2001, 4999, 20_000, 60_001, 600_000]) {
      const b = attemptBounds(lease);
      expect(b.smtpDeadlineMs + b.recordWithinMs).toBeLessThan(lease);
      expect(b.smtpDeadlineMs).toBeGreaterThan(0);
      expect(b.recordWithinMs).toBeGreaterThan(0);
      expect(b.heartbeatMs * 4).toBeLessThanOrEqual(lease);
    }
    expect(attemptBounds(2001)).toEqual({ smtpDeadlineMs: 1000, recordWithinMs: 800, heartbeatMs: 400 });
  });
});

describe('outcomes and the attempt budget', () => {
  it.each([
    ['accepted', 1, 'sent'],
    ['accepted', 9, 'sent'],
    ['permanent', 1, 'failed'],
    ['ambiguous', 1, 'unknown'],
    ['ambiguous', 9, 'unknown'],
    ['transient', 1, 'retry'],
    ['transient', 2, 'retry'],
    ['transient', 3, 'failed'],
    ['transient', 4, 'failed'],
    ['unreachable', 3, 'unreachable'],
    ['unreachable', 9, 'unreachable'],
  ] as const)('%s on the row\'s attempt %i of 3: %s', (outcome, attempts, expected) => {
    expect(outcomeTransition(outcome, attempts, 3)).toBe(expected);
  });

  it('back-off: doubling from the base, capped', () => {
    expect([1, 2, 3, 4, 5, 6, 40].map((n) => backoffDelay(n, 10_000, 60_000))).toEqual([10_000, 20_000, 40_000, 60_000, 60_000, 60_000, 60_000]);
    expect(backoffDelay(0, 10_000, 60_000)).toBe(10_000);
    expect(backoffDelay(3, 50, 1_000_000)).toBe(200);
    expect(backoffDelay(2, 0, 60_000)).toBe(0);
  });
});
