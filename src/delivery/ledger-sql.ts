import { type Kysely, type RawBuilder, sql, type Transaction } from 'kysely';
import type { Database, LedgerRow, LedgerStatus } from '../db/types';
import { type LeaseEffect, NEEDS_OPERATOR, OPEN_STATUSES, settleTransition, TRANSITIONS, type TransitionName, type TransitionSpec } from './transitions';

/**
 * Every statement of the send path that reads or moves ledger rows, in the manner of pg-boss's
 * `plans.ts`: each is ONE autocommit statement, its audit events written by the same statement
 * (a data-modifying CTE), its guard and side effects taken from the transition table. No
 * transaction is ever held across SMTP: an attempt owns its rows by a lease, not by locks.
 */

type Db = Kysely<Database> | Transaction<Database>;

/**
 * Rows claimed by a worker of the previous release carry no lease: that release holds their
 * locks across SMTP and its sweep waited this long (its SEND_CLAIM_TIMEOUT_MS default).
 */
export const LEGACY_CLAIM_TIMEOUT_MS = 120_000;

const interval = (ms: number) => sql`${`${Math.max(0, Math.round(ms))} milliseconds`}::interval`;
const idArray = (ids: readonly string[]) => sql`${[...ids]}::bigint[]`;
const statusArray = (statuses: readonly LedgerStatus[]) => sql`${[...statuses]}::text[]`;

export interface LeaseSettings {
  /** SEND_LEASE_MS: how long a lease holds without a heartbeat. */
  leaseMs: number;
  /** SEND_REPLAY_GRACE_MS: how long after a lease expired an operator's move (or a claim) waits. */
  replayGraceMs: number;
}

function leaseColumns(effect: LeaseEffect, owner: string | null, leaseMs: number): RawBuilder<unknown> {
  switch (effect) {
    case 'take':
      return sql`lease_owner = ${owner}, claim_token = ${owner}, lease_expires_at = now() + ${interval(leaseMs)}, claimed_at = now()`;
    case 'extend':
      return sql`lease_expires_at = now() + ${interval(leaseMs)}`;
    case 'release':
      return sql`lease_expires_at = null`;
    case 'keep':
      return sql`lease_expires_at = lease_expires_at`;
    case 'clear':
      return sql`lease_owner = null, claim_token = null, lease_expires_at = null`;
  }
}

function handedOverColumn(effect: TransitionSpec['handedOver']): RawBuilder<unknown> {
  if (effect === 'mark') return sql`handed_over_at = now()`;
  if (effect === 'clear') return sql`handed_over_at = null`;
  return sql`handed_over_at = handed_over_at`;
}

function guardClause(spec: TransitionSpec, ids: readonly string[], owner: string | null, settings: LeaseSettings): RawBuilder<unknown> {
  switch (spec.guard) {
    case 'none':
      return sql`true`;
    case 'lease':
      // Extending a lease (the hand-over mark) needs it alive; recording an outcome only needs it ours.
      return spec.lease === 'extend' ? sql`lease_owner = ${owner} and lease_expires_at > now()` : sql`lease_owner = ${owner}`;
    case 'expired':
      // Skip rows whose lock a previous-release worker holds across its SMTP call.
      return sql`(lease_expires_at < now() or (lease_expires_at is null and claimed_at < now() - ${interval(LEGACY_CLAIM_TIMEOUT_MS)}))
        and id in (select id from reminder_ledger where id = any(${idArray(ids)}) for update skip locked)`;
    case 'settled':
      return sql`(lease_expires_at is null or lease_expires_at < now() - ${interval(settings.replayGraceMs)})`;
  }
}

export interface TransitionRequest {
  ids: readonly string[];
  /** The lease owner (the attempt's token): required by `lease`-guarded transitions. */
  owner?: string;
  /** Audit-trail text, and the row's `reason` where the transition keeps one. */
  detail?: string | null;
  actor: string;
  messageId?: string | null;
  templateVersion?: string | null;
  /** The experiment's arm and the variant's locale the email was sent with. */
  templateArm?: string | null;
  templateLocale?: string | null;
  /** Extra columns of operator moves: a replay's new group, a forced flag. */
  set?: Partial<{ group_key: string; forced: boolean }>;
}

export interface TransitionResult {
  transition: TransitionName;
  /** Rows that moved, with their values after the move. */
  moved: Array<{ id: string; attempts: number; status: LedgerStatus; group_key: string }>;
  /** Requested rows that the guard refused: not in an allowed status, or not under this lease. */
  missed: string[];
}

/** Observers of misses (metrics); the caller logs and handles the miss itself. */
const missListeners: Array<(name: TransitionName, count: number) => void> = [];
export function onTransitionMiss(listener: (name: TransitionName, count: number) => void): () => void {
  missListeners.push(listener);
  return () => missListeners.splice(missListeners.indexOf(listener), 1);
}

/**
 * Applies one transition of the table to the given rows: one guarded statement with its events.
 * A miss is an answer the caller must handle, never ignored.
 */
export async function applyTransition(db: Db, name: TransitionName, request: TransitionRequest, settings: LeaseSettings): Promise<TransitionResult> {
  const spec: TransitionSpec = TRANSITIONS[name];
  if (spec.guard === 'lease' && !request.owner) throw new Error(`the ${name} transition needs the lease owner`);
  if (request.ids.length === 0) return { transition: name, moved: [], missed: [] };
  const guard = guardClause(spec, request.ids, request.owner ?? null, settings);
  const extras: RawBuilder<unknown>[] = [];
  if (name === 'sent') extras.push(sql`sent_at = now()`);
  if (request.messageId !== undefined) extras.push(sql`message_id = ${request.messageId}`);
  if (request.templateVersion !== undefined) extras.push(sql`template_version = ${request.templateVersion}`);
  if (request.templateArm !== undefined) extras.push(sql`template_arm = ${request.templateArm}`);
  if (request.templateLocale !== undefined) extras.push(sql`template_locale = ${request.templateLocale}`);
  if (request.set?.group_key !== undefined) extras.push(sql`group_key = ${request.set.group_key}`);
  if (request.set?.forced !== undefined) extras.push(sql`forced = ${request.set.forced}`);
  const statusChange = spec.to !== spec.from[0] || spec.from.length > 1;
  const setClause = sql.join(
    [
      sql`status = ${spec.to}`,
      ...(statusChange ? [sql`updated_at = now()`, sql`reason = ${spec.keepsReason ? (request.detail ?? null) : null}`] : []),
      leaseColumns(spec.lease, request.owner ?? null, settings.leaseMs),
      handedOverColumn(spec.handedOver),
      ...(spec.attempts !== 0 ? [sql`attempts = greatest(0, attempts + ${spec.attempts})`] : []),
      ...extras,
    ],
    sql`, `,
  );
  const update = sql`update reminder_ledger set ${setClause}
    where id = any(${idArray(request.ids)}) and status = any(${statusArray(spec.from)}) and ${guard}
    returning id, attempts, status, group_key`;
  const statement = spec.event
    ? sql<TransitionResult['moved'][number]>`with moved as (${update}),
        events as (
          insert into reminder_events (ledger_id, event, status, detail, message_id, template_version, actor)
          select id, ${spec.event}, ${spec.to}, ${request.detail ?? null}, ${request.messageId ?? null}, ${request.templateVersion ?? null}, ${request.actor} from moved
        )
        select * from moved order by id`
    : sql<TransitionResult['moved'][number]>`${update}`;
  const { rows } = await statement.execute(db);
  const movedIds = new Set(rows.map((r) => r.id));
  const missed = request.ids.filter((id) => !movedIds.has(id));
  if (missed.length > 0) for (const listener of missListeners) listener(name, missed.length);
  return { transition: name, moved: rows, missed };
}

/**
 * The claim: the next pending rows of one group (at most `limit`, rows another claim holds
 * passed over) move to `sending` under a new lease, their attempt counted, with their events,
 * in one statement. A row replayed while an earlier lease may still run (its grace) waits.
 */
export async function claimRows(
  db: Db,
  request: { groupKey: string; limit: number; owner: string; actor: string; jobId?: string },
  settings: LeaseSettings,
): Promise<LedgerRow[]> {
  const spec = TRANSITIONS.claim;
  const { rows } = await sql<LedgerRow>`
    with picked as (
      select id from reminder_ledger
      where group_key = ${request.groupKey} and status = any(${statusArray(spec.from)})
        and (lease_expires_at is null or lease_expires_at < now() - ${interval(settings.replayGraceMs)})
      order by id limit ${request.limit}
      for update skip locked
    ), moved as (
      update reminder_ledger r set status = ${spec.to}, reason = null, updated_at = now(),
        ${leaseColumns(spec.lease, request.owner, settings.leaseMs)}, ${handedOverColumn(spec.handedOver)},
        attempts = r.attempts + 1, job_id = ${request.jobId ?? null}
      from picked where r.id = picked.id
      returning r.*
    ), events as (
      insert into reminder_events (ledger_id, event, status, detail, actor)
      select id, ${spec.event}, ${spec.to}, 'attempt ' || attempts, ${request.actor} from moved
    )
    select * from moved order by id`.execute(db);
  return rows;
}

/** The heartbeat: extends the live leases of these owners (an expired one is not revived). */
export async function extendLeases(db: Db, owners: readonly string[], leaseMs: number): Promise<number> {
  if (owners.length === 0) return 0;
  const result = await sql`update reminder_ledger set ${leaseColumns(TRANSITIONS.handOver.lease, null, leaseMs)}
    where lease_owner = any(${[...owners]}::text[]) and status = 'sending' and lease_expires_at > now()`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}

export interface Settled {
  /** Never handed over: back to pending, to be sent. */
  pending: TransitionResult['moved'];
  /** Handed over (or claimed without a lease by the previous release): may have been delivered. */
  unknown: TransitionResult['moved'];
}

/**
 * The sweep: rows whose lease expired are settled, those never handed to SMTP back to pending
 * (nothing went out), the others `unknown`. A live lease is never touched, whatever its age.
 */
export async function settleExpiredLeases(db: Kysely<Database>, actor: string, settings: LeaseSettings, limit = 1000): Promise<Settled> {
  const expired = await db
    .selectFrom('reminder_ledger')
    .select(['id', 'handed_over_at', 'lease_expires_at'])
    .where('status', '=', 'sending')
    .where((eb) =>
      eb.or([
        eb('lease_expires_at', '<', sql<Date>`now()`),
        eb.and([eb('lease_expires_at', 'is', null), eb('claimed_at', '<', sql<Date>`now() - ${interval(LEGACY_CLAIM_TIMEOUT_MS)}`)]),
      ]),
    )
    .orderBy('id')
    .limit(limit)
    .execute();
  const by = { settlePending: [] as string[], settleUnknown: [] as string[] };
  for (const row of expired) by[settleTransition({ handedOverAt: row.handed_over_at, leased: row.lease_expires_at !== null })].push(row.id);
  const pending = await applyTransition(db, 'settlePending', { ids: by.settlePending, actor, detail: 'the attempt that claimed it stopped before handing it to SMTP: nothing was sent; sending again' }, settings);
  const unknown = await applyTransition(
    db,
    'settleUnknown',
    { ids: by.settleUnknown, actor, detail: 'the attempt that claimed it stopped after handing it to SMTP: it may have been delivered; check, then replay to resend' },
    settings,
  );
  return { pending: pending.moved, unknown: unknown.moved };
}

/** Pending rows by group: what the send queue must hold a job for. */
export async function pendingGroups(db: Db): Promise<Array<{ groupKey: string; ledgerIds: string[] }>> {
  const rows = await db
    .selectFrom('reminder_ledger')
    .select(['group_key', sql<string[]>`array_agg(id order by id)`.as('ids')])
    .where('status', '=', 'pending')
    .groupBy('group_key')
    .orderBy('group_key')
    .execute();
  return rows.map((row) => ({ groupKey: row.group_key, ledgerIds: row.ids.map(String) }));
}

/** Rows still open (see OPEN_STATUSES) by status, and the latest lease among the `sending` ones. */
export async function openRows(db: Db): Promise<{ counts: Partial<Record<LedgerStatus, number>>; latestLease: Date | null; unleased: number }> {
  const rows = await db
    .selectFrom('reminder_ledger')
    .select(['status', (eb) => eb.fn.countAll<string>().as('n'), (eb) => eb.fn.max('lease_expires_at').as('latest'), sql<string>`count(*) filter (where lease_expires_at is null)`.as('unleased')])
    .where('status', 'in', [...OPEN_STATUSES])
    .groupBy('status')
    .execute();
  const counts: Partial<Record<LedgerStatus, number>> = {};
  let latestLease: Date | null = null;
  let unleased = 0;
  for (const row of rows) {
    counts[row.status] = Number(row.n);
    if (row.status === 'sending') {
      latestLease = (row.latest as Date | null) ?? null;
      unleased = Number(row.unleased);
    }
  }
  return { counts, latestLease, unleased };
}

/** Rows that need an operator (see NEEDS_OPERATOR), for the drain summary's lists. */
export const operatorStatuses = NEEDS_OPERATOR;
