import pino, { type DestinationStream, type Logger } from 'pino';
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

/** `json`: one JSON object a line, for log collectors; `pretty`: coloured lines for a person at a terminal. */
export type LogFormat = 'json' | 'pretty';

export interface LoggerOptions {
  /** See `secretsOf`: masked in every line, whatever field or message carries them. */
  secrets?: readonly string[];
  format?: LogFormat;
}

/**
 * Logs go to standard error, in every command: standard output carries only what a command
 * prints as its result (a summary, a table, JSON), so it can be piped or captured alone.
 * `secrets` are masked in every line, as are the passwords of any URL.
 */
export function createLogger(level: string, options: LoggerOptions = {}): Logger {
  const secrets = options.secrets ?? [];
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
    options.format === 'pretty' ? prettyDestination() : pino.destination({ fd: 2, sync: true }),
  );
}

/** pino-pretty, loaded only when asked for; synchronous so that no line is lost at exit. */
function prettyDestination(): DestinationStream {
  const pretty = require('pino-pretty') as typeof import('pino-pretty');
  return pretty({ destination: 2, sync: true, colorize: process.stderr.isTTY === true, ignore: 'service,hostname', translateTime: 'SYS:HH:MM:ss.l' });
}
