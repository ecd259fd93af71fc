import fc from 'fast-check';
import { signUnsubscribeToken, unsubscribeUrl, verifyUnsubscribeToken } from '../../src/unsubscribe/token';

const SECRET = 'test-unsubscribe-secret-0123456789';

describe('unsubscribe tokens', () => {
  it('verify to the address they were made for, normalized', () => {
    expect(verifyUnsubscribeToken(signUnsubscribeToken('  Ann@Example.COM ', SECRET), SECRET)).toBe('ann@example.com');
  });

  it('cannot be made without the secret', () => {
    expect(verifyUnsubscribeToken(signUnsubscribeToken('ann@example.com', 'another-secret-of-16+'), SECRET)).toBeNull();
    // The payload alone is just the address: a guessed signature of the right shape fails.
    const payload = Buffer.from('ann@example.com').toString('base64url');
    expect(verifyUnsubscribeToken(`${payload}.${'A'.repeat(43)}`, SECRET)).toBeNull();
    expect(verifyUnsubscribeToken(`${payload}.`, SECRET)).toBeNull();
    expect(verifyUnsubscribeToken(payload, SECRET)).toBeNull();
  });

  it('fail when cut short anywhere, or with anything appended', () => {
    const token = signUnsubscribeToken('ann@example.com', SECRET);
    for (let length = 0; length < token.length; length++) expect(verifyUnsubscribeToken(token.slice(0, length), SECRET)).toBeNull();
    expect(verifyUnsubscribeToken(`${token}A`, SECRET)).toBeNull();
    expect(verifyUnsubscribeToken(`${token}.x`, SECRET)).toBeNull();
  });

  it("cannot be reused for another address: one address's signature does not fit another's payload", () => {
    const [, annSignature] = signUnsubscribeToken('ann@example.com', SECRET).split('.');
    const bobPayload = Buffer.from('bob@example.com').toString('base64url');
    expect(verifyUnsubscribeToken(`${bobPayload}.${annSignature}`, SECRET)).toBeNull();
  });

  it('reject every altered character (property)', () => {
    fc.assert(
      fc.property(fc.emailAddress(), fc.nat(), fc.integer({ min: 1, max: 63 }), (address, where, delta) => {
        const token = signUnsubscribeToken(address, SECRET);
        const i = where % token.length;
        const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
        const at = alphabet.indexOf(token[i] as string);
        if (at < 0) return; // the '.' separator: covered by the truncation test
        const altered = token.slice(0, i) + alphabet[(at + delta) % 64] + token.slice(i + 1);
        // The MAC covers the payload as text, so even a change in unused base64 bits is refused.
        expect(verifyUnsubscribeToken(altered, SECRET)).toBeNull();
      }),
      { numRuns: 500 },
    );
  });

  it('never put the secret in the link', () => {
    expect(unsubscribeUrl('https://r.example.com', 'ann@example.com', SECRET)).not.toContain(SECRET);
  });
});
