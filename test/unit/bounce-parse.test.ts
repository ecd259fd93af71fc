import { readFileSync } from 'node:fs';
import path from 'node:path';
import { classifyStatus, statusIn } from '../../src/bounces/classify';
import { parseBounceMessage } from '../../src/bounces/parse-report';
import { verifyVerpToken, verpAddress } from '../../src/send/verp';

const DIR = path.resolve(__dirname, '../fixtures/bounces');
const SECRET = 'test-unsubscribe-secret';

interface FixtureCase {
  file: string;
  ledgerId: string;
  recipient: string;
  messageId: string;
  expect: { type: string | null; status?: string; matchedBy?: 'verp' | 'message-id' };
}
const manifest = JSON.parse(readFileSync(path.join(DIR, 'manifest.json'), 'utf8')) as FixtureCase[];

describe('the bounce corpus', () => {
  it('holds at least 20 real-world shapes', () => {
    expect(manifest.length).toBeGreaterThanOrEqual(20);
  });

  it.each(manifest.map((c) => [c.file, c] as const))('%s reads as its kind, with its reminder', async (_file, c) => {
    const parsed = await parseBounceMessage(readFileSync(path.join(DIR, c.file)), SECRET);
    if (c.expect.type === null) {
      expect(parsed.reports).toEqual([]);
      expect(parsed.problem).toMatch(/not a bounce/);
      return;
    }
    expect(parsed.reports).toHaveLength(1);
    const report = parsed.reports[0]!;
    expect(report.type).toBe(c.expect.type);
    if (c.expect.status) expect(report.status).toBe(c.expect.status);
    if (c.expect.matchedBy === 'verp') expect(report.verpLedgerIds[0]).toBe(c.ledgerId);
    if (c.expect.matchedBy === 'message-id') {
      expect(report.verpLedgerIds).toEqual([]);
      expect(report.messageId).toBe(c.messageId);
    }
    // A complaint may not name the recipient (Yahoo redacts it); a bounce that does names the right one.
    if (report.recipient && c.expect.type !== 'complaint') expect(report.recipient).toBe(c.recipient);
  });
});

describe('status codes', () => {
  // Expected values written from RFC 3463 and the policy in docs/deliverability.md, not from the code.
  it.each([
    ['5.1.1', '550 5.1.1 user unknown', 'failed', 'hard'],
    ['5.5.0', 'mailbox unavailable', 'failed', 'hard'],
    ['4.2.2', 'mailbox full', 'failed', 'soft'],
    ['5.2.2', '552 5.2.2 mailbox full', 'failed', 'soft'],
    ['5.7.1', 'message blocked as spam', 'failed', 'soft'],
    ['5.7.1', 'relaying denied, recipient address invalid', 'failed', 'hard'],
    ['4.4.1', 'connection timed out', 'delayed', 'delay'],
    ['2.0.0', 'ok', 'delivered', 'unknown'],
  ])('%s (%s, action %s) is %s', (status, diagnostic, action, type) => {
    expect(classifyStatus(status, diagnostic, action)).toBe(type);
  });

  it('reads enhanced codes, and basic ones as class.0.0', () => {
    expect(statusIn('smtp; 550 5.1.1 <a@b.c>: unknown')).toBe('5.1.1');
    expect(statusIn('554: delivery error: dd This user')).toBe('5.0.0');
    expect(statusIn('451 try later')).toBe('4.0.0');
    expect(statusIn('nothing here')).toBeNull();
  });
});

describe('VERP tokens', () => {
  it('names the ledger row and cannot be forged', () => {
    const address = verpAddress('bounces@example.com', '12345', SECRET);
    expect(address).toMatch(/^bounces\+12345-[0-9a-f]{16}@example\.com$/);
    const token = address.slice('bounces+'.length, address.indexOf('@'));
    expect(verifyVerpToken(token, SECRET)).toBe('12345');
    expect(verifyVerpToken(token.replace('12345', '12346'), SECRET)).toBeNull();
    expect(verifyVerpToken(token, 'another-secret-entirely')).toBeNull();
    expect(verifyVerpToken(token.toUpperCase(), SECRET)).toBe('12345');
  });
});
