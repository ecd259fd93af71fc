import { createHash } from 'node:crypto';
import type { IsoDate, ReminderKind } from '../db/types';

/**
 * One email per (recipient, kind, offset, scan date): this key names the group in the ledger
 * and is the BullMQ job id, so a repeated scan adds no second job. Ids may not contain `:`;
 * the address is hashed so that it does not show up in Redis key names.
 */
export function groupKey(recipient: string, kind: ReminderKind, offset: number, scanDate: IsoDate): string {
  const hash = createHash('sha256').update(recipient).digest('hex').slice(0, 20);
  return `send.${kind}.${offset}.${scanDate}.${hash}`;
}
