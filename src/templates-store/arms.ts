import { createHash } from 'node:crypto';
import type { TemplateArm } from '../db/types';

export const ARMS: readonly TemplateArm[] = ['A', 'B'];

/**
 * The copy experiment's arm of one series: a stable hash of the license key and the variant
 * (`annual/en/30`), so every send and replay of that series sees the same arm, and the arms of
 * two variants are independent of each other.
 */
export function armFor(licenseKey: string, variantId: string): TemplateArm {
  const digest = createHash('sha256').update(variantId).update('\0').update(licenseKey).digest();
  return digest.readUInt32BE(0) < 0x80000000 ? 'A' : 'B';
}
