import type { Cluster, Redis } from 'ioredis';
import { type Kysely, sql } from 'kysely';
import type { Database } from './db/types';
import { maskUrlCredentials } from './redact';
import type { Mailer } from './send/mailer';
import { UserError } from './user-error';

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

/** Fails fast with a clear sentence when PostgreSQL does not answer or does not let us in. */
export async function checkPostgres(db: Kysely<Database>, url: string): Promise<void> {
  try {
    await sql`select 1`.execute(db);
  } catch (error) {
    throw postgresUnavailable(url, error);
  }
}

const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|SELF_SIGNED_CERT|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_(GET|VERIFY)|CERT_|EPROTO$)/;

/**
 * The error for a PostgreSQL that cannot be used at `url`, telling the causes apart: no server
 * answering, a role or password it refuses, a database that does not exist, a TLS mismatch. Each
 * needs a different fix, and "start it" is wrong for all but the first.
 */
export function postgresUnavailable(url: string, error: unknown): ServiceUnavailableError {
  const e = (error ?? {}) as { code?: string; message?: string };
  const code = e.code ?? '';
  const message = e.message ?? String(error);
  const where = `PostgreSQL at ${redact(url)}`;
  const user = safeUrl(url)?.username || 'the default user';
  const database = safeUrl(url)?.pathname.slice(1) || 'the default database';
  let text: string;
  if (code === '3D000') {
    text = `The database "${database}" does not exist on ${where}: create it (\`createdb ${database}\`) and run \`reminders migrate\`, or point DATABASE_URL at another one (\`npm run demo\` fills a database of its own, reminders_demo).`;
  } else if (code === '28P01' || /password authentication failed|client password must be a string/i.test(message)) {
    text = `${where} refused the password of role "${user}" (${message}): fix the password in DATABASE_URL.`;
  } else if (code === '28000' && /role .* does not exist/i.test(message)) {
    text = `${where} answers, but has no role "${user}" (${message}): create it (\`createuser ${user}\`) or put an existing role in DATABASE_URL.`;
  } else if (code === '28000') {
    text = `${where} answers, but does not let role "${user}" in (${message}): allow it in pg_hba.conf or use another role in DATABASE_URL.`;
  } else if (/does not support SSL/i.test(message)) {
    text = `${where} answers, but takes no TLS connections (${message}) and DATABASE_URL asks for TLS (sslmode): enable ssl on the server, or drop sslmode from DATABASE_URL where the network is trusted.`;
  } else if (/certificate|self[- ]signed|UNABLE_TO_|CERT_|ERR_TLS_CERT/i.test(`${code} ${message}`)) {
    text = `${where} answers, but its TLS certificate was not accepted (${message}): sslmode=require verifies it here, as verify-full does; name the CA with sslrootcert=/path/to/ca.pem, or use sslmode=no-verify to encrypt without verifying.`;
  } else if (TLS_CODES.test(code) || /\bSSL\b|\bTLS\b/i.test(message)) {
    text = `${where} answers, but the TLS (sslmode) setup does not match (${message}): check sslmode and the certificates in DATABASE_URL.`;
  } else if (code === '57P03' || code === '53300') {
    text = `${where} answers but takes no connections now (${message}): try again shortly, or check max_connections.`;
  } else {
    text = `Cannot reach ${where} (${reason(error)}). Start it (e.g. \`pg_ctlcluster <version> main start\` or \`docker compose up -d postgres\`) or set DATABASE_URL.`;
  }
  return new ServiceUnavailableError(text, { cause: error });
}

function safeUrl(url: string): URL | null {
  try {
    return new URL(url);
  } catch {
    return null;
  }
}

/** How long a command waits for Redis before giving up: one server, or a failover of Sentinel or Cluster. */
export const REDIS_CHECK_MS = { single: 5000, topology: 60_000 } as const;

/**
 * Waits for Redis to answer; the queue client would otherwise retry forever in silence. With one
 * server a refused or unresolvable address fails at once: it will not fix itself while a user
 * waits. Behind Sentinel or in a Cluster a refused node is one of several and usually a failover
 * in progress (the sentinels still name the master that just died), so the command waits out a
 * failover window instead: a cron-driven `work --drain` started mid-failover must not exit in error.
 */
export async function checkRedis(redis: Redis | Cluster, url: string, timeoutMs?: number): Promise<void> {
  const topology = /^rediss?\+(sentinel|cluster):/i.test(url.trim());
  const budget = timeoutMs ?? (topology ? REDIS_CHECK_MS.topology : REDIS_CHECK_MS.single);
  const deadline = Date.now() + budget;
  const refused = (error: unknown) => ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN'].includes(String((error as { code?: string }).code));
  let timer: NodeJS.Timeout | undefined;
  let onError: (error: unknown) => void = () => undefined;
  let lastError: unknown;
  try {
    // One server: the first answer or refusal decides. Behind Sentinel or in a Cluster: ask again
    // until a node answers or the failover window is over (a client without an offline queue
    // rejects at once while it reconnects).
    const answer = (async () => {
      for (;;) {
        try {
          await redis.ping();
          return;
        } catch (error) {
          lastError = error;
          if (!topology || Date.now() >= deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      }
    })();
    await Promise.race([
      answer,
      new Promise((_, reject) => {
        onError = (error) => {
          lastError = error;
          if (!topology && refused(error)) reject(error);
        };
        redis.on('error', onError);
        timer = setTimeout(() => reject(lastError ?? new Error(`no answer within ${budget} ms`)), budget);
      }),
    ]);
  } catch (error) {
    const waited = topology ? `; waited ${Math.round(budget / 1000)} s for a failover` : '';
    throw new ServiceUnavailableError(
      `Cannot reach Redis at ${redact(url)} (${reason(error)}${waited}). Start it (e.g. \`redis-server --daemonize yes\` or \`docker compose up -d redis\`) or set REDIS_URL.`,
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

/**
 * Why one email could not be sent, as a sentence for the person who asked for it: the server did
 * not answer, refused the login, or refused or deferred the message (its reply, in full).
 */
export function smtpSendFailure(url: string, to: string, error: unknown): Error {
  const e = (error ?? {}) as { code?: string; responseCode?: number; response?: string; message?: string };
  const reply = e.response?.replace(/\s+/g, ' ').trim();
  const nothingSent = 'Nothing was sent.';
  if (e.code === 'EAUTH') return new UserError(`The SMTP server at ${redact(url)} refused the login (${reply ?? e.message}): check the user and password in SMTP_URL. ${nothingSent}`, { cause: error });
  if (typeof e.responseCode === 'number' && reply) {
    const what = e.responseCode >= 500 ? 'refused' : 'deferred (try again later)';
    return new UserError(`The SMTP server at ${redact(url)} ${what} the email to ${to}: ${reply}. ${nothingSent}`, { cause: error });
  }
  return new ServiceUnavailableError(
    `Cannot reach the SMTP server at ${redact(url)} (${reason(error)}${e.message && e.message !== e.code ? `: ${e.message}` : ''}). Start it or fix SMTP_URL; leave SMTP_URL empty to write the email to the outbox folder instead. ${nothingSent}`,
    { cause: error },
  );
}
