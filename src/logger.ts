import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * JSON lines. Daemons log to stdout; one-shot commands log to stderr so that their
 * printed tables and JSON stay clean on stdout.
 */
export function createLogger(level: string, destination: 1 | 2 = 2): Logger {
  return pino(
    {
      level,
      base: { service: 'reminders' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: ['*.password', '*.smtpUrl', '*.adminToken', '*.token'], censor: '[redacted]' },
    },
    pino.destination({ fd: destination, sync: true }),
  );
}
