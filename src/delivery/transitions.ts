import type { LedgerEvent, LedgerStatus } from '../db/types';

/**
 * Every change of a ledger row's status, in one table, with its side effects. Nothing else
 * decides where a row may go: src/delivery/ledger-sql.ts turns each entry into one guarded
 * statement (with its audit events), and the scan, replay, forecast and drain summary read their
 * status lists from here. Pure: no database, so the rules are tested (and mutation-tested) alone.
 *
 * The guard says who may apply a transition:
 * - `none`: anyone (the claim, which finds its rows by status and takes the lease);
 * - `lease`: only the attempt whose lease it is (`lease_owner = $owner`);
 * - `expired`: only once the lease has expired (the sweep settles what a dead attempt left);
 * - `settled`: only once no lease can be alive any more, plus the replay grace (operator moves).
 */
export type Guard = 'none' | 'lease' | 'expired' | 'settled';

/** What a transition does to the lease columns (`lease_owner`, `lease_expires_at`). */
export type LeaseEffect =
  /** A new owner and expiry (now + SEND_LEASE_MS). */
  | 'take'
  /** Expiry moved to now + SEND_LEASE_MS, same owner. */
  | 'extend'
  /** The attempt is over: no expiry, so nothing waits for it. */
  | 'release'
  /** Owner and expiry kept: the expired lease stays on the row, so a replay waits out its grace. */
  | 'keep'
  /** Owner and expiry cleared: the row is free for the next claim at once. */
  | 'clear';

export interface TransitionSpec {
  from: readonly LedgerStatus[];
  to: LedgerStatus;
  /** Audit event written with the move; null for a move that is not a change of status. */
  event: LedgerEvent | null;
  guard: Guard;
  lease: LeaseEffect;
  /** `handed_over_at`: set just before the SMTP call, cleared when a row goes back to pending. */
  handedOver: 'mark' | 'clear' | 'keep';
  /**
   * Change of the row's attempt count (the budget is the row's, SEND_ATTEMPTS): +1 at a claim,
   * -1 when the SMTP server was never reached (an outage uses up no attempt).
   */
  attempts: 1 | 0 | -1;
  /** The row's `reason` takes the transition's detail (else it is cleared). */
  keepsReason: boolean;
  /** Who applies it: a worker in its send path, the sweep, an operator, or a bounce report. */
  by: 'worker' | 'sweep' | 'operator' | 'report';
}

export const TRANSITIONS = {
  /** A worker takes pending rows for one email, under a lease of its own. */
  claim: { from: ['pending'], to: 'sending', event: 'claimed', guard: 'none', lease: 'take', handedOver: 'clear', attempts: 1, keepsReason: false, by: 'worker' },
  /** The send-time check found a reason not to send (the claimed row is let go as skipped). */
  skip: { from: ['sending'], to: 'skipped', event: 'skipped', guard: 'lease', lease: 'release', handedOver: 'clear', attempts: 0, keepsReason: true, by: 'worker' },
  /** Just before the SMTP call: from now on the message may reach the server. Extends the lease. */
  handOver: { from: ['sending'], to: 'sending', event: null, guard: 'lease', lease: 'extend', handedOver: 'mark', attempts: 0, keepsReason: false, by: 'worker' },
  /** The SMTP server was not reached (refused, unreachable, cut off before the body): not an attempt. */
  unreachable: { from: ['sending'], to: 'pending', event: 'retry', guard: 'lease', lease: 'clear', handedOver: 'clear', attempts: -1, keepsReason: false, by: 'worker' },
  /** The server deferred the message (4xx) before taking it: back to pending, the attempt counted. */
  retry: { from: ['sending'], to: 'pending', event: 'retry', guard: 'lease', lease: 'clear', handedOver: 'clear', attempts: 0, keepsReason: false, by: 'worker' },
  /** The server accepted the message. Only from `sending`, only by the lease's owner. */
  sent: { from: ['sending'], to: 'sent', event: 'sent', guard: 'lease', lease: 'release', handedOver: 'keep', attempts: 0, keepsReason: false, by: 'worker' },
  /** A permanent refusal, a bad address or template, or the row's last attempt. */
  failed: { from: ['sending'], to: 'failed', event: 'failed', guard: 'lease', lease: 'release', handedOver: 'keep', attempts: 0, keepsReason: true, by: 'worker' },
  /** The connection was lost after the body went out: it may have been delivered. */
  unknown: { from: ['sending'], to: 'unknown', event: 'unknown', guard: 'lease', lease: 'release', handedOver: 'keep', attempts: 0, keepsReason: true, by: 'worker' },
  /** An expired lease whose rows never reached SMTP: nothing went out, so they are sent again. */
  settlePending: { from: ['sending'], to: 'pending', event: 'retry', guard: 'expired', lease: 'clear', handedOver: 'clear', attempts: 0, keepsReason: false, by: 'sweep' },
  /** An expired lease whose rows were handed over: they may have been delivered. */
  settleUnknown: { from: ['sending'], to: 'unknown', event: 'unknown', guard: 'expired', lease: 'keep', handedOver: 'keep', attempts: 0, keepsReason: true, by: 'sweep' },
  /** An operator's replay of a row that did not (or may not have) reach the reader. */
  replay: { from: ['failed', 'unknown', 'skipped'], to: 'pending', event: 'replayed', guard: 'settled', lease: 'clear', handedOver: 'clear', attempts: 0, keepsReason: false, by: 'operator' },
  /** An operator's deliberate second copy of a delivered reminder (`--force --reason`). */
  force: { from: ['sent', 'bounced'], to: 'pending', event: 'replayed', guard: 'settled', lease: 'clear', handedOver: 'clear', attempts: 0, keepsReason: false, by: 'operator' },
  /** A hard bounce arrived for a delivered reminder: the address is dead (its reason is kept). */
  bounce: { from: ['sent'], to: 'bounced', event: 'bounced', guard: 'settled', lease: 'keep', handedOver: 'keep', attempts: 0, keepsReason: true, by: 'report' },
} as const satisfies Record<string, TransitionSpec>;

export type TransitionName = keyof typeof TRANSITIONS;

const NAMES = Object.keys(TRANSITIONS) as TransitionName[];
const spec = (name: TransitionName): TransitionSpec => TRANSITIONS[name];

/** The transitions that lead out of `status`. */
export function transitionsFrom(status: LedgerStatus): TransitionName[] {
  return NAMES.filter((name) => spec(name).from.includes(status) && spec(name).to !== status);
}

/** May `name` move a row that is in `status`? */
export function allows(name: TransitionName, status: LedgerStatus): boolean {
  return spec(name).from.includes(status);
}

/**
 * Statuses a worker or the sweep still has to move on: work in hand. A drain that ends with one
 * of them left has not finished (`pending`) or left limbo (`sending`).
 */
export const OPEN_STATUSES: readonly LedgerStatus[] = statusesWhere((s) => transitionsFrom(s).some((n) => spec(n).by === 'worker' || spec(n).by === 'sweep'));

/** Statuses only an operator moves on: what a drain reports as its outcome. */
export const SETTLED_STATUSES: readonly LedgerStatus[] = statusesWhere((s) => !OPEN_STATUSES.includes(s));

/** Statuses from which `sent` can still be reached without an operator: the message is on its way. */
export const ON_ITS_WAY_WITHOUT_OPERATOR: readonly LedgerStatus[] = statusesWhere((s) => reachesSent(s, new Set()));

/**
 * Statuses whose message went out, may have gone out, or is on its way. A smaller offset in one
 * of them blocks a larger one (the series rule of src/delivery/eligibility.ts): the reader has,
 * or may have, a reminder for this expiry. `failed` and `skipped` reached nobody.
 */
export const ON_ITS_WAY: readonly LedgerStatus[] = statusesWhere(
  (s) => s === 'sent' || ON_ITS_WAY_WITHOUT_OPERATOR.includes(s) || TRANSITIONS.settleUnknown.to === s,
);

/** Statuses an operator may replay without --force (they did not, or may not have, reached the reader). */
export const REPLAYABLE: readonly LedgerStatus[] = TRANSITIONS.replay.from;
/** Statuses only a forced replay moves (delivered). */
export const FORCE_ONLY: readonly LedgerStatus[] = TRANSITIONS.force.from;
/** Statuses that end in the outcome lists of a drain: `failed` (a reason) and `unknown` (a decision). */
export const NEEDS_OPERATOR: readonly LedgerStatus[] = SETTLED_STATUSES.filter((s) => s !== 'sent' && s !== 'skipped' && s !== 'bounced');

function statusesWhere(test: (status: LedgerStatus) => boolean): LedgerStatus[] {
  const all: LedgerStatus[] = ['pending', 'sending', 'sent', 'failed', 'skipped', 'unknown', 'bounced'];
  return all.filter(test);
}

function reachesSent(status: LedgerStatus, seen: Set<LedgerStatus>): boolean {
  if (seen.has(status)) return false;
  seen.add(status);
  return transitionsFrom(status)
    .filter((name) => spec(name).by === 'worker' || spec(name).by === 'sweep')
    .some((name) => spec(name).to === 'sent' || reachesSent(spec(name).to, seen));
}

/** What an operator's replay does with a row, by its status (before the eligibility rule). */
export type ReplayMove = 'replay' | 'force' | 'refuse-sent' | 'already-pending' | 'in-flight';

/**
 * The replay's status mapping, read from the table: `pending` is already on its way, `sending`
 * belongs to a live (or not yet settled) attempt, a delivered row needs --force, the rest replay.
 */
export function replayMove(status: LedgerStatus, force: boolean): ReplayMove {
  if (allows('replay', status)) return 'replay';
  if (allows('force', status)) return force ? 'force' : 'refuse-sent';
  if (allows('claim', status)) return 'already-pending';
  return 'in-flight';
}

/**
 * May an operator move a row whose last lease expired at `leaseExpiresAt` (null: none) now? Not
 * while the lease, or its grace after it, may be running: an attempt could still be handing
 * the message over (SEND_REPLAY_GRACE_MS).
 */
export function leaseSettled(leaseExpiresAt: Date | null, now: Date, graceMs: number): boolean {
  return leaseExpiresAt === null || leaseExpiresAt.getTime() + graceMs < now.getTime();
}

/** Where the sweep sends an expired lease's rows: not handed over → pending; handed over → unknown. */
export function settleTransition(row: { handedOverAt: Date | null; leased: boolean }): 'settlePending' | 'settleUnknown' {
  // A row without a lease was claimed by a worker of the previous release, which marks nothing
  // before the SMTP call: it may have been handed over.
  return row.leased && row.handedOverAt === null ? 'settlePending' : 'settleUnknown';
}

/** How the SMTP call ended, as the send path classified it (see src/send/smtp-errors.ts). */
export type HandOverOutcome = 'accepted' | 'permanent' | 'ambiguous' | 'transient' | 'unreachable';

/**
 * Which transition records an SMTP outcome. The attempt budget is the row's: a transient failure
 * ends as `failed` only once the row itself was tried SEND_ATTEMPTS times, whatever the job's count.
 */
export function outcomeTransition(outcome: HandOverOutcome, rowAttempts: number, maxAttempts: number): 'sent' | 'failed' | 'unknown' | 'retry' | 'unreachable' {
  switch (outcome) {
    case 'accepted':
      return 'sent';
    case 'permanent':
      return 'failed';
    case 'ambiguous':
      return 'unknown';
    case 'transient':
      return rowAttempts >= maxAttempts ? 'failed' : 'retry';
    case 'unreachable':
      return 'unreachable';
  }
}

/** The bounds of one attempt, all derived from the lease so that none can outlive it. */
export interface AttemptBounds {
  /** Hard deadline of the SMTP call, from the hand-over mark: the connection is closed at it. */
  smtpDeadlineMs: number;
  /** Wall-clock bound on recording the outcome, after the SMTP call ended. */
  recordWithinMs: number;
  /** How often a live worker extends its leases. */
  heartbeatMs: number;
}

/**
 * SMTP deadline half the lease, outcome retry two fifths: together nine tenths of it, so an
 * attempt is over (delivered and recorded, or given up) before a lease taken at its hand-over
 * mark can expire, even if no heartbeat ever reaches the database.
 */
export function attemptBounds(leaseMs: number): AttemptBounds {
  return { smtpDeadlineMs: Math.floor(leaseMs / 2), recordWithinMs: Math.floor((leaseMs * 2) / 5), heartbeatMs: Math.floor(leaseMs / 5) };
}

/**
 * Delay before a send job's next try: SEND_BACKOFF_MS doubling per try, capped at
 * SEND_BACKOFF_MAX_MS. The worker's own settings decide, not those of whoever queued the job.
 */
export function backoffDelay(triesMade: number, baseMs: number, maxMs: number): number {
  const exponent = Math.max(0, triesMade - 1);
  return Math.min(maxMs, baseMs * 2 ** Math.min(exponent, 30));
}
