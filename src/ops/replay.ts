import type { Queue } from 'bullmq';
import { type Kysely, sql, type Transaction } from 'kysely';
import { UserError } from '../user-error';
import type { Config } from '../config';
import type { Database, LedgerRow, LedgerStatus, ReminderKind } from '../db/types';
import { eligibility } from '../delivery/eligibility';
import { enqueueGroups } from '../delivery/outbox';
import { readEligibilityInputs } from '../delivery/portal-state';
import { applyTransition, type LeaseSettings } from '../delivery/ledger-sql';
import { leaseSettled, replayMove } from '../delivery/transitions';
import { groupKey } from '../scan/group-key';

/** Which ledger rows to replay: explicit ids, or a status selection narrowed by filters. */
export interface ReplaySelection {
  ids?: string[];
  /** Select `failed` rows (also the default when only filters are given). */
  allFailed?: boolean;
  /** Select `unknown` rows: they may have been delivered, so only on request. */
  allUnknown?: boolean;
  since?: Date;
  licenseKey?: string;
  /** Lower-cased address. */
  recipient?: string;
  kind?: ReminderKind;
}

export interface ReplayOptions {
  dryRun?: boolean;
  /** Allows re-sending `sent` rows (by id) and overrides the superseded rule. Needs `reason`. */
  force?: boolean;
  reason?: string;
  /** Who replays, for the audit trail. */
  actor: string;
}

export type ReplayAction =
  /** failed, unknown or skipped → pending, queued. */
  | 'replay'
  /** sent → pending, queued, recorded as forced. */
  | 'force'
  /** Not replayed: a smaller offset of the same expiry was sent, is on its way, or is replayed now. */
  | 'superseded'
  /** Not replayed: the portal or an operator says no (renewed, cancelled, held, suppressed, unsubscribed). */
  | 'ineligible'
  /** Not replayed: already pending (an earlier replay or the scan queued it). */
  | 'already-pending'
  /** Not replayed: a worker is sending it right now. */
  | 'in-flight';

export interface ReplayEntry {
  /** The row as it was before the replay. */
  row: LedgerRow;
  action: ReplayAction;
  note: string;
  /** The send job the row goes into (`replay` and `force` only). */
  jobId: string | null;
}

export interface ReplayResult {
  dryRun: boolean;
  entries: ReplayEntry[];
  jobs: Array<{ groupKey: string; ledgerIds: string[] }>;
  /** Finished failed jobs of the replayed rows removed from the queue (so the dashboard stops showing them). */
  removedJobs?: number;
}

type Db = Kysely<Database> | Transaction<Database>;

/**
 * Puts failed (or, on request, unknown, skipped and forced sent) reminders back to `pending`
 * under the same ledger row and queues one send job per original email. The status change and
 * its 'replayed' events are one transaction on locked rows, so a second replay of the same row
 * finds it pending and adds nothing; the send itself goes through the worker's usual claim and
 * send-time check, so a replay can never make a second copy unless forced.
 */
export async function replay(
  deps: { db: Kysely<Database>; sendQueue: Queue; config: Pick<Config, 'sendLeaseMs' | 'sendReplayGraceMs'> },
  selection: ReplaySelection,
  options: ReplayOptions,
): Promise<ReplayResult> {
  validateReplay(selection, options);
  const settings: LeaseSettings = { leaseMs: deps.config.sendLeaseMs, replayGraceMs: deps.config.sendReplayGraceMs };
  if (options.dryRun) {
    const rows = await selectRows(deps.db, selection, false);
    return { dryRun: true, ...(await planReplay(deps.db, rows, options, settings)) };
  }
  const result = await deps.db.transaction().execute(async (trx) => {
    const rows = await selectRows(trx, selection, true);
    const plan = await planReplay(trx, rows, options, settings);
    await applyReplay(trx, plan, options, settings);
    return plan;
  });
  // After the commit, so that a worker never meets the job before the rows are pending. If this
  // add fails the rows stay pending, and every worker's outbox pass queues them within seconds.
  await enqueueGroups(deps.sendQueue, result.jobs);
  const removedJobs = await removeFinishedJobs(deps.sendQueue, result.entries);
  return { dryRun: false, ...result, removedJobs };
}

/**
 * The failed send jobs of replayed rows would stay on the dashboard as failures after the replay
 * delivered them: remove them. Only jobs that failed for good; a live job is left alone.
 */
async function removeFinishedJobs(queue: Queue, entries: ReplayEntry[]): Promise<number> {
  const jobIds = [...new Set(entries.filter((e) => e.action === 'replay' || e.action === 'force').map((e) => e.row.job_id).filter((id): id is string => Boolean(id)))];
  let removed = 0;
  for (const id of jobIds) {
    try {
      const job = await queue.getJob(id);
      if (job && (await job.isFailed())) {
        await job.remove();
        removed += 1;
      }
    } catch {
      // Cosmetic: the ledger is the record, the dashboard's history is not.
    }
  }
  return removed;
}

function validateReplay(selection: ReplaySelection, options: ReplayOptions): void {
  const hasIds = (selection.ids?.length ?? 0) > 0;
  const hasFilters = Boolean(selection.allFailed || selection.allUnknown || selection.since || selection.licenseKey || selection.recipient || selection.kind);
  if (!hasIds && !hasFilters) {
    throw new UserError('say what to replay: ledger ids, --all-failed, --all-unknown, or a filter (--since, --license, --recipient, --kind)');
  }
  if (hasIds && hasFilters) throw new UserError('give either ledger ids or a selection (--all-failed, --all-unknown, filters), not both');
  if (options.force && !options.reason?.trim()) throw new UserError('--force needs --reason "…": a forced re-send is recorded with its reason');
}

async function selectRows(db: Db, selection: ReplaySelection, lock: boolean): Promise<LedgerRow[]> {
  if (selection.ids && selection.ids.length > 0) {
    const ids = [...new Set(selection.ids)];
    const rows = await db
      .selectFrom('reminder_ledger')
      .selectAll()
      .where('id', 'in', ids)
      .orderBy('id')
      .$if(lock, (q) => q.forUpdate())
      .execute();
    const missing = ids.filter((id) => !rows.some((r) => r.id === id));
    if (missing.length > 0) throw new UserError(`no ledger row with id ${missing.join(', ')} (see \`reminders failed\` or \`reminders history\`)`);
    return rows;
  }
  const statuses: LedgerStatus[] = [];
  if (selection.allFailed || !selection.allUnknown) statuses.push('failed');
  if (selection.allUnknown) statuses.push('unknown');
  return db
    .selectFrom('reminder_ledger')
    .selectAll()
    .where('status', 'in', statuses)
    .$if(selection.since !== undefined, (q) => q.where('updated_at', '>=', selection.since as Date))
    .$if(selection.licenseKey !== undefined, (q) => q.where('license_key', '=', selection.licenseKey as string))
    .$if(selection.recipient !== undefined, (q) => q.where('recipient', '=', selection.recipient as string))
    .$if(selection.kind !== undefined, (q) => q.where('kind', '=', selection.kind as ReminderKind))
    .orderBy('id')
    .$if(lock, (q) => q.forUpdate())
    .execute();
}

/** Decides each row's fate and the jobs to add; reads only, so `--dry-run` shows exactly this. */
async function planReplay(db: Db, rows: LedgerRow[], options: ReplayOptions, settings: LeaseSettings): Promise<Omit<ReplayResult, 'dryRun'>> {
  const sentWithoutForce = rows.filter((r) => replayMove(r.status, Boolean(options.force)) === 'refuse-sent');
  if (sentWithoutForce.length > 0) {
    const described = sentWithoutForce.map((r) => `${r.id} (sent ${r.sent_at?.toISOString() ?? ''} as ${r.message_id ?? '?'})`).join(', ');
    throw new UserError(`refusing to re-send ledger row ${described}: it was delivered; add --force --reason "…" to send a second copy on purpose`);
  }
  // The database's clock, the one the leases were written with.
  const { rows: clock } = await sql<{ now: Date }>`select now() as now`.execute(db);
  const now = clock[0]!.now;
  // The status mapping is the transition table's; a row whose last lease (and its grace) may
  // still be running is left alone whatever its status: that attempt could still deliver.
  const entries: ReplayEntry[] = rows.map((row) => {
    const move = replayMove(row.status, Boolean(options.force));
    if (move === 'already-pending') return { row, action: 'already-pending', note: `already pending in send job ${row.group_key}`, jobId: null };
    if (move === 'in-flight' || !leaseSettled(row.lease_expires_at, now, settings.replayGraceMs)) {
      const wait = row.lease_expires_at ? Math.max(0, row.lease_expires_at.getTime() + settings.replayGraceMs - now.getTime()) : 0;
      return { row, action: 'in-flight', note: `a worker's attempt may still be sending it${wait > 0 ? `: try again in ${Math.ceil(wait / 1000)} s` : ''}`, jobId: null };
    }
    if (move === 'force') return { row, action: 'force', note: `forced re-send: ${options.reason ?? ''}`, jobId: null };
    return { row, action: 'replay', note: `was ${row.status}${row.reason ? `: ${row.reason}` : ''}`, jobId: null };
  });

  // The one eligibility rule, as at scan and send time: the portal's state, and the series, in
  // which the rows replayed now count as on their way (so of several replayed offsets of one
  // expiry only the smallest goes). A forced re-send is exempt from the series rule only.
  const candidates = entries.filter((e) => e.action === 'replay' || e.action === 'force').sort((a, b) => a.row.offset_days - b.row.offset_days);
  const inputs = (await readEligibilityInputs(db, candidates.map((e) => e.row))).byRow;
  const replayedNow = new Set(candidates.filter((e) => e.action === 'replay').map((e) => e.row.id));
  for (const entry of candidates) {
    const input = inputs.get(entry.row.id);
    if (!input) continue;
    const series = input.series.map((m) => (replayedNow.has(m.id) ? { ...m, status: 'pending' as const } : m));
    const verdict = eligibility(
      { kind: entry.row.kind, offset: entry.row.offset_days, expiresOn: entry.row.expires_on, forced: entry.action === 'force' || Boolean(options.force) },
      input.portal,
      series,
    );
    if (!verdict.send) {
      replayedNow.delete(entry.row.id);
      Object.assign(entry, { action: verdict.reason.startsWith('superseded') ? 'superseded' : 'ineligible', note: verdict.reason });
    }
  }

  // One job per original email (recipient, kind, offset, scan date), as the scan grouped them.
  const groups = new Map<string, ReplayEntry[]>();
  for (const entry of entries.filter((e) => e.action === 'replay' || e.action === 'force')) {
    const { row } = entry;
    const key = groupKey(row.recipient, row.kind, row.offset_days, row.scan_date);
    groups.set(key, [...(groups.get(key) ?? []), entry]);
  }
  const jobs: ReplayResult['jobs'] = [];
  for (const members of groups.values()) {
    const first = members[0] as ReplayEntry;
    const jobId = await replayJobId(db, first.row.id);
    for (const member of members) member.jobId = jobId;
    jobs.push({ groupKey: jobId, ledgerIds: members.map((m) => m.row.id) });
  }
  return { entries, jobs };
}

/** `replay.<ledgerId>.<n>`: n counts that row's replays, so each replay gets a job id of its own. */
async function replayJobId(db: Db, ledgerId: string): Promise<string> {
  const { n } = await db
    .selectFrom('reminder_events')
    .select(sql<string>`count(*)`.as('n'))
    .where('ledger_id', '=', ledgerId)
    .where('event', '=', 'replayed')
    .executeTakeFirstOrThrow();
  return `replay.${ledgerId}.${Number(n) + 1}`;
}

async function applyReplay(trx: Transaction<Database>, plan: Omit<ReplayResult, 'dryRun'>, options: ReplayOptions, settings: LeaseSettings): Promise<void> {
  const reason = options.reason?.trim();
  for (const job of plan.jobs) {
    const members = plan.entries.filter((e) => e.jobId === job.groupKey);
    for (const action of ['replay', 'force'] as const) {
      const rows = members.filter((m) => m.action === action).map((m) => m.row);
      if (rows.length === 0) continue;
      // One transition per status (a forced one per row), so each event says what the row was.
      const batches = action === 'force' ? rows.map((r) => [r]) : [...new Set(rows.map((r) => r.status))].map((st) => rows.filter((r) => r.status === st));
      for (const ofStatus of batches) {
        const status = ofStatus[0]!.status;
        const sentAs = `${ofStatus[0]!.sent_at?.toISOString() ?? ''} as ${ofStatus[0]!.message_id ?? '?'}`;
        const { missed } = await applyTransition(trx, action, {
          ids: ofStatus.map((r) => r.id),
          actor: options.actor,
          // A forced replay is the operator's explicit choice: a new Message-ID, and no superseded check.
          set: { group_key: job.groupKey, ...(options.force ? { forced: true } : {}) },
          detail:
            action === 'force'
              ? `FORCED re-send of a reminder already sent ${sentAs}: ${reason}`
              : `replay of a ${status} reminder${options.force ? ' (--force)' : ''}${reason ? `: ${reason}` : ''}`,
        }, settings);
        // The rows are locked by this transaction: a miss means the plan is stale.
        if (missed.length > 0) throw new Error(`replay: ledger rows ${missed.join(', ')} changed while locked`);
      }
    }
  }
}
