import type { Redis } from 'ioredis';
import { type Kysely, sql } from 'kysely';
import type { Database } from './db/types';
import { maskUrlCredentials } from './redact';
import type { Mailer } from './send/mailer';

/** A service the command needs is not answering: one sentence naming its URL and how to start it. */
export class ServiceUnavailableError extends Error {
  override name = 'ServiceUnavailableError';
}

/** Hides a password in a URL, keeping the user name and host. */
const redact = maskUrlCredentials;
const reason = (error: unknown) => {
  const e = error as { code?: string; message?: string; errors?: Array<{ code?: string }> };
  return e.code ?? e.errors?.[0]?.code ?? e.message ?? String(error);
};

/** Fails fast with a clear sentence when PostgreSQL does not answer. */
export async function checkPostgres(db: Kysely<Database>, url: string): Promise<void> {
  try {
    await sql`select 1`.execute(db);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === '3D000') {
      throw new ServiceUnavailableError(`The database in DATABASE_URL (${redact(url)}) does not exist: create it (createdb) or point DATABASE_URL elsewhere.`, { cause: error });
    }
    throw postgresUnavailable(url, error);
  }
}

/** The error for a PostgreSQL server that does not answer at `url`. */
export function postgresUnavailable(url: string, error: unknown): ServiceUnavailableError {
  return new ServiceUnavailableError(
    `Cannot reach PostgreSQL at ${redact(url)} (${reason(error)}). Start it (e.g. \`pg_ctlcluster <version> main start\` or \`docker compose up -d postgres\`) or set DATABASE_URL.`,
    { cause: error },
  );
}

/** Waits up to `timeoutMs` for Redis; the queue client would otherwise retry forever in silence. */
export async function checkRedis(redis: Redis, url: string, timeoutMs = 5000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let onError: (error: unknown) => void = () => undefined;
  try {
    await Promise.race([
      redis.ping(),
      new Promise((_, reject) => {
        // A refused or unresolvable address will not fix itself while a user waits.
        onError = (error) => {
          if (['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN'].includes(String((error as { code?: string }).code))) reject(error);
        };
        redis.on('error', onError);
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (error) {
    throw new ServiceUnavailableError(
      `Cannot reach Redis at ${redact(url)} (${reason(error)}). Start it (e.g. \`redis-server --daemonize yes\` or \`docker compose up -d redis\`) or set REDIS_URL.`,
      { cause: error },
    );
  } finally {
    clearTimeout(timer);
    redis.off('error', onError);
  }
}

/** Opens one SMTP connection to prove the server answers (a no-op for the local capture). */
export async function checkSmtp(mailer: Mailer, url: string): Promise<void> {
  try {
    await mailer.verify();
  } catch (error) {
    throw new ServiceUnavailableError(
      `Cannot reach the SMTP server at ${redact(url)} (${reason(error)}). Start it or fix SMTP_URL; leave SMTP_URL empty to capture mail in the outbox folder.`,
      { cause: error },
    );
  }
}
