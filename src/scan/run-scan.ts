import type { Queue } from 'bullmq';
import type { Kysely } from 'kysely';
import type { Config } from '../config';
import { type Database, type IsoDate, type LedgerStatus, type NewLedgerRow, REMINDER_KINDS, type ReminderKind } from '../db/types';
import { recordedSeries } from '../delivery/due-rows';
import { eligibility, type SeriesMember, seriesKey } from '../delivery/eligibility';
import { reconcileOutbox } from '../delivery/outbox';
import type { Logger } from '../logger';
import { UserError } from '../user-error';
import { type Candidate, findCandidates } from './candidates';
import { addDays, daysBetween } from '../dates';
import { candidateDaysLeft, planSeries } from './due-rule';
import { recordDueInDatabase } from './due-sql';
import { groupKey } from './group-key';
import { lastCompletedScan, markScanCompleted, markScanStarted, prunedBefore } from './scan-runs';

export type ScanConfig = Pick<Config, 'offsets' | 'catchupDays'>;

/** Rows a forecast pretends were recorded on the days it simulated before, by series key. */
export type ExtraSeries = ReadonlyMap<string, readonly SeriesMember[]>;

/** A row the scan would record, before it meets the ledger's unique key. */
export interface PlannedRow extends NewLedgerRow {
  days_left: number;
}

/** Per kind and offset: what one scan recorded. */
export interface ScanCount {
  kind: ReminderKind;
  offset: number;
  queued: number;
  skipped: number;
  late: number;
}

export interface ScanSummary {
  scanDate: IsoDate;
  counts: ScanCount[];
  queued: number;
  skipped: number;
  /** Pending rows sent after their offset's day (catch-up within the window). */
  caughtUp: number;
  /** Business days between the last completed scan and this one that had no scan. */
  missedDays: number;
  /** Claims of dead workers turned `unknown` by this scan. */
  unknownClaims: number;
  /** Send jobs (re)submitted to the queue, including ones Redis had lost. */
  jobsSubmitted: number;
  durationMs: number;
  /** Of which: recording the due rows in the ledger, and the outbox pass (sweep and enqueue). */
  phasesMs: { record: number; outbox: number };
}

/**
 * The plan for date T, read-only: candidates from the portal tables, what the ledger already
 * holds, holds and suppressions, through the pure rule. Shared by the scan and the forecast.
 */
export async function planScan(db: Kysely<Database>, config: ScanConfig, scanDate: IsoDate, extra?: ExtraSeries): Promise<PlannedRow[]> {
  const expiryDates = candidateDaysLeft(config.offsets, config.catchupDays).map((d) => addDays(scanDate, d));
  const planned: PlannedRow[] = [];
  for (const kind of REMINDER_KINDS) {
    const candidates = await findCandidates(db, kind, expiryDates);
    if (candidates.length === 0) continue;
    const licenseIds = [...new Set(candidates.map((c) => c.licenseId))];
    const recipients = [...new Set(candidates.map((c) => c.recipient))];
    const [recorded, holds, suppressed] = await Promise.all([
      recordedSeries(db, kind, licenseIds),
      db.selectFrom('license_holds').select(['license_id', 'reason']).where('license_id', 'in', licenseIds).execute(),
      db.selectFrom('suppressed_addresses').select(['address', 'reason']).where('address', 'in', recipients).execute(),
    ]);
    const holdReason = new Map(holds.map((h) => [h.license_id, h.reason]));
    const suppressedReason = new Map(suppressed.map((s) => [s.address, s.reason]));
    for (const candidate of candidates) {
      const key = seriesKey(kind, candidate.licenseId, candidate.expiresOn, candidate.recipient);
      const series = [...(recorded.get(key) ?? []), ...(extra?.get(key) ?? [])];
      const known = new Map<number, LedgerStatus>(series.map((m) => [m.offset, m.status]));
      const daysLeft = daysBetween(scanDate, candidate.expiresOn);
      for (const step of planSeries(daysLeft, config.offsets, config.catchupDays, known)) {
        if (step.status !== 'pending') {
          planned.push(toRow(candidate, scanDate, daysLeft, step.offset, step.status, step.reason));
          continue;
        }
        // The candidate query found the license active, of its kind's type, with this expiry,
        // and the contact subscribed; the rule adds holds, suppressions and the series.
        const verdict = eligibility(
          { kind, offset: step.offset, expiresOn: candidate.expiresOn },
          {
            license: {
              status: 'active',
              licenseType: EXPIRY_TYPE[kind],
              expiresOn: kind === 'license' ? candidate.expiresOn : null,
              maintenanceExpiresOn: kind === 'maintenance' ? candidate.expiresOn : null,
            },
            contacts: [{ unsubscribed: false }],
            hold: holdReason.get(candidate.licenseId) ?? null,
            suppression: suppressedReason.get(candidate.recipient) ?? null,
          },
          series,
        );
        planned.push(toRow(candidate, scanDate, daysLeft, step.offset, verdict.send ? 'pending' : 'skipped', verdict.send ? null : verdict.reason));
      }
    }
  }
  return planned;
}

const EXPIRY_TYPE = { license: 'annual', maintenance: 'lifetime' } as const;

function toRow(
  c: Candidate,
  scanDate: IsoDate,
  daysLeft: number,
  offset: number,
  status: 'pending' | 'skipped',
  reason: string | null,
): PlannedRow {
  return {
    kind: c.kind,
    license_id: c.licenseId,
    license_key: c.licenseKey,
    order_id: c.orderId,
    order_number: c.orderNumber,
    expires_on: c.expiresOn,
    offset_days: offset,
    recipient: c.recipient,
    scan_date: scanDate,
    group_key: groupKey(c.recipient, c.kind, offset, scanDate),
    status,
    reason,
    days_left: daysLeft,
  };
}

/**
 * The scan for business date T: records every due reminder in the ledger (idempotently) and
 * makes sure the send queue holds a job for every pending group, so that a Redis that lost
 * everything is rebuilt from the ledger and nothing the ledger marks sent goes out again.
 */
export async function runScan(
  deps: { db: Kysely<Database>; sendQueue: Queue; config: ScanConfig & Pick<Config, 'sendAttempts' | 'sendBackoffMs' | 'sendClaimTimeoutMs'>; logger: Logger },
  scanDate: IsoDate,
): Promise<ScanSummary> {
  const { db, sendQueue, config, logger } = deps;
  const started = performance.now();
  const previous = await lastCompletedScan(db);
  // A scan for T records series expiring from T − CATCHUP_DAYS on; if older series were pruned,
  // their rows are no longer in the ledger to stop the same reminders being recorded again.
  const pruned = await prunedBefore(db);
  const oldestExpiry = addDays(scanDate, Math.min(...candidateDaysLeft(config.offsets, config.catchupDays)));
  if (pruned && oldestExpiry < pruned) {
    throw new UserError(
      `cannot scan ${scanDate}: it reaches series expiring on ${oldestExpiry}, and the ledger was pruned of series expiring before ${pruned} (their reminders would be sent again)`,
    );
  }
  await markScanStarted(db, scanDate);

  // The plan and the insert in one statement (due-sql.ts): the same rows as `planScan`, which
  // the forecast uses and the equivalence tests compare it with.
  const recordStarted = performance.now();
  const recorded = await recordDueInDatabase(db, config, scanDate);
  const caughtUp = recorded.reduce((sum, c) => sum + c.late, 0);

  const outboxStarted = performance.now();
  const outbox = await reconcileOutbox({ db, sendQueue, config, logger }, 'scan');
  const outboxMs = Math.round(performance.now() - outboxStarted);

  const missedDays = previous && previous.scanDate < scanDate ? Math.max(0, daysBetween(previous.scanDate, scanDate) - 1) : 0;
  const summary: ScanSummary = {
    scanDate,
    counts: recorded.sort((a, b) => a.kind.localeCompare(b.kind) || b.offset - a.offset),
    queued: recorded.reduce((sum, c) => sum + c.queued, 0),
    skipped: recorded.reduce((sum, c) => sum + c.skipped, 0),
    caughtUp,
    missedDays,
    unknownClaims: outbox.swept.length,
    jobsSubmitted: outbox.groups,
    durationMs: Math.round(performance.now() - started),
    phasesMs: { record: Math.round(outboxStarted - recordStarted), outbox: outboxMs },
  };
  await markScanCompleted(db, scanDate, summary);
  if (missedDays > 0) {
    logger.warn(
      { scanDate, lastCompletedScan: previous?.scanDate, missedDays, caughtUp, skipped: summary.skipped },
      `MISSED SCANS: no scan completed for ${missedDays} day(s) before ${scanDate}; caught up ${caughtUp} reminder(s) late and skipped ${summary.skipped} superseded or blocked`,
    );
  }
  logger.info({ event: 'scan', ...summary }, `scan ${scanDate}: ${summary.queued} queued, ${summary.skipped} skipped`);
  return summary;
}
