import { figures } from '../../src/bounces/deliverability';
import { decide, type PolicyInput } from '../../src/bounces/policy';

const base: PolicyInput = {
  type: 'hard',
  matched: true,
  suppressed: null,
  softCount: 0,
  softLimit: 3,
  softWindowDays: 30,
  status: '5.1.1',
  diagnostic: '550 user unknown',
  channel: 'mta',
  messageId: 'reminder.1.abc@example.com',
  day: '2027-05-03',
};

describe('what a bounce changes (the contract\'s "After sent")', () => {
  // [type, matched, already suppressed, soft count, → rows bounced, suppressed]
  it.each([
    ['hard', true, null, 0, true, true],
    ['hard', false, null, 0, false, false],
    ['hard', true, 'manual: asked by phone', 0, true, false],
    ['complaint', true, null, 0, false, true],
    ['complaint', false, null, 0, false, false],
    ['soft', true, null, 1, false, false],
    ['soft', true, null, 2, false, false],
    ['soft', true, null, 3, false, true],
    ['soft', true, null, 4, false, true],
    ['soft', false, null, 3, false, false],
    ['delay', true, null, 0, false, false],
    ['unknown', true, null, 0, false, false],
  ] as const)('%s, matched %s, suppressed %s, soft count %s → bounce rows %s, suppress %s', (type, matched, suppressed, softCount, rows, suppress) => {
    const decision = decide({ ...base, type, matched, suppressed, softCount });
    expect(decision.bounceRows).toBe(rows);
    expect(decision.suppress !== null).toBe(suppress);
  });

  it('keeps the reason: what was refused, through which channel, for which reminder', () => {
    expect(decide(base).suppress).toBe('hard bounce: 5.1.1 550 user unknown (mta, 2027-05-03, reminder <reminder.1.abc@example.com>)');
    expect(decide({ ...base, type: 'complaint', channel: 'ses' }).suppress).toBe('complaint: marked as spam (ses, 2027-05-03, reminder <reminder.1.abc@example.com>)');
  });
});

describe('deliverability flags (Gmail/Yahoo: complaints < 0.3 %, aim < 0.1 %; bounces < 2 %)', () => {
  it.each([
    [1000, 0, 0, []],
    [1000, 0, 1, ['complaints 0.10 %: above the 0.1 % to aim for']],
    [1000, 0, 3, ["complaints 0.30 %: over Gmail's and Yahoo's 0.3 % limit"]],
    [1000, 19, 0, []],
    [1000, 20, 0, ['bounces 2.00 %: over 2 %']],
    [0, 0, 0, []],
  ] as const)('%s sent, %s hard bounces, %s complaints → %j', (sent, hard, complaints, flags) => {
    expect(figures({ sent, hard, soft: 0, complaints }).flags).toEqual(flags);
  });
});
