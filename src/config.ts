import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { existsSync, readFileSync } from 'node:fs';
import { IANAZone } from 'luxon';
import { z } from 'zod';
import { effectiveQueuePrefix, parseRedisUrl, type RedisTarget } from './redis-url';
import { maskUrlCredentials, urlPassword } from './redact';

/** A configuration problem, named by variable: printed as one line and the process exits non-zero. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

const integer = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^-?\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

const url = (protocols: readonly string[]) =>
  z
    .string()
    .trim()
    .refine((value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    }, `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`);

/** REDIS_URL in any of its three forms (one server, Sentinel, Cluster); see src/redis-url.ts. */
const redisUrl = z
  .string()
  .trim()
  .superRefine((value, ctx) => {
    // Anything but the Sentinel and Cluster forms gets the same full check as the other
    // connection URLs (scheme, host, port); then the topology forms are parsed.
    const topology = /^rediss?\+(sentinel|cluster):/i.test(value) || value.includes(',');
    const single = topology ? null : connectionUrlProblem(value, ['redis:', 'rediss:']);
    if (single) {
      ctx.addIssue({ code: 'custom', message: single });
      return;
    }
    try {
      parseRedisUrl(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
    }
  });

/**
 * Why a connection URL cannot be used, or null. Parsed in full here, once, so that a typo is one
 * line naming the variable at start, not a raw `TypeError: Invalid URL` (with the password in it)
 * from the driver later.
 */
export function connectionUrlProblem(value: string, protocols: readonly string[], options: { socketPathAllowed?: boolean } = {}): string | null {
  const expected = `a URL of the form ${protocols[0]}//host:port (a user and password go before the host, percent-encoded)`;
  const scheme = /^([a-z][a-z0-9+.-]*:)/i.exec(value)?.[1]?.toLowerCase();
  if (!scheme || !protocols.includes(scheme)) return `must be ${expected} (scheme ${protocols.map((p) => `${p}//`).join(' or ')})`;
  const port = /^[a-z][a-z0-9+.-]*:\/\/(?:[^/?#]*@)?(?:\[[^\]]*\]|[^:/?#@]*):([^/?#@]*)(?=[/?#]|$)/i.exec(value)?.[1];
  if (port !== undefined && port !== '' && (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535)) {
    // Not echoed: with an unencoded '@' or '/' in the password, this "port" is part of it.
    return 'has a port that is not a number from 1 to 65535';
  }
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    return `must be ${expected} (it does not parse as a URL; percent-encode special characters in the password)`;
  }
  if (!value.toLowerCase().startsWith(`${scheme}//`)) return `must be ${expected}`;
  if (!parsed.hostname && !(options.socketPathAllowed && parsed.searchParams.get('host'))) return `must name a host: ${expected}`;
  try {
    decodeURIComponent(parsed.username);
    decodeURIComponent(parsed.password);
  } catch {
    return 'has a badly percent-encoded user name or password';
  }
  return null;
}

const connectionUrl = (protocols: readonly string[], options: { socketPathAllowed?: boolean; emptyAllowed?: boolean } = {}) =>
  z
    .string()
    .trim()
    .superRefine((value, ctx) => {
      if (options.emptyAllowed && value === '') return;
      const problem = connectionUrlProblem(value, protocols, options);
      if (problem) ctx.addIssue({ code: 'custom', message: options.emptyAllowed ? `${problem} (or empty: capture mail locally)` : problem });
    });

const email = z.string().trim().email('must be an email address');

const offsets = z
  .string()
  .trim()
  .transform((value, ctx) => {
    const parts = value.split(',').map((part) => part.trim());
    const numbers = parts.map(Number);
    if (parts.some((part) => !/^\d+$/.test(part))) {
      ctx.addIssue({ code: 'custom', message: 'must be a comma-separated list of whole days, e.g. 90,60,30,14,7,0' });
      return z.NEVER;
    }
    if (new Set(numbers).size !== numbers.length) {
      ctx.addIssue({ code: 'custom', message: 'must not repeat an offset' });
      return z.NEVER;
    }
    return [...numbers].sort((a, b) => b - a);
  })
  .pipe(z.array(z.number().int().min(0).max(3650)).min(1));

const timezone = z
  .string()
  .trim()
  .refine((value) => IANAZone.isValidZone(value), 'must be an IANA time zone such as Europe/Berlin or UTC');

const cron = z
  .string()
  .trim()
  .refine((value) => value.split(/\s+/).length >= 5 && value.split(/\s+/).length <= 6, 'must be a cron pattern such as "0 6 * * *"');

/** Every variable the service reads, with its local default. `.env.example` documents each one. */
const schema = z.object({
  DATABASE_URL: connectionUrl(['postgres:', 'postgresql:'], { socketPathAllowed: true }).default('postgres://postgres@127.0.0.1:5432/reminders'),
  REDIS_URL: redisUrl.default('redis://127.0.0.1:6379'),
  QUEUE_PREFIX: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9_{}.-]+$/, 'may hold letters, digits, _ . - and a {hash tag}')
    .default('reminders'),
  SMTP_URL: connectionUrl(['smtp:', 'smtps:'], { emptyAllowed: true }).default(''),
  SMTP_POOL_SIZE: integer(1, 50).default(5),
  OUTBOX_DIR: z.string().trim().min(1).default('outbox'),
  MAIL_FROM: z.string().trim().min(3).default('Renewals <renewals@example.com>'),
  REMINDER_TIMEZONE: timezone.default('UTC'),
  REMINDER_OFFSETS: offsets.default(() => [90, 60, 30, 14, 7, 0]),
  CATCHUP_DAYS: integer(0, 60).default(3),
  SCAN_CRON: cron.default('0 6 * * *'),
  SEND_ATTEMPTS: integer(1, 50).default(6),
  SEND_BACKOFF_MS: integer(0, 86_400_000).default(60_000),
  SEND_RATE_PER_SEC: integer(1, 10_000).default(10),
  SEND_CONCURRENCY: integer(1, 100).default(4),
  SEND_LOCK_MS: integer(1000, 600_000).default(30_000),
  SEND_CLAIM_TIMEOUT_MS: integer(1000, 86_400_000).default(120_000),
  OUTBOX_INTERVAL_MS: integer(100, 60_000).default(20_000),
  MAX_ITEMS_PER_EMAIL: integer(1, 200).default(40),
  WORKER_PROCESSES: integer(1, 64).default(() => Math.min(64, availableParallelism())),
  TEMPLATES_DIR: z.string().trim().min(1).default('templates'),
  TEMPLATE_RELOAD_CHECK_MS: integer(0, 3_600_000).default(1000),
  PORTAL_URL: url(['http:', 'https:']).default('https://www.dynamsoft.com/customer'),
  PUBLIC_URL: url(['http:', 'https:']).default('http://127.0.0.1:8080'),
  SALES_EMAIL: email.default('sales@dynamsoft.com'),
  SUPPORT_EMAIL: email.default('support@dynamsoft.com'),
  HTTP_PORT: integer(0, 65535).default(8080),
  HTTP_HOST: z.string().trim().min(1).default('127.0.0.1'),
  ADMIN_TOKEN: z.string().trim().default(''),
  UNSUBSCRIBE_SECRET: z.string().trim().default('').refine((value) => value === '' || value.length >= 16, 'must be at least 16 characters (e.g. `openssl rand -hex 32`)'),
  DATABASE_RECONNECT_MS: integer(0, 3_600_000).default(60_000),
  // Envelope sender base for VERP (bounces+<token>@domain): each bounce names its reminder. Empty: MAIL_FROM.
  BOUNCE_ADDRESS: z.union([z.literal(''), email]).default(''),
  // Bounce mailbox the daemon polls (imap:// or imaps://user:pass@host/INBOX). Empty: not polled.
  BOUNCE_IMAP_URL: connectionUrl(['imap:', 'imaps:'], { emptyAllowed: true }).default(''),
  // Folder of the bounce mailbox that processed messages are moved to (never deleted).
  BOUNCE_IMAP_PROCESSED: z.string().trim().min(1).default('Processed'),
  // How often (seconds) the daemon looks into the bounce mailbox.
  BOUNCE_IMAP_POLL_SECONDS: integer(1, 86_400).default(60),
  // Soft bounces (4.x.x) of one address within SOFT_BOUNCE_WINDOW_DAYS that suppress it.
  SOFT_BOUNCE_LIMIT: integer(1, 1000).default(3),
  SOFT_BOUNCE_WINDOW_DAYS: integer(1, 3650).default(30),
  // Amazon SNS topics whose SES notifications /webhooks/ses accepts (comma-separated ARNs). Empty: endpoint off.
  SES_SNS_TOPIC_ARNS: z.string().trim().default(''),
  // SendGrid's signed event webhook verification key (base64 ECDSA public key). Empty: endpoint off.
  SENDGRID_WEBHOOK_PUBLIC_KEY: z.string().trim().default(''),
  // user:password that Postmark's webhook sends as HTTP basic auth. Empty: endpoint off.
  POSTMARK_WEBHOOK_AUTH: z.union([z.literal(''), z.string().trim().regex(/^[^:]+:.{8,}$/, 'must be user:password (a password of 8 characters or more)')]).default(''),
  // Mailgun's HTTP webhook signing key (HMAC). Empty: endpoint off.
  MAILGUN_WEBHOOK_SIGNING_KEY: z.string().trim().default(''),
  // How long a console sign-in lasts before the person signs in again.
  CONSOLE_SESSION_HOURS: integer(1, 720).default(12),
  // Addresses of reverse proxies trusted to name the signed-in person (single sign-on); empty: none.
  CONSOLE_TRUSTED_PROXIES: z
    .string()
    .trim()
    .default('')
    .refine((value) => value === '' || value.split(',').every((a) => isIP(a.trim()) !== 0), 'must be a comma-separated list of IP addresses, e.g. 127.0.0.1,10.0.0.5'),
  // The header in which a trusted proxy names the console account (single sign-on).
  CONSOLE_PROXY_USER_HEADER: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9-]+$/, 'must be an HTTP header name')
    .default('X-Forwarded-User'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

type Raw = z.infer<typeof schema>;

export interface Config {
  readonly databaseUrl: string;
  /** REDIS_URL as given (for messages); `redis` is what it means. */
  readonly redisUrl: string;
  readonly redis: RedisTarget;
  /** QUEUE_PREFIX, wrapped in a {hash tag} on a Redis Cluster. */
  readonly queuePrefix: string;
  /** How long a lost PostgreSQL connection is retried before the query fails (restart, failover). */
  readonly databaseReconnectMs: number;
  readonly smtpUrl: string;
  readonly smtpPoolSize: number;
  readonly outboxDir: string;
  readonly mailFrom: string;
  readonly timezone: string;
  readonly offsets: readonly number[];
  readonly catchupDays: number;
  readonly scanCron: string;
  readonly sendAttempts: number;
  readonly sendBackoffMs: number;
  readonly sendRatePerSec: number;
  readonly sendConcurrency: number;
  /** How long a send job's lock lasts without renewal; a dead worker's job is retried after it. */
  readonly sendLockMs: number;
  /** A `sending` row older than this that no live attempt holds is swept to `unknown`. */
  readonly sendClaimTimeoutMs: number;
  /** How often each worker re-queues pending rows that have no live job (the ledger is the outbox). */
  readonly outboxIntervalMs: number;
  /** A group with more due items is sent as several emails (size bound: see the README). */
  readonly maxItemsPerEmail: number;
  /** Send worker processes of `work` and `start`: one is CPU-bound, so default one per core. */
  readonly workerProcesses: number;
  readonly templatesDir: string;
  /** How long the worker trusts a compiled template before it looks at its files again. */
  readonly templateReloadCheckMs: number;
  readonly portalUrl: string;
  readonly publicUrl: string;
  readonly salesEmail: string;
  readonly supportEmail: string;
  readonly httpPort: number;
  readonly httpHost: string;
  readonly adminToken: string;
  /** HMAC key of unsubscribe links. Required once PUBLIC_URL is not a loopback address. */
  readonly unsubscribeSecret: string;
  readonly logLevel: Raw['LOG_LEVEL'];
  /** VERP base address: the envelope sender of each reminder is `local+<token>@domain`. Empty: MAIL_FROM. */
  readonly bounceAddress: string;
  /** The bounce mailbox polled by the daemon; empty when there is none. */
  readonly bounceImapUrl: string;
  readonly bounceImapProcessed: string;
  readonly bounceImapPollSeconds: number;
  readonly softBounceLimit: number;
  readonly softBounceWindowDays: number;
  /** SNS topic ARNs whose SES notifications are accepted; empty: /webhooks/ses is off. */
  readonly sesSnsTopicArns: readonly string[];
  readonly sendgridWebhookPublicKey: string;
  readonly postmarkWebhookAuth: string;
  readonly mailgunWebhookSigningKey: string;
  /** How long a console session lasts. */
  readonly consoleSessionHours: number;
  /** Proxy addresses whose `consoleProxyUserHeader` names the signed-in account; empty: no single sign-on. */
  readonly consoleTrustedProxies: readonly string[];
  readonly consoleProxyUserHeader: string;
}

/** Used only while links point at this machine: anyone could forge tokens with a known key. */
const LOCAL_ONLY_UNSUBSCRIBE_SECRET = 'local-only-unsubscribe-secret';

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

function fromRaw(raw: Raw): Config {
  if (!raw.UNSUBSCRIBE_SECRET && (!LOOPBACK_HOSTS.has(new URL(raw.PUBLIC_URL).hostname) || !LOOPBACK_HOSTS.has(raw.HTTP_HOST))) {
    throw new ConfigError(
      `Invalid configuration: UNSUBSCRIBE_SECRET must be set when PUBLIC_URL (${raw.PUBLIC_URL}) or HTTP_HOST (${raw.HTTP_HOST}) is reachable from other machines: without it anyone could forge unsubscribe links`,
    );
  }
  const stripSlash = (value: string) => value.replace(/\/+$/, '');
  const redis = parseRedisUrl(raw.REDIS_URL);
  return Object.freeze({
    databaseUrl: raw.DATABASE_URL,
    databaseReconnectMs: raw.DATABASE_RECONNECT_MS,
    redisUrl: raw.REDIS_URL,
    redis: Object.freeze(redis),
    queuePrefix: effectiveQueuePrefix(raw.QUEUE_PREFIX, redis),
    smtpUrl: raw.SMTP_URL,
    smtpPoolSize: raw.SMTP_POOL_SIZE,
    outboxDir: path.resolve(raw.OUTBOX_DIR),
    mailFrom: raw.MAIL_FROM,
    timezone: raw.REMINDER_TIMEZONE,
    offsets: Object.freeze(raw.REMINDER_OFFSETS),
    catchupDays: raw.CATCHUP_DAYS,
    scanCron: raw.SCAN_CRON,
    sendAttempts: raw.SEND_ATTEMPTS,
    sendBackoffMs: raw.SEND_BACKOFF_MS,
    sendRatePerSec: raw.SEND_RATE_PER_SEC,
    sendConcurrency: raw.SEND_CONCURRENCY,
    sendLockMs: raw.SEND_LOCK_MS,
    sendClaimTimeoutMs: raw.SEND_CLAIM_TIMEOUT_MS,
    outboxIntervalMs: raw.OUTBOX_INTERVAL_MS,
    maxItemsPerEmail: raw.MAX_ITEMS_PER_EMAIL,
    workerProcesses: raw.WORKER_PROCESSES,
    templatesDir: path.resolve(raw.TEMPLATES_DIR),
    templateReloadCheckMs: raw.TEMPLATE_RELOAD_CHECK_MS,
    portalUrl: stripSlash(raw.PORTAL_URL),
    publicUrl: stripSlash(raw.PUBLIC_URL),
    salesEmail: raw.SALES_EMAIL,
    supportEmail: raw.SUPPORT_EMAIL,
    httpPort: raw.HTTP_PORT,
    httpHost: raw.HTTP_HOST,
    adminToken: raw.ADMIN_TOKEN,
    unsubscribeSecret: raw.UNSUBSCRIBE_SECRET || LOCAL_ONLY_UNSUBSCRIBE_SECRET,
    logLevel: raw.LOG_LEVEL,
    bounceAddress: raw.BOUNCE_ADDRESS.toLowerCase(),
    bounceImapUrl: raw.BOUNCE_IMAP_URL,
    bounceImapProcessed: raw.BOUNCE_IMAP_PROCESSED,
    bounceImapPollSeconds: raw.BOUNCE_IMAP_POLL_SECONDS,
    softBounceLimit: raw.SOFT_BOUNCE_LIMIT,
    softBounceWindowDays: raw.SOFT_BOUNCE_WINDOW_DAYS,
    sesSnsTopicArns: Object.freeze(raw.SES_SNS_TOPIC_ARNS.split(',').map((arn) => arn.trim()).filter(Boolean)),
    sendgridWebhookPublicKey: raw.SENDGRID_WEBHOOK_PUBLIC_KEY,
    postmarkWebhookAuth: raw.POSTMARK_WEBHOOK_AUTH,
    mailgunWebhookSigningKey: raw.MAILGUN_WEBHOOK_SIGNING_KEY,
    consoleSessionHours: raw.CONSOLE_SESSION_HOURS,
    consoleTrustedProxies: Object.freeze(
      raw.CONSOLE_TRUSTED_PROXIES.split(',')
        .map((a) => a.trim())
        .filter(Boolean),
    ),
    consoleProxyUserHeader: raw.CONSOLE_PROXY_USER_HEADER.toLowerCase(),
  });
}

/** Reads `.env` in the working directory, if any; variables already in the environment win. */
export function readDotenv(file = path.resolve('.env')): Record<string, string> {
  return existsSync(file) ? parseDotenv(readFileSync(file)) : {};
}

/** The raw environment: `.env` overlaid by the process environment. Only this file reads it. */
export function rawEnvironment(): Record<string, string | undefined> {
  return { ...readDotenv(), ...process.env };
}

/** Never echoed in an error message. */
const SECRET_VARIABLES = new Set(['UNSUBSCRIBE_SECRET', 'ADMIN_TOKEN', 'POSTMARK_WEBHOOK_AUTH', 'MAILGUN_WEBHOOK_SIGNING_KEY']);

/**
 * The values no log line, error message or metric may show: tokens, keys and the passwords of
 * the connection URLs. The logger masks each of them wherever it appears.
 */
export function secretsOf(config: Config): string[] {
  const passwords = [config.databaseUrl, config.redisUrl, config.smtpUrl, config.bounceImapUrl].map(urlPassword);
  const postmarkPassword = config.postmarkWebhookAuth.slice(config.postmarkWebhookAuth.indexOf(':') + 1);
  return [config.adminToken, config.unsubscribeSecret, config.mailgunWebhookSigningKey, postmarkPassword, ...passwords].filter((secret) => secret.length >= 4);
}

/**
 * Turns an environment into a frozen, typed config. Empty strings count as unset so that
 * `FOO=` in a compose file means "use the default". Throws ConfigError naming the variable.
 */
export function loadConfig(env: Record<string, string | undefined> = rawEnvironment()): Config {
  const input: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (value !== undefined && value.trim() !== '') input[key] = value;
  }
  const result = schema.safeParse(input);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? 'configuration');
      const shown = key in input && !SECRET_VARIABLES.has(key) ? ` (got ${JSON.stringify(maskUrlCredentials(input[key] as string))})` : '';
      return `${key} ${issue.message}${shown}`;
    });
    throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`);
  }
  return fromRaw(result.data);
}
