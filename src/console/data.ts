import { type Kysely, sql, type Transaction } from 'kysely';
import type { App } from '../app';
import { addDays, businessDate } from '../dates';
import type { Database, IsoDate, LedgerRow, LedgerStatus, ReminderKind } from '../db/types';
import { readEligibilityInputs } from '../delivery/portal-state';
import { readEmailInput } from '../delivery/email-input';
import { checkHealth, type HealthReport } from '../ops/health';
import { ledgerHistory, type LedgerEventRow } from '../ops/history';
import { listUndelivered, type UndeliveredRow } from '../ops/undelivered';
import { forecast, type ForecastDay } from '../scan/forecast';
import { UserError } from '../user-error';
import { recentActions } from './audit';
import { liveVersions } from '../templates-store/store';

export interface TodayView {
  date: IsoDate;
  health: HealthReport;
  lastScan: { date: IsoDate; startedAt: Date; completedAt: Date | null; durationMs: number | null; queued: number; skipped: number; caughtUp: number; missedDays: number } | null;
  /** Ledger rows of today's scan by status. */
  progress: Record<LedgerStatus, number>;
  queue: { waiting: number; active: number; delayed: number; failed: number } | null;
  /** Age of the oldest pending reminder (ms), or null when none is pending. */
  lagMs: number | null;
  waiting: { failed: number; unknown: number; latest: UndeliveredRow[] };
  actions: Awaited<ReturnType<typeof recentActions>>;
}

const emptyProgress = (): Record<LedgerStatus, number> => ({ pending: 0, sending: 0, sent: 0, failed: 0, skipped: 0, unknown: 0, bounced: 0 });

/** Everything the landing page shows; each part fails alone (a down Redis leaves the rest). */
export async function todayView(app: App, now = new Date()): Promise<TodayView> {
  const date = businessDate(now, app.config.timezone);
  const [health, scan, progressRows, queue, lag, undelivered, actions] = await Promise.all([
    checkHealth(app, 2000),
    app.db.selectFrom('scan_runs').selectAll().orderBy('scan_date', 'desc').limit(1).executeTakeFirst(),
    app.db.selectFrom('reminder_ledger').select(['status', sql<string>`count(*)`.as('n')]).where('scan_date', '=', date).groupBy('status').execute(),
    app
      .sendQueue()
      .getJobCounts('waiting', 'active', 'delayed', 'failed')
      .then((c) => ({ waiting: c.waiting ?? 0, active: c.active ?? 0, delayed: c.delayed ?? 0, failed: c.failed ?? 0 }))
      .catch(() => null),
    app.db.selectFrom('reminder_ledger').select(sql<Date | null>`min(updated_at)`.as('oldest')).where('status', '=', 'pending').executeTakeFirst(),
    Promise.all([
      listUndelivered(app.db, { statuses: ['failed'], limit: 0 }),
      listUndelivered(app.db, { statuses: ['unknown'], limit: 0 }),
      listUndelivered(app.db, { statuses: ['failed', 'unknown'], limit: 8 }),
    ]),
    recentActions(app.db, 8),
  ]);
  const progress = emptyProgress();
  for (const row of progressRows) progress[row.status] = Number(row.n);
  return {
    date,
    health,
    lastScan: scan
      ? { date: scan.scan_date, startedAt: scan.started_at, completedAt: scan.completed_at, durationMs: scan.duration_ms, queued: scan.queued, skipped: scan.skipped, caughtUp: scan.caught_up, missedDays: scan.missed_days }
      : null,
    progress,
    queue,
    lagMs: lag?.oldest ? Math.max(0, now.getTime() - new Date(lag.oldest).getTime()) : null,
    waiting: { failed: undelivered[0].total, unknown: undelivered[1].total, latest: undelivered[2].rows.reverse() },
    actions,
  };
}

export const CHART_STATUSES = ['sent', 'failed', 'unknown', 'skipped'] as const;

export interface ActivityView {
  days: IsoDate[];
  /** Per kind, per status: one count per day of `days` (by scan date). */
  series: Record<ReminderKind, Record<(typeof CHART_STATUSES)[number], number[]>>;
  forecast: ForecastDay[];
}

/** The last 90 days by scan date, kind and status, and the next 30 days as `reminders forecast` sees them. */
export async function activityView(app: App, now = new Date()): Promise<ActivityView> {
  const today = businessDate(now, app.config.timezone);
  const first = addDays(today, -89);
  const days = Array.from({ length: 90 }, (_, i) => addDays(first, i));
  const [rows, ahead] = await Promise.all([
    app.db
      .selectFrom('reminder_ledger')
      .select(['scan_date', 'kind', 'status', sql<string>`count(*)`.as('n')])
      .where('scan_date', '>=', first)
      .where('scan_date', '<=', today)
      .where('status', 'in', [...CHART_STATUSES])
      .groupBy(['scan_date', 'kind', 'status'])
      .execute(),
    forecast(app.db, app.config, today, 30),
  ]);
  const zeros = () => Object.fromEntries(CHART_STATUSES.map((s) => [s, days.map(() => 0)])) as Record<(typeof CHART_STATUSES)[number], number[]>;
  const series: ActivityView['series'] = { license: zeros(), maintenance: zeros() };
  const index = new Map(days.map((d, i) => [d, i]));
  for (const row of rows) {
    const i = index.get(row.scan_date);
    if (i !== undefined) series[row.kind][row.status as (typeof CHART_STATUSES)[number]][i] = Number(row.n);
  }
  return { days, series, forecast: ahead };
}

export interface SearchFilter {
  q?: string;
  status?: LedgerStatus;
  kind?: ReminderKind;
  offset?: number;
  from?: IsoDate;
  to?: IsoDate;
  /** Keyset page: rows before this `scanDate_id` in the order of the list. */
  before?: string;
}

/** Longest a search may run before the page asks for a narrower one. */
export const SEARCH_TIMEOUT_MS = 10_000;

export type SearchRow = Pick<LedgerRow, 'id' | 'status' | 'kind' | 'license_key' | 'order_number' | 'recipient' | 'offset_days' | 'expires_on' | 'scan_date' | 'reason' | 'updated_at'>;

export const PAGE_SIZE = 50;

/**
 * Reminders matching a search, newest scan date first, one page at a time (keyset on scan date
 * and id, so page 1,000 costs what page 1 costs). `q` is an address (has '@'), or a license key,
 * an order number or the start of a customer's name. A search that would run longer than
 * SEARCH_TIMEOUT_MS is cancelled by PostgreSQL (a UserError asks for a narrower one).
 */
export async function searchReminders(db: Kysely<Database>, filter: SearchFilter): Promise<{ rows: SearchRow[]; next: string | null }> {
  try {
    return await db.transaction().execute(async (trx) => {
      await sql`set local statement_timeout = ${sql.lit(SEARCH_TIMEOUT_MS)}`.execute(trx);
      return await runSearch(trx, filter);
    });
  } catch (error) {
    if ((error as { code?: string }).code === '57014') {
      throw new UserError(`the search took longer than ${SEARCH_TIMEOUT_MS / 1000} s: narrow it (a license key, an address, a status or a range of scan dates)`);
    }
    throw error;
  }
}

async function runSearch(db: Transaction<Database>, filter: SearchFilter): Promise<{ rows: SearchRow[]; next: string | null }> {
  const q = filter.q?.trim();
  let query = db
    .selectFrom('reminder_ledger')
    .select(['id', 'status', 'kind', 'license_key', 'order_number', 'recipient', 'offset_days', 'expires_on', 'scan_date', 'reason', 'updated_at']);
  if (q) {
    if (q.includes('@')) {
      query = query.where('recipient', '=', q.toLowerCase());
    } else {
      const orders = await db
        .selectFrom('orders')
        .select('id')
        .where((eb) => eb.or([eb('order_number', '=', q), eb(eb.fn('lower', ['customer_name']), 'like', `${q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`)]))
        .limit(1000)
        .execute();
      const orderIds = orders.map((o) => o.id);
      query = query.where((eb) => (orderIds.length > 0 ? eb.or([eb('license_key', '=', q), eb('order_id', 'in', orderIds)]) : eb('license_key', '=', q)));
    }
  }
  if (filter.status) query = query.where('status', '=', filter.status);
  if (filter.kind) query = query.where('kind', '=', filter.kind);
  if (filter.offset !== undefined) query = query.where('offset_days', '=', filter.offset);
  if (filter.from) query = query.where('scan_date', '>=', filter.from);
  if (filter.to) query = query.where('scan_date', '<=', filter.to);
  const cursor = /^(\d{4}-\d{2}-\d{2})_(\d{1,18})$/.exec(filter.before ?? '');
  if (cursor) query = query.where(sql<boolean>`(scan_date, id) < (${cursor[1]}::date, ${cursor[2]}::bigint)`);
  const rows = await query
    .orderBy('scan_date', 'desc')
    .orderBy('id', 'desc')
    .limit(PAGE_SIZE + 1)
    .execute();
  const more = rows.length > PAGE_SIZE;
  const page = rows.slice(0, PAGE_SIZE);
  const last = page[page.length - 1];
  return { rows: page, next: more && last ? `${last.scan_date}_${last.id}` : null };
}

export interface ReminderDetail {
  row: LedgerRow;
  events: LedgerEventRow[];
  /** Rows sent in the same email (same Message-ID), this one included. */
  sameEmail: Array<Pick<LedgerRow, 'id' | 'license_key' | 'order_number' | 'status'>>;
  customerName: string | null;
  /** Holds, suppression, unsubscriptions and the license's state now. */
  notes: string[];
  hold: string | null;
  suppression: string | null;
}

export async function reminderDetail(db: Kysely<Database>, id: string): Promise<ReminderDetail | null> {
  if (!/^\d{1,18}$/.test(id)) return null;
  const row = await db.selectFrom('reminder_ledger').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) return null;
  const [history, sameEmail, order, hold, suppression] = await Promise.all([
    ledgerHistory(db, { licenseKey: row.license_key, recipient: row.recipient }),
    row.message_id
      ? db.selectFrom('reminder_ledger').select(['id', 'license_key', 'order_number', 'status']).where('group_key', '=', row.group_key).where('message_id', '=', row.message_id).orderBy('id').execute()
      : Promise.resolve([]),
    db.selectFrom('orders').select('customer_name').where('id', '=', row.order_id).executeTakeFirst(),
    db.selectFrom('license_holds').select('reason').where('license_id', '=', row.license_id).executeTakeFirst(),
    db.selectFrom('suppressed_addresses').select('reason').where('address', '=', row.recipient).executeTakeFirst(),
  ]);
  const events = history.entries.find((e) => e.row.id === row.id)?.events ?? [];
  return { row, events, sameEmail, customerName: order?.customer_name ?? null, notes: history.notes, hold: hold?.reason ?? null, suppression: suppression?.reason ?? null };
}

/**
 * The email a sent reminder carried, rebuilt from the template version recorded on its row (as
 * stored when it was sent) and the rows sent with it. Customer and contact details are today's.
 */
export async function sentEmail(app: App, id: string): Promise<{ subject: string; html: string; templateVersion: string } | { problem: string }> {
  const row = await app.db.selectFrom('reminder_ledger').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row?.template_version) return { problem: 'this reminder records no template version: it was never rendered' };
  const rows = row.message_id
    ? await app.db.selectFrom('reminder_ledger').selectAll().where('group_key', '=', row.group_key).where('message_id', '=', row.message_id).orderBy('id').execute()
    : [row];
  const [{ databaseVersionStore }, { compiledFromParts }, { FAMILY_OF_KIND }, { variantOf }] = await Promise.all([
    import('../render/template-versions'),
    import('../render/compile-variant'),
    import('../render/template-source'),
    import('../render/renderer'),
  ]);
  const reads = await readEligibilityInputs(app.db, rows);
  const input = await readEmailInput(app.db, app.config, rows, reads);
  const stored = await databaseVersionStore(app.db).find(row.template_version);
  const family = FAMILY_OF_KIND[row.kind];
  const variant = variantOf(input);
  const matching = stored.filter((s) => s.family === family && s.variant === variant);
  const version = matching.find((s) => s.requestedLocale === input.locale) ?? matching[0];
  if (!version) return { problem: `template version ${row.template_version} of ${family} ${variant} is not in this database` };
  const email = compiledFromParts(version).fill(input);
  return { subject: email.subject, html: email.html, templateVersion: row.template_version };
}

export interface TemplateRow {
  variant: string;
  version: string;
  since: Date;
  versions: number;
  lastSentAt: Date | null;
}

/** The published (live, arm A) version of each variant, since when, and how many versions it had. */
export async function liveTemplates(db: Kysely<Database>): Promise<TemplateRow[]> {
  const [live, counts] = await Promise.all([
    liveVersions(db),
    db.selectFrom('template_versions').select(['family', 'locale', 'variant', sql<string>`count(*)`.as('n')]).groupBy(['family', 'locale', 'variant']).execute(),
  ]);
  const kept = new Map(counts.map((c) => [`${c.family}/${c.locale}/${c.variant}`, Number(c.n)]));
  return live
    .filter((l) => l.arm === 'A')
    .map((l) => ({ variant: l.variant, version: l.version, since: l.publishedAt, versions: kept.get(l.variant) ?? 1, lastSentAt: null }));
}
