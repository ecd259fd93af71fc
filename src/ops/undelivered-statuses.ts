import type { LedgerStatus } from '../db/types';

/** Statuses `reminders failed` can list: the rows that did not (or may not) reach the recipient. */
export type UndeliveredStatus = Extract<LedgerStatus, 'failed' | 'unknown' | 'skipped' | 'bounced'>;
export const UNDELIVERED_STATUSES: readonly UndeliveredStatus[] = ['failed', 'unknown', 'skipped', 'bounced'];
export const DEFAULT_UNDELIVERED: readonly UndeliveredStatus[] = ['failed', 'unknown'];
