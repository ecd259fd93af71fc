import { type Kysely, type RawBuilder, sql, type Transaction } from 'kysely';
import type { Database, LedgerRow, LedgerStatus } from '../db/types';
import { Batcher, batcherFor } from './batcher';
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

/** The lease columns a transition writes; `owner` is a value, or a column of the statement's own (one owner per row). */
function leaseColumns(effect: LeaseEffect, owner: string | null | RawBuilder<unknown>, leaseMs: number): RawBuilder<unknown> {
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

/**
 * The SET list of a transition, shared by the one-request statement and the batched one: the
 * status and what the table says goes with it, then the columns the request sets. `reason` is the
 * row's new reason where the transition keeps one.
 */
function transitionSet(name: TransitionName, spec: TransitionSpec, parts: { reason: unknown; owner: string | null | RawBuilder<unknown>; extras: RawBuilder<unknown>[] }, leaseMs: number): RawBuilder<unknown> {
  const statusChange = spec.to !== spec.from[0] || spec.from.length > 1;
  return sql.join(
    [
      sql`status = ${spec.to}`,
      ...(statusChange ? [sql`updated_at = now()`, sql`reason = ${spec.keepsReason ? parts.reason : null}`] : []),
      leaseColumns(spec.lease, parts.owner, leaseMs),
      handedOverColumn(spec.handedOver),
      ...(spec.attempts !== 0 ? [sql`attempts = greatest(0, reminder_ledger.attempts + ${spec.attempts})`] : []),
      ...(name === 'sent' ? [sql`sent_at = now()`] : []),
      ...parts.extras,
    ],
    sql`, `,
  );
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
  if (request.messageId !== undefined) extras.push(sql`message_id = ${request.messageId}`);
  if (request.templateVersion !== undefined) extras.push(sql`template_version = ${request.templateVersion}`);
  if (request.templateArm !== undefined) extras.push(sql`template_arm = ${request.templateArm}`);
  if (request.templateLocale !== undefined) extras.push(sql`template_locale = ${request.templateLocale}`);
  if (request.set?.group_key !== undefined) extras.push(sql`group_key = ${request.set.group_key}`);
  if (request.set?.forced !== undefined) extras.push(sql`forced = ${request.set.forced}`);
  const setClause = transitionSet(name, spec, { reason: request.detail ?? null, owner: request.owner ?? null, extras }, settings.leaseMs);
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

/** The optional columns a lease-guarded request may set; requests batched together set the same ones. */
const REQUEST_COLUMNS = [
  ['messageId', 'message_id'],
  ['templateVersion', 'template_version'],
  ['templateArm', 'template_arm'],
  ['templateLocale', 'template_locale'],
] as const;

/** Which optional columns a request sets: requests with the same shape share one statement. */
export const requestShape = (request: TransitionRequest): string => REQUEST_COLUMNS.map(([field]) => (request[field] !== undefined ? '1' : '0')).join('');

/**
 * Applies one lease-guarded transition (the send path's: skip, hand-over, outcomes) to the rows
 * of several attempts in ONE statement, each row guarded by its own attempt's lease, with their
 * events (a data-modifying CTE). Each request gets the answer `applyTransition` would have given
 * it. The requests must not share rows and must set the same optional columns (see requestShape).
 */
export async function applyLeaseTransitions(db: Db, name: TransitionName, requests: readonly TransitionRequest[], settings: LeaseSettings): Promise<TransitionResult[]> {
  const spec: TransitionSpec = TRANSITIONS[name];
  if (spec.guard !== 'lease') throw new Error(`the ${name} transition is not lease-guarded: apply it with applyTransition`);
  if (requests.some((r) => !r.owner)) throw new Error(`the ${name} transition needs the lease owner`);
  const shape = requests.length > 0 ? requestShape(requests[0] as TransitionRequest) : '';
  if (requests.some((r) => requestShape(r) !== shape)) throw new Error('requests batched together must set the same columns');
  const rows = requests.flatMap((r, i) => r.ids.map((id) => ({ id, i })));
  if (rows.length === 0) return requests.map(() => ({ transition: name, moved: [], missed: [] }));
  const perRow = <T>(pick: (r: TransitionRequest) => T) => rows.map(({ i }) => pick(requests[i] as TransitionRequest));
  const setters = REQUEST_COLUMNS.filter(([field]) => (requests[0] as TransitionRequest)[field] !== undefined).map(([, column]) => sql`${sql.ref(column)} = q.${sql.ref(column)}`);
  const setClause = transitionSet(name, spec, { reason: sql.ref('q.detail'), owner: null, extras: setters }, settings.leaseMs);
  const text = (values: Array<string | null | undefined>) => sql`${values.map((v) => v ?? null)}::text[]`;
  const update = sql`update reminder_ledger set ${setClause}
    from (select * from unnest(${idArray(rows.map((r) => r.id))}, ${text(perRow((r) => r.owner))}, ${text(perRow((r) => r.detail))}, ${text(perRow((r) => r.actor))},
      ${text(perRow((r) => r.messageId))}, ${text(perRow((r) => r.templateVersion))}, ${text(perRow((r) => r.templateArm))}, ${text(perRow((r) => r.templateLocale))})
      as u(id, owner, detail, actor, message_id, template_version, template_arm, template_locale)) q
    where reminder_ledger.id = q.id and reminder_ledger.status = any(${statusArray(spec.from)}) and reminder_ledger.lease_owner = q.owner
      ${spec.lease === 'extend' ? sql`and reminder_ledger.lease_expires_at > now()` : sql``}
    returning reminder_ledger.id, reminder_ledger.attempts, reminder_ledger.status, reminder_ledger.group_key, q.detail, q.actor, q.message_id, q.template_version`;
  const statement = spec.event
    ? sql<TransitionResult['moved'][number]>`with moved as (${update}),
        events as (
          insert into reminder_events (ledger_id, event, status, detail, message_id, template_version, actor)
          select id, ${spec.event}, ${spec.to}, detail, message_id, template_version, actor from moved
        )
        select id, attempts, status, group_key from moved order by id`
    : sql<TransitionResult['moved'][number]>`with moved as (${update}) select id, attempts, status, group_key from moved order by id`;
  const { rows: moved } = await statement.execute(db);
  const byId = new Map(moved.map((row) => [String(row.id), row]));
  return requests.map((request) => {
    const mine = request.ids.flatMap((id) => byId.get(String(id)) ?? []);
    const missed = request.ids.filter((id) => !byId.has(String(id)));
    if (missed.length > 0) for (const listener of missListeners) listener(name, missed.length);
    return { transition: name, moved: mine, missed };
  });
}

const transitionBatchers = new WeakMap<object, Map<string, Batcher<TransitionRequest, TransitionResult>>>();

/** Statements a batch of the send path holds at most: a few hundred rows, well under pg's parameter limits. */
export const SEND_BATCH_MAX = 64;
/** How long a call waits for the batch in flight before a second statement of its kind is sent. */
export const SEND_BATCH_WINDOW_MS = 5;

/**
 * `applyTransition` for the send path's lease-guarded transitions, group-committed with the
 * process's other attempts making the same transition (see batcher.ts): one statement for all.
 */
export function applyLeaseTransition(db: Kysely<Database>, name: TransitionName, request: TransitionRequest, settings: LeaseSettings): Promise<TransitionResult> {
  const kind = `${name}|${requestShape(request)}|${settings.leaseMs}`;
  const batcher = batcherFor(transitionBatchers, db, kind, () =>
    new Batcher<TransitionRequest, TransitionResult>((requests) => applyLeaseTransitions(db, name, requests, settings), {
      maxBatch: SEND_BATCH_MAX,
      windowMs: SEND_BATCH_WINDOW_MS,
      maxInFlight: 2,
      keys: (r) => r.ids,
    }),
  );
  return batcher.submit(request);
}

export interface ClaimGroupRequest {
  groupKey: string;
  limit: number;
  owner: string;
  actor: string;
  jobId?: string;
}

/**
 * The claim, for several attempts in ONE statement: for each group (distinct groups only), its
 * next pending rows (at most the attempt's `limit`; rows another claim holds are passed over, `FOR
 * UPDATE SKIP LOCKED`) move to `sending` under that attempt's own lease, their attempt counted,
 * with their events. A row replayed while an earlier lease may still run (its grace) waits.
 */
export async function claimGroups(db: Db, requests: readonly ClaimGroupRequest[], settings: LeaseSettings): Promise<LedgerRow[][]> {
  if (requests.length === 0) return [];
  if (new Set(requests.map((r) => r.groupKey)).size !== requests.length) throw new Error('one claim per group in a statement');
  const spec = TRANSITIONS.claim;
  const { rows } = await sql<LedgerRow & { claim_actor: string }>`
    with req as (
      select * from unnest(${requests.map((r) => r.groupKey)}::text[], ${requests.map((r) => r.owner)}::text[], ${requests.map((r) => r.jobId ?? null)}::text[],
        ${requests.map((r) => r.actor)}::text[], ${requests.map((r) => r.limit)}::int[]) as q(group_key, owner, job_id, actor, lim)
    ), picked as (
      select p.id, req.owner, req.job_id, req.actor from req cross join lateral (
        select l.id from reminder_ledger l
        where l.group_key = req.group_key and l.status = any(${statusArray(spec.from)})
          and (l.lease_expires_at is null or l.lease_expires_at < now() - ${interval(settings.replayGraceMs)})
        order by l.id limit req.lim
        for update skip locked
      ) p
    ), moved as (
      update reminder_ledger r set status = ${spec.to}, reason = null, updated_at = now(),
        ${leaseColumns(spec.lease, sql.ref('picked.owner'), settings.leaseMs)}, ${handedOverColumn(spec.handedOver)}, attempts = r.attempts + 1, job_id = picked.job_id
      from picked where r.id = picked.id
      returning r.*, picked.actor as claim_actor
    ), events as (
      insert into reminder_events (ledger_id, event, status, detail, actor)
      select id, ${spec.event}, ${spec.to}, 'attempt ' || attempts, claim_actor from moved
    )
    select * from moved order by id`.execute(db);
  const byOwner = new Map<string, LedgerRow[]>(requests.map((r) => [r.owner, []]));
  for (const { claim_actor: _actor, ...row } of rows) byOwner.get(row.lease_owner as string)?.push(row as LedgerRow);
  return requests.map((r) => byOwner.get(r.owner) ?? []);
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
