import { ConfigError, rawEnvironment } from '../config';
import { UserError } from './user-error';

interface NetworkError {
  code?: string;
  address?: string;
  port?: number;
  message?: string;
  errors?: NetworkError[];
}

const redact = (url: string) => url.replace(/\/\/[^@/]*@/, '//***@');

/**
 * Turns a failure into the one line a user reads. Unreachable services name their URL and
 * how to start them; anything unexpected returns null so the caller prints the stack.
 */
export function describeError(error: unknown, env: Record<string, string | undefined> = rawEnvironment()): string | null {
  if (error instanceof ConfigError || error instanceof UserError) return error.message;
  const e = (error ?? {}) as NetworkError;
  const inner = e.errors?.[0] ?? e;
  const code = inner.code ?? e.code;
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ETIMEDOUT') {
    const port = inner.port;
    if (port === 6379 || /redis/i.test(e.message ?? '')) {
      return `Cannot reach Redis at ${redact(env.REDIS_URL ?? 'redis://127.0.0.1:6379')} (${code}). Start it (e.g. \`redis-server --daemonize yes\` or \`docker compose up -d redis\`) or set REDIS_URL.`;
    }
    if (port === 5432 || /postgres/i.test(e.message ?? '')) {
      return `Cannot reach PostgreSQL at ${redact(env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/reminders')} (${code}). Start it (e.g. \`pg_ctlcluster 15 main start\` or \`docker compose up -d postgres\`) or set DATABASE_URL.`;
    }
    if (port === 25 || port === 587 || port === 465 || port === 1025) {
      return `Cannot reach the SMTP server at ${redact(env.SMTP_URL ?? '')} (${code}). Start it or fix SMTP_URL; leave SMTP_URL empty to capture mail in the outbox folder.`;
    }
    return `Cannot connect to ${inner.address ?? 'a service'}:${port ?? '?'} (${code}).`;
  }
  if (code === '3D000') return `The database in DATABASE_URL does not exist: ${e.message}. Create it (createdb) or run \`npm run demo\`, which creates its own.`;
  if (code === '42P01') return `The database has no reminder tables yet: run \`reminders migrate\` first (${e.message}).`;
  return null;
}
