import type { LedgerStatus } from '../db/types';
import { smallestOnItsWay } from '../delivery/eligibility';

/** What one scan should record for one series: an item's expiry date, for one recipient. */
export interface PlannedReminder {
  offset: number;
  status: 'pending' | 'skipped';
  reason: string | null;
}

/**
 * Offsets that are candidates on a day with `daysLeft` to go: every k with
 * daysLeft ≤ k ≤ daysLeft + catchupDays. Only the smallest is sent; the rest are superseded.
 */
export function dueOffsets(
  daysLeft: number,
  offsets: readonly number[],
  catchupDays: number,
): { send: number | null; superseded: number[] } {
  const candidates = offsets.filter((k) => daysLeft <= k && k <= daysLeft + catchupDays).sort((a, b) => a - b);
  const [send = null, ...superseded] = candidates;
  return { send, superseded };
}

/**
 * The pure heart of the scan: given what the ledger already holds for one series
 * (offset → status), which rows to add. Never adds a row for an offset already recorded,
 * and never sends an offset once a smaller one of the same expiry is on its way or sent
 * (`ON_ITS_WAY`: a smaller one that failed or was skipped does not block).
 */
export function planSeries(
  daysLeft: number,
  offsets: readonly number[],
  catchupDays: number,
  recorded: ReadonlyMap<number, LedgerStatus>,
): PlannedReminder[] {
  const { send, superseded } = dueOffsets(daysLeft, offsets, catchupDays);
  if (send === null) return [];
  const plan: PlannedReminder[] = [];
  // The series half of the eligibility rule, with its one definition of "on its way".
  const blockedBy = smallestOnItsWay(
    send,
    [...recorded].map(([offset, status]) => ({ id: '', offset, status })),
  )?.offset;
  if (!recorded.has(send)) {
    plan.push(
      blockedBy === undefined
        ? { offset: send, status: 'pending', reason: null }
        : { offset: send, status: 'skipped', reason: `superseded: the ${blockedBy}-day reminder was already recorded` },
    );
  }
  for (const offset of superseded) {
    if (!recorded.has(offset)) {
      plan.push({ offset, status: 'skipped', reason: `superseded: caught up by the ${send}-day reminder` });
    }
  }
  return plan;
}

/** The expiry dates (relative to the scan date) whose items can have a candidate offset. */
export function candidateDaysLeft(offsets: readonly number[], catchupDays: number): number[] {
  const days = new Set<number>();
  for (const k of offsets) for (let d = k - catchupDays; d <= k; d++) days.add(d);
  return [...days].sort((a, b) => a - b);
}
