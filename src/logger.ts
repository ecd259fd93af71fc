import pino, { type Logger } from 'pino';
import { maskCredentials, maskUrlCredentials } from './redact';

export type { Logger };

/** Keys whose values are secrets wherever they appear in a log object. */
const REDACTED_PATHS = ['password', 'pass', 'token', 'adminToken', 'smtpUrl', 'databaseUrl', 'redisUrl', 'unsubscribeSecret', 'authorization', 'cookie'].flatMap(
  (key) => [key, `*.${key}`],
);

/** Deep copy of a serialized error with the credentials of every URL in its strings hidden. */
function maskStrings(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return maskUrlCredentials(value);
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => maskStrings(item, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, maskStrings(item, depth + 1)]));
}

/** pino's error serializer, then URL credentials masked: drivers put the URL they got in messages. */
export function serializeError(error: unknown): unknown {
  const errorLike = typeof error === 'object' && error !== null && 'message' in error;
  return maskStrings(errorLike ? pino.stdSerializers.err(error as Error) : error);
}

/**
 * JSON lines. Daemons log to stdout; one-shot commands log to stderr so that their
 * printed tables and JSON stay clean on stdout. `secrets` (see `secretsOf`) are masked in
 * every line, whatever field or message carries them, as are the passwords of any URL.
 */
export function createLogger(level: string, destination: 1 | 2 = 2, secrets: readonly string[] = []): Logger {
  return pino(
    {
      level,
      base: { service: 'reminders' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      serializers: { err: serializeError, error: serializeError },
      // The last line of defence: a secret reaching a log line by a path nobody thought of.
      hooks: { streamWrite: (line) => maskCredentials(line, secrets) },
    },
    pino.destination({ fd: destination, sync: true }),
  );
}
