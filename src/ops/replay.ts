import type { Queue } from 'bullmq';
import { type Kysely, sql, type Transaction } from 'kysely';
import { UserError } from '../user-error';
import type { Config } from '../config';
import type { Database, LedgerRow, LedgerStatus, ReminderKind } from '../db/types';
import { recordEvents } from '../ledger/events';
import { seriesKey, smallerOffsetsOnTheirWay } from '../ledger/ledger';
import { enqueueSends } from '../queue/send-jobs';
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
  deps: { db: Kysely<Database>; sendQueue: Queue; config: Pick<Config, 'sendAttempts' | 'sendBackoffMs'> },
  selection: ReplaySelection,
  options: ReplayOptions,
): Promise<ReplayResult> {
  validateReplay(selection, options);
  if (options.dryRun) {
    const rows = await selectRows(deps.db, selection, false);
    return { dryRun: true, ...(await planReplay(deps.db, rows, options)) };
  }
  const result = await deps.db.transaction().execute(async (trx) => {
    const rows = await selectRows(trx, selection, true);
    const plan = await planReplay(trx, rows, options);
    await applyReplay(trx, plan, options);
    return plan;
  });
  // After the commit, so that a worker never meets the job before the rows are pending. If this
  // add fails the rows stay pending, and the next scan queues them (it re-queues every pending group).
  await enqueueSends(deps.sendQueue, deps.config, result.jobs);
  return { dryRun: false, ...result };
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
async function planReplay(db: Db, rows: LedgerRow[], options: ReplayOptions): Promise<Omit<ReplayResult, 'dryRun'>> {
  const sentWithoutForce = rows.filter((r) => r.status === 'sent' && !options.force);
  if (sentWithoutForce.length > 0) {
    const described = sentWithoutForce.map((r) => `${r.id} (sent ${r.sent_at?.toISOString() ?? ''} as ${r.message_id ?? '?'})`).join(', ');
    throw new UserError(`refusing to re-send ledger row ${described}: it was delivered; add --force --reason "…" to send a second copy on purpose`);
  }
  const entries: ReplayEntry[] = rows.map((row) => {
    if (row.status === 'pending') return { row, action: 'already-pending', note: `already pending in send job ${row.group_key}`, jobId: null };
    if (row.status === 'sending') return { row, action: 'in-flight', note: 'a worker is sending it now', jobId: null };
    if (row.status === 'sent') return { row, action: 'force', note: `forced re-send: ${options.reason ?? ''}`, jobId: null };
    return { row, action: 'replay', note: `was ${row.status}${row.reason ? `: ${row.reason}` : ''}`, jobId: null };
  });

  if (!options.force) {
    // The catch-up rule holds for replays too: nothing for an offset once a smaller offset of the
    // same expiry went out (or is on its way), and of several replayed offsets only the smallest.
    const candidates = entries.filter((e) => e.action === 'replay');
    const later = await smallerOffsetsOnTheirWay(db, candidates.map((e) => e.row.id));
    for (const entry of candidates) {
      const found = later.get(entry.row.id);
      if (found) Object.assign(entry, { action: 'superseded', note: `superseded: the ${found.offset}-day reminder (#${found.id}) is ${found.status}` });
    }
    const smallest = new Map<string, LedgerRow>();
    for (const { row } of entries.filter((e) => e.action === 'replay')) {
      const key = `${row.kind}|${seriesKey(row.license_id, row.expires_on, row.recipient)}`;
      const best = smallest.get(key);
      if (!best || row.offset_days < best.offset_days) smallest.set(key, row);
    }
    for (const entry of entries.filter((e) => e.action === 'replay')) {
      const best = smallest.get(`${entry.row.kind}|${seriesKey(entry.row.license_id, entry.row.expires_on, entry.row.recipient)}`);
      if (best && best.id !== entry.row.id) {
        Object.assign(entry, { action: 'superseded', note: `superseded: the ${best.offset_days}-day reminder (#${best.id}) is replayed instead` });
      }
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

async function applyReplay(trx: Transaction<Database>, plan: Omit<ReplayResult, 'dryRun'>, options: ReplayOptions): Promise<void> {
  const reason = options.reason?.trim();
  for (const job of plan.jobs) {
    const members = plan.entries.filter((e) => e.jobId === job.groupKey);
    await trx
      .updateTable('reminder_ledger')
      .set({
        status: 'pending',
        reason: null,
        claim_token: null,
        group_key: job.groupKey,
        // A forced replay is the operator's explicit choice: a new Message-ID, and no superseded check.
        forced: options.force ? sql<boolean>`true` : sql<boolean>`forced`,
        updated_at: sql`now()`,
      })
      .where('id', 'in', job.ledgerIds)
      .execute();
    await recordEvents(
      trx,
      members.map(({ row, action }) => ({
        ledgerId: row.id,
        event: 'replayed',
        status: 'pending',
        actor: options.actor,
        detail:
          action === 'force'
            ? `FORCED re-send of a reminder already sent ${row.sent_at?.toISOString() ?? ''} as ${row.message_id ?? '?'}: ${reason}`
            : `replay of a ${row.status} reminder${options.force ? ' (--force)' : ''}${reason ? `: ${reason}` : ''}`,
      })),
    );
  }
}
