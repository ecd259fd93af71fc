import { type Kysely, type RawBuilder, type Selectable, sql } from 'kysely';
import { addDays } from '../dates';
import { type Database, type IsoDate, REMINDER_KINDS, type ReminderKind, type ReminderLedgerTable } from '../db/types';
import { EXPIRY_SOURCE, ON_ITS_WAY } from '../delivery/eligibility';
import { candidateDaysLeft } from './due-rule';
import type { Config } from '../config';

type ScanConfig = Pick<Config, 'offsets' | 'catchupDays'>;

/** A row the scan would record, as the pure rule's `planScan` returns it: the ledger's columns, and the days left. */
export type DuePlannedRow = Pick<
  Selectable<ReminderLedgerTable>,
  'kind' | 'license_id' | 'license_key' | 'order_id' | 'order_number' | 'expires_on' | 'offset_days' | 'recipient' | 'scan_date' | 'group_key' | 'reason'
> & { status: 'pending' | 'skipped'; days_left: number };

/** What one scan recorded for one kind and offset. */
export interface DueCount {
  kind: ReminderKind;
  offset: number;
  queued: number;
  skipped: number;
  late: number;
}

/**
 * The characters `String.prototype.trim` removes (ECMAScript WhiteSpace and LineTerminator), so
 * that `btrim` in PostgreSQL trims an address exactly as `normalizeAddress` does.
 */
const JS_WHITESPACE = '\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff';

/** One kind's candidates: active items of its license type whose expiry date is one of the candidate dates. */
function kindCandidates(kind: ReminderKind, expiryDates: IsoDate[]): RawBuilder<unknown> {
  const { column, type } = EXPIRY_SOURCE[kind];
  // Literals, not parameters, for the type and status: the planner matches them against the
  // partial expiry index's predicate, so the cost follows the due items, not the table.
  return sql`
    select ${sql.lit(kind)}::text as kind, ${sql.lit(REMINDER_KINDS.indexOf(kind))}::int as kind_order,
      l.id as license_id, l.license_key, l.order_id, l.${sql.ref(column)} as expires_on
    from licenses l
    where l.license_type = ${sql.lit(type)} and l.status = 'active' and l.${sql.ref(column)} is not null
      and l.${sql.ref(column)} = any(${expiryDates}::date[])`;
}

/**
 * The scan's plan for date T as one SELECT: the same rows, statuses and reasons as `planScan`
 * (the pure rule of due-rule.ts and eligibility.ts, kept as the reference and for the forecast),
 * computed in PostgreSQL so that the due rows never travel to the process and back.
 *
 * Per (item, recipient): the candidate offsets k with days_left ≤ k ≤ days_left + CATCHUP_DAYS; the
 * smallest is sent, unless a smaller offset of the same series is already on its way (then it is
 * skipped as superseded), or the license is held or the address suppressed; the larger ones are
 * skipped as caught up. Offsets the ledger already holds for the series are left out.
 * Rows come out in the order the pure rule produces them (kind, license, first contact, the sent
 * offset before the superseded ones), so ledger ids follow the same order either way.
 */
export function plannedRowsQuery(config: ScanConfig, scanDate: IsoDate): RawBuilder<DuePlannedRow & { sort_key: number }> {
  const expiryDates = candidateDaysLeft(config.offsets, config.catchupDays).map((d) => addDays(scanDate, d));
  const recipient = sql`lower(btrim(oc.email, ${JS_WHITESPACE}))`;
  return sql<DuePlannedRow & { sort_key: number }>`
    with candidates as materialized (
      ${sql.join(
        REMINDER_KINDS.map((kind) => kindCandidates(kind, expiryDates)),
        sql` union all `,
      )}
    ),
    pairs as materialized (
      -- Every subscribed contact of the item's order, one per address. The lateral lookups keep
      -- PostgreSQL on the primary key and order_id indexes: a plain join lets it hash-join whole
      -- tables once it overestimates the candidates (it does at 1M licenses).
      select distinct on (c.kind_order, c.license_id, a.recipient)
        c.kind, c.kind_order, c.license_id, c.license_key, c.order_id, c.expires_on,
        coalesce(o.order_number, '') as order_number, a.recipient, a.contact_id,
        (c.expires_on - ${scanDate}::date) as days_left
      from candidates c
      left join lateral (select order_number from orders where orders.id = c.order_id limit 1) o on true
      join lateral (
        select ${recipient} as recipient, oc.id as contact_id
        from order_contacts oc
        where oc.order_id = c.order_id and oc.unsubscribed_at is null
        offset 0
      ) a on a.recipient <> ''
      order by c.kind_order, c.license_id, a.recipient, a.contact_id
    ),
    steps as (
      select p.*, k.offset_days,
        min(k.offset_days) over (partition by p.kind_order, p.license_id, p.recipient) as send
      from pairs p
      join unnest(${config.offsets}::int[]) as k(offset_days)
        on k.offset_days between p.days_left and p.days_left + ${config.catchupDays}::int
    ),
    open_steps as (
      select s.*,
        (select min(r.offset_days) from reminder_ledger r
          where r.license_id = s.license_id and r.kind = s.kind and r.expires_on = s.expires_on
            and r.recipient = s.recipient and r.offset_days < s.send
            and r.status = any(${[...ON_ITS_WAY]}::text[])) as blocked_by
      from steps s
      where not exists (
        select 1 from reminder_ledger r
        where r.license_id = s.license_id and r.kind = s.kind and r.expires_on = s.expires_on
          and r.offset_days = s.offset_days and r.recipient = s.recipient)
    ),
    decided as (
      select s.*,
        case
          when s.offset_days <> s.send then 'superseded: caught up by the ' || s.send || '-day reminder'
          when s.blocked_by is not null then 'superseded: the ' || s.blocked_by || '-day reminder was already recorded'
          when h.license_id is not null then 'on hold: ' || h.reason
          when sa.address is not null then 'suppressed: ' || sa.reason
        end as reason
      from open_steps s
      left join license_holds h on h.license_id = s.license_id
      left join suppressed_addresses sa on sa.address = s.recipient
    )
    select kind, license_id::text as license_id, license_key, order_id::text as order_id, order_number,
      to_char(expires_on, 'YYYY-MM-DD') as expires_on, offset_days, recipient,
      ${scanDate}::text as scan_date,
      'send.' || kind || '.' || offset_days || '.' || ${scanDate}::text || '.'
        || left(encode(sha256(convert_to(recipient, 'UTF8')), 'hex'), 20) as group_key,
      case when reason is null then 'pending' else 'skipped' end as status,
      reason, days_left,
      row_number() over (order by kind_order, license_id, contact_id, offset_days <> send, offset_days)::int as sort_key
    from decided`;
}

/** The plan for date T as PostgreSQL computes it, in the pure rule's order (tests compare the two). */
export async function planScanInDatabase(db: Kysely<Database>, config: ScanConfig, scanDate: IsoDate): Promise<DuePlannedRow[]> {
  const { rows } = await sql<DuePlannedRow & { sort_key: number }>`
    select * from (${plannedRowsQuery(config, scanDate)}) planned order by sort_key`.execute(db);
  return rows.map(({ sort_key: _, ...row }) => row);
}

/**
 * Records the scan's due rows in one statement: the plan, the ledger insert (the unique key
 * decides, so concurrent scans record each reminder once) and the audit events of the rows this
 * statement created. Returns the counts per kind and offset of what it created.
 */
export async function recordDueInDatabase(db: Kysely<Database>, config: ScanConfig, scanDate: IsoDate): Promise<DueCount[]> {
  const { rows } = await db.transaction().execute(async (trx) => {
    // Lookups by key, whatever the statistics say: a new or emptied ledger has none, and the
    // planner would then read the whole ledger once per candidate, rows this statement has just
    // inserted included (a quadratic first scan). JIT compiling costs more than this plan runs.
    await sql`set local enable_seqscan = off`.execute(trx);
    await sql`set local jit = off`.execute(trx);
    return recordStatement(trx, config, scanDate);
  });
  return rows.map((r) => ({ kind: r.kind, offset: r.offset, queued: Number(r.queued), skipped: Number(r.skipped), late: Number(r.late) }));
}

function recordStatement(db: Kysely<Database>, config: ScanConfig, scanDate: IsoDate) {
  return sql<{ kind: ReminderKind; offset: number; queued: string; skipped: string; late: string }>`
    with planned as (${plannedRowsQuery(config, scanDate)}),
    created as (
      insert into reminder_ledger (kind, license_id, license_key, order_id, order_number, expires_on, offset_days,
        recipient, scan_date, group_key, status, reason)
      select kind, license_id::bigint, license_key, order_id::bigint, order_number, expires_on::date, offset_days,
        recipient, scan_date::date, group_key, status, reason
      from planned order by sort_key
      on conflict on constraint reminder_ledger_key do nothing
      returning id, kind, offset_days, status, reason, (expires_on - scan_date) as days_left
    ),
    events as (
      insert into reminder_events (ledger_id, event, status, detail, actor)
      select id, case when status = 'pending' then 'queued' else 'skipped' end, status, reason, 'scan'
      from created order by id
    )
    select kind, offset_days as "offset",
      count(*) filter (where status = 'pending') as queued,
      count(*) filter (where status <> 'pending') as skipped,
      count(*) filter (where status = 'pending' and days_left < offset_days) as late
    from created group by kind, offset_days`.execute(db);
}
