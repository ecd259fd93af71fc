import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { sql } from 'kysely';
import type { App } from '../app';
import { recentDeliverability } from '../bounces/deliverability';
import { LEDGER_STATUSES, REMINDER_KINDS } from '../db/types';
import { onTransitionMiss } from '../delivery/ledger-sql';
import { SCAN_QUEUE, SEND_QUEUE } from '../queue/queues';
import { withTimeout } from './health';
import { scanStatus } from './scan-status';
import { listRefusals } from '../templates-store/store';

const QUEUE_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'failed', 'completed'] as const;

export interface Metrics {
  registry: Registry;
  /** Refreshes the gauges from PostgreSQL and Redis, then renders the Prometheus text format. */
  scrape(): Promise<string>;
}

/**
 * Prometheus metrics on a registry of their own (so several apps in one process, as in tests, do
 * not collide). The ledger and scan figures are read at scrape time: every daemon reports the
 * same totals, the ledger's, so aggregate with max(), not sum().
 */
export function createMetrics(app: App, timeoutMs = 3000): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
    new Gauge<L>({ name, help, labelNames, registers: [registry] });

  const ledger = gauge('reminders_ledger_reminders', 'Reminders in the delivery ledger by status and kind (one row per item, expiry, offset and recipient)', ['status', 'kind']);
  const queueJobs = gauge('reminders_queue_jobs', 'BullMQ jobs per queue and state', ['queue', 'state']);
  const lastScanDuration = gauge('reminders_last_scan_duration_seconds', 'Duration of the latest completed daily scan');
  const lastScanCompleted = gauge('reminders_last_scan_completed_timestamp_seconds', 'When the latest completed daily scan finished (Unix time)');
  const daysSinceScan = gauge('reminders_days_since_last_scan', 'Business days from the latest completed scan date to today: 0 or 1 is normal, 2 or more means the scheduler is behind');
  const missedDays = gauge('reminders_last_scan_missed_days', 'Days before the latest completed scan that had no scan of their own (caught up only within CATCHUP_DAYS)');
  const up = gauge('reminders_dependency_up', 'Whether the last scrape could read from the dependency (1) or not (0)', ['dependency']);
  const refusedTemplates = gauge('reminders_template_refused', 'Template variants whose latest publish was refused: 1 while a live version is sent, 2 while it has none (its reminders fail)', ['variant']);
  const misses = new Counter({
    name: 'reminders_ledger_transition_misses_total',
    help: 'Ledger transitions that found a row no longer in the expected status or claim (e.g. a late outcome after a replay); each is logged',
    labelNames: ['transition'],
    registers: [registry],
  });
  const deliverySent = gauge('reminders_deliverability_sent_messages', 'Reminder emails sent in the window, per receiving domain (the 20 busiest, "other", and "all")', ['domain', 'window']);
  const deliveryEvents = gauge('reminders_deliverability_events', 'Bounces and complaints received in the window that name a reminder we sent, per receiving domain', ['domain', 'window', 'type']);
  const deliveryRate = gauge(
    'reminders_deliverability_rate',
    'Hard bounces or complaints received in the window over messages sent in it, per receiving domain (limits: complaint < 0.003, aim < 0.001; bounce < 0.02)',
    ['domain', 'window', 'type'],
  );
  const readDeliverability = async () => {
    deliverySent.reset();
    deliveryEvents.reset();
    deliveryRate.reset();
    for (const [window, hours] of [['1d', 24], ['7d', 168]] as const) {
      for (const [domain, f] of await recentDeliverability(app.db, hours)) {
        deliverySent.set({ domain, window }, f.sent);
        deliveryEvents.set({ domain, window, type: 'hard' }, f.hardBounces);
        deliveryEvents.set({ domain, window, type: 'soft' }, f.softBounces);
        deliveryEvents.set({ domain, window, type: 'complaint' }, f.complaints);
        deliveryRate.set({ domain, window, type: 'bounce' }, f.bounceRate);
        deliveryRate.set({ domain, window, type: 'complaint' }, f.complaintRate);
      }
    }
  };
  app.onClose(onTransitionMiss((name, count) => misses.inc({ transition: name }, count)));
  const readTemplates = async () => {
    const refusals = await listRefusals(app.db);
    refusedTemplates.reset();
    for (const t of refusals) refusedTemplates.set({ variant: t.variant }, t.serving ? 1 : 2);
  };

  const readLedger = async () => {
    const rows = await app.db
      .selectFrom('reminder_ledger')
      .select(['status', 'kind', sql<string>`count(*)`.as('n')])
      .groupBy(['status', 'kind'])
      .execute();
    for (const status of LEDGER_STATUSES) {
      for (const kind of REMINDER_KINDS) {
        ledger.set({ status, kind }, Number(rows.find((r) => r.status === status && r.kind === kind)?.n ?? 0));
      }
    }
  };
  const readScans = async () => {
    const status = await scanStatus(app.db, app.config.timezone);
    if (!status.lastScan) return;
    lastScanDuration.set((status.lastScan.durationMs ?? 0) / 1000);
    lastScanCompleted.set(Date.parse(status.lastScan.completedAt) / 1000);
    daysSinceScan.set(status.daysBehind ?? 0);
    missedDays.set(status.lastScan.missedDays);
  };
  const readQueues = async () => {
    const queues = [
      [SEND_QUEUE, app.sendQueue()],
      [SCAN_QUEUE, app.scanQueue()],
    ] as const;
    for (const [name, queue] of queues) {
      const counts = await queue.getJobCounts(...QUEUE_STATES);
      for (const state of QUEUE_STATES) queueJobs.set({ queue: name, state }, counts[state] ?? 0);
    }
  };

  return {
    registry,
    async scrape() {
      const [pgLedger, pgScans, redis, pgTemplates, pgDeliverability] = await Promise.allSettled([
        withTimeout(readLedger(), timeoutMs, 'PostgreSQL'),
        withTimeout(readScans(), timeoutMs, 'PostgreSQL'),
        withTimeout(readQueues(), timeoutMs, 'Redis'),
        withTimeout(readTemplates(), timeoutMs, 'PostgreSQL'),
        withTimeout(readDeliverability(), timeoutMs, 'PostgreSQL'),
      ]);
      up.set({ dependency: 'postgres' }, [pgLedger, pgScans, pgTemplates, pgDeliverability].every((r) => r.status === 'fulfilled') ? 1 : 0);
      up.set({ dependency: 'redis' }, redis.status === 'fulfilled' ? 1 : 0);
      for (const failed of [pgLedger, pgScans, redis, pgTemplates, pgDeliverability]) {
        if (failed.status === 'rejected') app.logger.warn({ err: failed.reason }, 'metrics: a source did not answer; its gauges keep their last values');
      }
      return registry.metrics();
    },
  };
}
