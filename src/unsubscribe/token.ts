import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Unsubscribe tokens: `base64url(address).base64url(hmac)`. Only the holder of the secret can
 * make one, so nobody can unsubscribe an address they did not receive mail at.
 */
export function signUnsubscribeToken(address: string, secret: string): string {
  const normalized = address.trim().toLowerCase();
  const payload = Buffer.from(normalized).toString('base64url');
  return `${payload}.${mac(payload, secret)}`;
}

/** Returns the address the token was made for, or null when it is forged or malformed. */
export function verifyUnsubscribeToken(token: string, secret: string): string | null {
  const [payload, signature, extra] = token.split('.');
  if (!payload || !signature || extra !== undefined) return null;
  const expected = Buffer.from(mac(payload, secret));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return null;
  return Buffer.from(payload, 'base64url').toString();
}

function mac(payload: string, secret: string): string {
  return createHmac('sha256', secret).update(`unsubscribe:${payload}`).digest('base64url');
}

/** The link placed in each email and its List-Unsubscribe header. */
export function unsubscribeUrl(publicUrl: string, address: string, secret: string): string {
  return `${publicUrl}/unsubscribe?token=${encodeURIComponent(signUnsubscribeToken(address, secret))}`;
}
