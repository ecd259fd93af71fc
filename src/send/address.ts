/**
 * Whether an address can be put on an envelope: one local part, one domain with a dot, no
 * spaces, brackets, quotes or line breaks. Deliberately plain: the SMTP server has the last word.
 */
export function isDeliverableAddress(address: string): boolean {
  if (address.length > 254 || /[\r\n]/.test(address)) return false;
  return /^[^\s@<>()[\]\\,;:"]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$/.test(address);
}

/** The domain of MAIL_FROM ("Renewals <renewals@example.com>" → "example.com"), for Message-IDs. */
export function senderDomain(mailFrom: string): string {
  const match = /@([^>\s]+)/.exec(mailFrom);
  return match?.[1] ?? 'localhost';
}

/** Addresses compare case-insensitively: `Ann@Example.com` and `ann@example.com` are one recipient. */
export function normalizeAddress(address: string): string {
  return address.trim().toLowerCase();
}
