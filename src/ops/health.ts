import type { App } from '../app';
import { listRefusals, type RefusedTemplate } from '../templates-store/store';
import { type ScanStatus, scanStatus } from './scan-status';

export interface HealthReport extends ScanStatus {
  /**
   * 'error' (HTTP 503) while PostgreSQL or Redis does not answer: nothing can be scanned or sent.
   * 'degraded' (HTTP 200) while SMTP does not answer (sends wait and retry) or a template edit
   * was refused (its live version is sent): the daemon is working, someone should look.
   */
  status: 'ok' | 'degraded' | 'error';
  /** 'ok' or 'error: <why>'. */
  postgres: string;
  redis: string;
  /** 'ok', 'error: <why>', or 'not checked' (local capture, or no send worker in this process). */
  smtp: string;
  /** 'ok', or how many variants are refused; `refusedTemplates` lists them. */
  templates: string;
  refusedTemplates: RefusedTemplate[];
}

/** Rejects after `ms`: a Redis client with an offline queue would otherwise wait forever. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  promise.catch(() => undefined);
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const problem = (error: unknown) => `error: ${(error as Error)?.message || String(error)}`;

/** How long one SMTP probe's answer is reused: /healthz may be polled every second. */
const SMTP_PROBE_TTL_MS = 10_000;
const smtpProbes = new WeakMap<App, { at: number; result: Promise<string> }>();

function probeSmtp(app: App, timeoutMs: number): Promise<string> {
  if (!app.config.smtpUrl) return Promise.resolve('not checked');
  const cached = smtpProbes.get(app);
  if (cached && Date.now() - cached.at < SMTP_PROBE_TTL_MS) return cached.result;
  const result = withTimeout(app.mailer().verify(), timeoutMs, 'SMTP').then(
    () => 'ok',
    (error: unknown) => problem(error),
  );
  smtpProbes.set(app, { at: Date.now(), result });
  return result;
}

/**
 * Each dependency named with its state, where the daily scan stands, and refused template edits.
 * Scan lag is reported, not judged: alert on it from /metrics.
 */
export async function checkHealth(app: App, timeoutMs = 3000, options: { smtp?: boolean } = {}): Promise<HealthReport> {
  // One connection, one after the other: refused publishes are shared state in PostgreSQL, so a
  // refusal from any host or process shows here.
  const readPostgres = async () => ({ scan: await scanStatus(app.db, app.config.timezone), refusals: await listRefusals(app.db) });
  const [pg, redis, smtp] = await Promise.allSettled([
    withTimeout(readPostgres(), timeoutMs, 'PostgreSQL'),
    withTimeout(app.redis().ping(), timeoutMs, 'Redis'),
    options.smtp === false ? Promise.resolve('not checked') : probeSmtp(app, timeoutMs),
  ]);
  const scan: ScanStatus = pg.status === 'fulfilled' ? pg.value.scan : { lastScan: null, daysBehind: null };
  const refusedTemplates = pg.status === 'fulfilled' ? pg.value.refusals : [];
  const smtpState = smtp.status === 'fulfilled' ? smtp.value : problem(smtp.reason);
  const down = pg.status === 'rejected' || redis.status === 'rejected';
  const degraded = smtpState.startsWith('error') || refusedTemplates.length > 0;
  return {
    status: down ? 'error' : degraded ? 'degraded' : 'ok',
    postgres: pg.status === 'fulfilled' ? 'ok' : problem(pg.reason),
    redis: redis.status === 'fulfilled' ? 'ok' : problem(redis.reason),
    smtp: smtpState,
    templates:
      pg.status === 'rejected'
        ? 'not checked: PostgreSQL did not answer'
        : refusedTemplates.length === 0
          ? 'ok'
          : `${refusedTemplates.length} variant(s) refused: their live version is sent (none: their reminders fail)`,
    refusedTemplates,
    ...scan,
  };
}
