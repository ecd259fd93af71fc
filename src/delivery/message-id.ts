import { createHash } from 'node:crypto';
import { senderDomain } from '../send/address';

/**
 * Stable per set of ledger rows, so a retried or replayed message keeps its id and receivers can
 * de-duplicate; `variant` (a forced re-send's replay key) makes a deliberate second copy distinct.
 */
export function messageIdFor(ledgerIds: readonly string[], mailFrom: string, variant?: string): string {
  const hash = createHash('sha256')
    .update(ledgerIds.join(',') + (variant ? `|${variant}` : ''))
    .digest('hex')
    .slice(0, 12);
  return `reminder.${ledgerIds[0]}.${hash}@${senderDomain(mailFrom)}`;
}
