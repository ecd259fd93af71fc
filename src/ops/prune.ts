import { type Kysely, sql } from 'kysely';
import { DateTime } from 'luxon';
import { addDays } from '../dates';
import type { Database, IsoDate } from '../db/types';
import { UserError } from '../user-error';
import type { Age } from './prune-age';

/** The first expiry date kept: series that expired before it are archived. */
export function pruneCutoff(today: IsoDate, age: Age): IsoDate {
  return DateTime.fromISO(today, { zone: 'utc' }).minus({ [age.unit]: age.amount }).toISODate() as IsoDate;
}

export interface PruneResult {
  /** Series whose expiry date is before this were archived. */
  expiredBefore: IsoDate;
  ledgerRows: number;
  eventRows: number;
}

/**
 * Moves the ledger rows (and their audit events) of series that expired before `today − age` to
 * the archive tables, in batches of `batchSize`, each batch one statement. Dedup is the ledger's
 * unique key, and a scan for date T can only record series expiring on or after T − CATCHUP_DAYS
 * (the last catch-up of the 0-day reminder): so rows of series that expired earlier than the catch-up
 * window can never meet a new row of today's or a later scan. The cutoff must lie before that
 * window, rows still `pending` or `sending` are never moved, and the cutoff is recorded first, so
 * that a scan for a date whose window reaches back before it refuses to run (it could record a
 * moved reminder again).
 */
export async function pruneLedger(
  db: Kysely<Database>,
  options: { today: IsoDate; age: Age; catchupDays: number; actor: string; batchSize?: number; dryRun?: boolean },
): Promise<PruneResult> {
  const expiredBefore = pruneCutoff(options.today, options.age);
  const oldestLive = addDays(options.today, -options.catchupDays);
  if (expiredBefore > oldestLive) {
    throw new UserError(
      `--older-than reaches only back to ${expiredBefore}: series expiring on or after ${oldestLive} (today minus CATCHUP_DAYS=${options.catchupDays}) can still be due and must keep their rows`,
    );
  }
  const scannedBefore = addDays(expiredBefore, options.catchupDays);
  if (options.dryRun) {
    const { rows } = await sql<{ ledger_rows: string; event_rows: string }>`
      with batch as (
        select id from reminder_ledger
        where scan_date < ${scannedBefore}::date and expires_on < ${expiredBefore}::date and status not in ('pending', 'sending')
      )
      select (select count(*) from batch) as ledger_rows,
        (select count(*) from reminder_events e join batch on batch.id = e.ledger_id) as event_rows`.execute(db);
    return { expiredBefore, ledgerRows: Number(rows[0]?.ledger_rows ?? 0), eventRows: Number(rows[0]?.event_rows ?? 0) };
  }
  const { rows: logged } = await sql<{ id: string }>`
    insert into ledger_prunes (expired_before, ledger_rows, event_rows, actor)
    values (${expiredBefore}::date, 0, 0, ${options.actor}) returning id`.execute(db);
  const pruneId = logged[0]?.id;
  const batchSize = options.batchSize ?? 5000;
  let ledgerRows = 0;
  let eventRows = 0;
  for (;;) {
    const { rows } = await sql<{ ledger_rows: string; event_rows: string }>`
      with batch as (
        select id from reminder_ledger
        -- A scan for T records series expiring from T − CATCHUP_DAYS on, so every row to move has
        -- scan_date < cutoff + CATCHUP_DAYS: the scan-date index finds them, no index of its own.
        where scan_date < ${scannedBefore}::date
          and expires_on < ${expiredBefore}::date and status not in ('pending', 'sending')
        order by scan_date, id
        limit ${batchSize}
        for update skip locked
      ),
      events as (
        delete from reminder_events e using batch where e.ledger_id = batch.id returning e.*
      ),
      archived_events as (
        insert into reminder_events_archive (id, ledger_id, row)
        select id, ledger_id, to_jsonb(events) from events
        on conflict (id) do nothing
      ),
      moved as (
        delete from reminder_ledger l using batch where l.id = batch.id returning l.*
      ),
      archived as (
        insert into reminder_ledger_archive (id, kind, license_id, license_key, expires_on, offset_days, recipient, status, row)
        select id, kind, license_id, license_key, expires_on, offset_days, recipient, status, to_jsonb(moved) from moved
        on conflict (id) do nothing
      )
      select (select count(*) from moved) as ledger_rows, (select count(*) from events) as event_rows`.execute(db);
    const moved = Number(rows[0]?.ledger_rows ?? 0);
    ledgerRows += moved;
    eventRows += Number(rows[0]?.event_rows ?? 0);
    if (moved === 0) break;
  }
  await sql`update ledger_prunes set ledger_rows = ${ledgerRows}, event_rows = ${eventRows} where id = ${pruneId}`.execute(db);
  return { expiredBefore, ledgerRows, eventRows };
}
