import type { App } from '../app';
import { type ScanStatus, scanStatus } from './scan-status';

export interface HealthReport extends ScanStatus {
  status: 'ok' | 'error';
  /** 'ok' or 'error: <why>'. */
  postgres: string;
  redis: string;
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

/**
 * PostgreSQL and Redis reachable (the scan status query doubles as the PostgreSQL check), plus
 * where the daily scan stands. Scan lag is reported, not judged: alert on it from /metrics.
 */
export async function checkHealth(app: App, timeoutMs = 3000): Promise<HealthReport> {
  const [pg, redis] = await Promise.allSettled([
    withTimeout(scanStatus(app.db, app.config.timezone), timeoutMs, 'PostgreSQL'),
    withTimeout(app.redis().ping(), timeoutMs, 'Redis'),
  ]);
  const scan: ScanStatus = pg.status === 'fulfilled' ? pg.value : { lastScan: null, daysBehind: null };
  const report: HealthReport = {
    status: pg.status === 'fulfilled' && redis.status === 'fulfilled' ? 'ok' : 'error',
    postgres: pg.status === 'fulfilled' ? 'ok' : problem(pg.reason),
    redis: redis.status === 'fulfilled' ? 'ok' : problem(redis.reason),
    ...scan,
  };
  return report;
}
