import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * VERP: each reminder leaves with the envelope sender `local+<ledgerId>-<mac>@domain`, so a bounce,
 * which goes to the envelope sender, names the message it is about. The MAC (HMAC-SHA256, 64 bits,
 * lower-case hex because some MTAs fold the case of local parts) means nobody can make a token
 * that names a reminder, so a forged bounce cannot suppress an address.
 */
const TOKEN = /([0-9]{1,18})-([0-9a-f]{16})/;
const IN_ADDRESS = /[A-Za-z0-9._%=-]+\+([0-9]{1,18})-([0-9a-f]{16})@[A-Za-z0-9.-]+/gi;

function mac(ledgerId: string, secret: string): string {
  return createHmac('sha256', secret).update(`verp:${ledgerId}`).digest('hex').slice(0, 16);
}

/** The envelope sender for the message whose first ledger row is `ledgerId`. */
export function verpAddress(bounceAddress: string, ledgerId: string, secret: string): string {
  const at = bounceAddress.lastIndexOf('@');
  return `${bounceAddress.slice(0, at)}+${ledgerId}-${mac(ledgerId, secret)}${bounceAddress.slice(at)}`;
}

/** The ledger id a token names, or null when it is malformed or forged. */
export function verifyVerpToken(token: string, secret: string): string | null {
  const match = TOKEN.exec(token.toLowerCase());
  if (!match || match[0] !== token.toLowerCase()) return null;
  const [, id, given] = match as unknown as [string, string, string];
  const expected = Buffer.from(mac(id, secret));
  return timingSafeEqual(expected, Buffer.from(given)) ? id : null;
}

/** Every VERP token in a text (headers of a bounce, its quoted original), verified, in order. */
export function findVerpLedgerIds(text: string, secret: string): string[] {
  const ids: string[] = [];
  for (const match of text.matchAll(IN_ADDRESS)) {
    const id = verifyVerpToken(`${match[1]}-${(match[2] as string).toLowerCase()}`, secret);
    if (id && !ids.includes(id)) ids.push(id);
  }
  return ids;
}
