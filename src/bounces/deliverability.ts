import { type Kysely, sql } from 'kysely';
import type { Config } from '../config';
import { addDays, businessDate } from '../dates';
import type { Database, IsoDate } from '../db/types';

/**
 * The mailbox providers' published limits. Gmail's and Yahoo's sender rules: spam complaints
 * below 0.3 %, aiming below 0.1 %; bounces (unknown addresses) are commonly held below 2 %.
 */
export const THRESHOLDS = { complaintLimit: 0.003, complaintTarget: 0.001, bounceLimit: 0.02 } as const;

export interface DeliverabilityFigures {
  /** Messages sent (one per email, whatever the number of items in it). */
  sent: number;
  hardBounces: number;
  softBounces: number;
  complaints: number;
  bounceRate: number;
  complaintRate: number;
  /** What crosses a threshold, said plainly; empty when all is well. */
  flags: string[];
}

export interface DeliverabilityReport {
  from: IsoDate;
  to: IsoDate;
  thresholds: typeof THRESHOLDS;
  total: DeliverabilityFigures;
  days: Array<{ day: IsoDate } & DeliverabilityFigures>;
  domains: Array<{ domain: string } & DeliverabilityFigures>;
}

/** Rates and flags from counts (pure). A rate with nothing sent is 0. */
export function figures(counts: { sent: number; hard: number; soft: number; complaints: number }): DeliverabilityFigures {
  const rate = (n: number) => (counts.sent > 0 ? n / counts.sent : 0);
  const bounceRate = rate(counts.hard);
  const complaintRate = rate(counts.complaints);
  const flags: string[] = [];
  const pct = (r: number) => `${(r * 100).toFixed(2)} %`;
  if (complaintRate >= THRESHOLDS.complaintLimit) flags.push(`complaints ${pct(complaintRate)}: over Gmail's and Yahoo's 0.3 % limit`);
  else if (complaintRate >= THRESHOLDS.complaintTarget) flags.push(`complaints ${pct(complaintRate)}: above the 0.1 % to aim for`);
  if (bounceRate >= THRESHOLDS.bounceLimit) flags.push(`bounces ${pct(bounceRate)}: over 2 %`);
  return { sent: counts.sent, hardBounces: counts.hard, softBounces: counts.soft, complaints: counts.complaints, bounceRate, complaintRate, flags };
}

interface CountRow {
  key: string;
  sent: string;
  hard: string;
  soft: string;
  complaints: string;
}

/**
 * Per business day and per receiving domain: messages sent that day, and the bounces and
 * complaints received that day that name a reminder we sent (a complaint days later counts on
 * its own day, as the providers count it).
 */
export async function deliverabilityReport(
  db: Kysely<Database>,
  config: Pick<Config, 'timezone'>,
  range: { from?: IsoDate; to?: IsoDate } = {},
): Promise<DeliverabilityReport> {
  const to = range.to ?? businessDate(new Date(), config.timezone);
  const from = range.from ?? addDays(to, -29);
  const tz = config.timezone;
  const count = async (key: 'day' | 'domain'): Promise<CountRow[]> => {
    const sentKey = key === 'day' ? sql`(sent_at at time zone ${tz})::date::text` : sql`split_part(recipient, '@', 2)`;
    const eventKey = key === 'day' ? sql`(received_at at time zone ${tz})::date::text` : sql`coalesce(recipient_domain, '')`;
    const result = await sql<CountRow>`
      with sent as (
        select ${sentKey} as key, count(distinct message_id) as n from reminder_ledger
         where sent_at is not null and status in ('sent','bounced')
           and (sent_at at time zone ${tz})::date between ${from}::date and ${to}::date
         group by 1
      ),
      events as (
        select ${eventKey} as key,
               count(*) filter (where type = 'hard') as hard,
               count(*) filter (where type = 'soft') as soft,
               count(*) filter (where type = 'complaint') as complaints
          from bounce_events
         where cardinality(ledger_ids) > 0 and (received_at at time zone ${tz})::date between ${from}::date and ${to}::date
         group by 1
      )
      select coalesce(s.key, e.key) as key, coalesce(s.n, 0) as sent, coalesce(e.hard, 0) as hard, coalesce(e.soft, 0) as soft, coalesce(e.complaints, 0) as complaints
        from sent s full join events e on e.key = s.key
       order by 1`.execute(db);
    return result.rows;
  };
  const toFigures = (r: CountRow) => figures({ sent: Number(r.sent), hard: Number(r.hard), soft: Number(r.soft), complaints: Number(r.complaints) });
  const [byDay, byDomain] = await Promise.all([count('day'), count('domain')]);
  const sum = (k: keyof Omit<CountRow, 'key'>) => byDay.reduce((n, r) => n + Number(r[k]), 0);
  return {
    from,
    to,
    thresholds: THRESHOLDS,
    total: figures({ sent: sum('sent'), hard: sum('hard'), soft: sum('soft'), complaints: sum('complaints') }),
    days: byDay.map((r) => ({ day: r.key, ...toFigures(r) })),
    domains: byDomain.map((r) => ({ domain: r.key, ...toFigures(r) })).sort((a, b) => b.sent - a.sent || a.domain.localeCompare(b.domain)),
  };
}

/** The report as text tables: days, then domains, with the flags beside each line. */
export function formatDeliverability(report: DeliverabilityReport): string {
  const pct = (r: number) => `${(r * 100).toFixed(2)}%`;
  const line = (label: string, f: DeliverabilityFigures) =>
    `${label.padEnd(28)} ${String(f.sent).padStart(7)} ${String(f.hardBounces).padStart(6)} ${String(f.softBounces).padStart(6)} ${String(f.complaints).padStart(6)} ${pct(f.bounceRate).padStart(8)} ${pct(f.complaintRate).padStart(8)}  ${f.flags.join('; ')}`;
  const head = `${''.padEnd(28)} ${'sent'.padStart(7)} ${'hard'.padStart(6)} ${'soft'.padStart(6)} ${'compl.'.padStart(6)} ${'bounce'.padStart(8)} ${'compl.'.padStart(8)}`;
  return [
    `Deliverability ${report.from} to ${report.to} (limits: complaints < 0.3 %, aim < 0.1 %; bounces < 2 %)`,
    '',
    `per day${head.slice(7)}`,
    ...report.days.map((d) => line(d.day, d)),
    line('total', report.total),
    '',
    `per receiving domain${head.slice(20)}`,
    ...report.domains.map((d) => line(d.domain || '(unknown)', d)),
  ].join('\n');
}

/**
 * The last `hours`' figures per receiving domain (the `limit` busiest, the rest as "other", and
 * "all"), for /metrics: messages sent in the window and matched bounces and complaints received in it.
 */
export async function recentDeliverability(db: Kysely<Database>, hours: number, limit = 20): Promise<Map<string, DeliverabilityFigures>> {
  const result = await sql<CountRow>`
    with sent as (
      select split_part(recipient, '@', 2) as key, count(distinct message_id) as n from reminder_ledger
       where sent_at > now() - make_interval(hours => ${hours}) and status in ('sent','bounced') group by 1
    ),
    events as (
      select coalesce(recipient_domain, '') as key,
             count(*) filter (where type = 'hard') as hard,
             count(*) filter (where type = 'soft') as soft,
             count(*) filter (where type = 'complaint') as complaints
        from bounce_events where cardinality(ledger_ids) > 0 and received_at > now() - make_interval(hours => ${hours}) group by 1
    )
    select coalesce(s.key, e.key) as key, coalesce(s.n, 0) as sent, coalesce(e.hard, 0) as hard, coalesce(e.soft, 0) as soft, coalesce(e.complaints, 0) as complaints
      from sent s full join events e on e.key = s.key
     order by coalesce(s.n, 0) desc, 1`.execute(db);
  const out = new Map<string, DeliverabilityFigures>();
  const other = { sent: 0, hard: 0, soft: 0, complaints: 0 };
  const all = { sent: 0, hard: 0, soft: 0, complaints: 0 };
  result.rows.forEach((r, i) => {
    const counts = { sent: Number(r.sent), hard: Number(r.hard), soft: Number(r.soft), complaints: Number(r.complaints) };
    for (const k of Object.keys(all) as Array<keyof typeof all>) all[k] += counts[k];
    if (i < limit) out.set(r.key || '(unknown)', figures(counts));
    else for (const k of Object.keys(other) as Array<keyof typeof other>) other[k] += counts[k];
  });
  if (other.sent + other.hard + other.soft + other.complaints > 0) out.set('other', figures(other));
  out.set('all', figures(all));
  return out;
}
