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

/** The headings of the configuration reference, in order. */
export const CONFIG_SECTIONS = ['Connections', 'Mail', 'When reminders are due', 'Sending', 'Content and links', 'HTTP endpoint', 'Console', 'Bounces and complaints', 'Logging'] as const;

/** What the configuration reference (docs/configuration.md, `npm run docs:config`) says of one variable. */
export interface VariableDoc {
  section: (typeof CONFIG_SECTIONS)[number];
  /** What it is for and the values it takes (Markdown, a sentence or a few). */
  description: string;
  /** The default in words, where the schema's default is not a fixed value (e.g. one per core). */
  default?: string;
  /** What to set in production, where the default is not the answer. */
  production?: string;
}

/** Each variable of the schema, registered with its documentation; see `configVariables()`. */
export const variableDocs = z.registry<VariableDoc>();

/**
 * Every variable the service reads, with its local default and its documentation, in one place:
 * docs/configuration.md is generated from this (`npm run docs:config`), and a unit test fails
 * when it is out of date or when a variable is missing from `.env.example`.
 */
const schema = z.object({
  DATABASE_URL: connectionUrl(['postgres:', 'postgresql:'], { socketPathAllowed: true })
    .default('postgres://postgres@127.0.0.1:5432/reminders')
    .register(variableDocs, {
      section: 'Connections',
      description:
        "PostgreSQL: the portal's tables and the delivery ledger. A socket directory goes in `?host=/var/run/postgresql`. " +
        '`sslmode=require` (and `prefer`, `verify-ca`) verify the server certificate like `verify-full`; `sslmode=no-verify` encrypts without verifying.',
      production:
        "A role that may create the ledger tables (`migrate`) and read the portal's tables; credentials and `?sslmode=require` where the network is shared. PgBouncer in transaction pooling mode works, migrations included.",
    }),
  DATABASE_RECONNECT_MS: integer(0, 3_600_000)
    .default(60_000)
    .register(variableDocs, {
      section: 'Connections',
      description:
        'How long (ms) a lost PostgreSQL connection is retried with back-off, once the process had reached the server, before a query fails: a restart, a switchover or a managed failover.',
      production: "A little longer than your provider's failover time (often 30–120 s); 0 never waits.",
    }),
  REDIS_URL: redisUrl.default('redis://127.0.0.1:6379').register(variableDocs, {
    section: 'Connections',
    description:
      'Redis for the BullMQ queues: `redis://[user:pass@]host:6379[/db]` (one server), `redis+sentinel://[user:pass@]s1:26379,s2:26379/master-name[/db]` ' +
      "(Sentinel; `user:pass` is the master's, `?sentinelPassword=` the sentinels'), or `redis+cluster://[user:pass@]n1:6379,n2:6379` (Cluster seed nodes); `rediss…` for TLS.",
    production: 'AOF on (`appendonly yes`, `appendfsync everysec`) and `maxmemory-policy noeviction`.',
  }),
  QUEUE_PREFIX: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9_{}.-]+$/, 'may hold letters, digits, _ . - and a {hash tag}')
    .default('reminders')
    .register(variableDocs, {
      section: 'Connections',
      description: 'Prefix of every Redis key, so that several deployments or test runs share one Redis. Letters, digits, `_ . -` and a `{hash tag}`.',
      production: 'One prefix per environment. On a Redis Cluster a prefix without a `{hash tag}` is wrapped in one (`{reminders}`), so that every key of a queue lands on one slot.',
    }),
  SMTP_URL: connectionUrl(['smtp:', 'smtps:'], { emptyAllowed: true })
    .default('')
    .register(variableDocs, {
      section: 'Mail',
      description:
        'SMTP server, e.g. `smtp://user:pass@smtp.example.com:587` or `smtps://…:465`; append `?ignoreTLS=true` for a server without STARTTLS. Empty: nothing is sent, each email is written to `OUTBOX_DIR` to be opened and looked at.',
      default: 'empty (capture to `OUTBOX_DIR`)',
      production: 'Must be set; keep credentials out of version control.',
    }),
  SMTP_POOL_SIZE: integer(1, 50)
    .default(5)
    .register(variableDocs, {
      section: 'Mail',
      description: 'Pooled SMTP connections per worker process (1–50).',
      production: 'Keep worker processes × `SMTP_POOL_SIZE` within what your SMTP provider allows.',
    }),
  OUTBOX_DIR: z
    .string()
    .trim()
    .min(1)
    .default('outbox')
    .register(variableDocs, {
      section: 'Mail',
      description: 'Folder where emails are captured when `SMTP_URL` is empty (an `.eml` and an `.html` per email, and `index.html`), relative to the working directory.',
      production: 'Unused once `SMTP_URL` is set.',
    }),
  MAIL_FROM: z
    .string()
    .trim()
    .min(3)
    .default('Renewals <renewals@example.com>')
    .register(variableDocs, {
      section: 'Mail',
      description: 'Sender of the reminders (the From header).',
      production: 'An address of a domain whose SPF, DKIM and DMARC allow your SMTP server.',
    }),
  REMINDER_TIMEZONE: timezone.default('UTC').register(variableDocs, {
    section: 'When reminders are due',
    description: 'Business time zone (IANA name): "today" and every expiry date are calendar dates there.',
    production: "The time zone the portal's expiry dates are meant in, e.g. `Europe/Berlin`.",
  }),
  REMINDER_OFFSETS: offsets.default(() => [90, 60, 30, 14, 7, 0]).register(variableDocs, {
    section: 'When reminders are due',
    description: 'Days before the expiry date at which a reminder is due, comma-separated (each 0–3650, no repeats).',
    production: 'The templates must have copy for every offset listed here.',
  }),
  CATCHUP_DAYS: integer(0, 60)
    .default(3)
    .register(variableDocs, {
      section: 'When reminders are due',
      description: 'How many days late a missed reminder may still be sent (daemon down, item loaded late), 0–60.',
      production: 'At least the longest outage you would want to recover from without an operator.',
    }),
  SCAN_CRON: cron.default('0 6 * * *').register(variableDocs, {
    section: 'When reminders are due',
    description: 'Cron pattern of the daily scan, in `REMINDER_TIMEZONE` (5 or 6 fields; the default is 06:00 every day).',
    production: 'Outside 01:00–03:00 local time (daylight-saving transitions).',
  }),
  SEND_ATTEMPTS: integer(1, 50)
    .default(6)
    .register(variableDocs, {
      section: 'Sending',
      description: 'Tries of one ledger row before a transient failure (4xx replies, SMTP unreachable, time-outs) fails it, 1–50; a try that never reached SMTP is not counted. The worker\'s value rules, not the value of the process that queued the job.',
      production: 'The default: with the default back-off, 6 tries span about four minutes of SMTP trouble, and a job that waits out a longer outage leaves its rows pending for the outbox to queue again.',
    }),
  SEND_BACKOFF_MS: integer(0, 86_400_000)
    .default(10_000)
    .register(variableDocs, {
      section: 'Sending',
      description: 'First retry delay in milliseconds; it doubles at each further try, up to `SEND_BACKOFF_MAX_MS`. The worker\'s value rules.',
      production: 'The default; delayed retries are promoted as soon as SMTP answers again.',
    }),
  SEND_BACKOFF_MAX_MS: integer(0, 86_400_000)
    .default(60_000)
    .register(variableDocs, {
      section: 'Sending',
      description: 'Cap of the retry delay: a send waits at most this long between tries (and is promoted sooner once SMTP answers again).',
      production: 'At most a minute, so that a reminder goes out within a minute of an SMTP outage ending.',
    }),
  SEND_RATE_PER_SEC: integer(1, 10_000)
    .default(10)
    .register(variableDocs, {
      section: 'Sending',
      description: "Emails per second across all workers together (BullMQ's limiter is global per queue).",
      production: "Your SMTP provider's sending limit, with some headroom.",
    }),
  SEND_CONCURRENCY: integer(1, 100)
    .default(16)
    .register(variableDocs, {
      section: 'Sending',
      description:
        "Emails in flight at once in each worker process (1–100). Those beyond `SMTP_POOL_SIZE` claim, render and mark their rows while the others are at the SMTP server, and the ledger statements of all of them are batched (one claim, one hand-over mark, one outcome statement for the attempts making it at the same moment). An email waiting for a pooled connection counts against its SMTP deadline; one that never got a connection goes back to pending, never counted as an attempt.",
      production: 'The default; lower it only if the SMTP server is so slow that emails wait for a pooled connection for seconds.',
    }),
  SEND_LOCK_MS: integer(1000, 600_000)
    .default(30_000)
    .register(variableDocs, {
      section: 'Sending',
      description:
        "How long (ms) a worker's lock on a send job lasts without renewal. A worker that dies loses the job after this and another worker runs it again; rows the dead worker had claimed are settled through their lease (see `SEND_LEASE_MS`).",
      production: 'The default, unless event-loop stalls cause "job stalled" warnings.',
    }),
  SEND_LEASE_MS: integer(2000, 600_000)
    .default(20_000)
    .register(variableDocs, {
      section: 'Sending',
      description:
        "How long (ms) a claim's lease on its ledger rows holds without a heartbeat (a live worker renews it every fifth of it). The SMTP call is cut off at half of it and the outcome's recording at nine tenths, so nothing can deliver under an expired lease.",
      production: 'The default; longer only if your SMTP server takes more than 10 s to accept a message.',
    }),
  SEND_SWEEP_MS: integer(100, 600_000)
    .default(5000)
    .register(variableDocs, {
      section: 'Sending',
      description:
        'How often (ms) each worker settles the expired leases of dead attempts: rows never handed to SMTP go back to `pending` and are sent; rows that may have reached SMTP become `unknown`.',
    }),
  SEND_REPLAY_GRACE_MS: integer(0, 3_600_000)
    .default(10_000)
    .register(variableDocs, {
      section: 'Sending',
      description: "How long (ms) after a lease expired an operator's replay (and a claim) still leaves the row alone, as a margin for clocks and a stalled process.",
    }),
  OUTBOX_INTERVAL_MS: integer(100, 60_000)
    .default(20_000)
    .register(variableDocs, {
      section: 'Sending',
      description:
        'How often (ms) each worker process gives every pending ledger group a live send job: the ledger is the outbox, so a flushed Redis, a job removed by hand or a failed enqueue is repaired within this interval.',
    }),
  MAX_ITEMS_PER_EMAIL: integer(1, 200)
    .default(40)
    .register(variableDocs, {
      section: 'Sending',
      description: "At most this many items (licenses) in one email; a recipient with more due on one day gets several emails. 40 keep an email under Gmail's 102 KB clipping limit.",
    }),
  WORKER_PROCESSES: integer(1, 64)
    .default(() => Math.min(64, availableParallelism()))
    .register(variableDocs, {
      section: 'Sending',
      description:
        'Send worker processes of `reminders work` and `reminders start` (1–64). More than one runs a primary that forks them, restarts one that crashes and forwards SIGTERM; `SEND_CONCURRENCY` applies per process. 1 runs the worker in the command\'s own process.',
      default: 'the number of CPU cores',
      production: 'The default; 1 when an orchestrator runs one container per core.',
    }),
  TEMPLATES_DIR: z
    .string()
    .trim()
    .min(1)
    .default('templates')
    .register(variableDocs, {
      section: 'Content and links',
      description: 'Folder of the MJML templates, relative to the working directory (`/app/templates` in the image).',
      production: 'Publish reviewed edits with `reminders templates publish`; see [Templates](templates.md).',
    }),
  TEMPLATE_POLL_MS: integer(100, 10_000)
    .default(5000)
    .register(variableDocs, {
      section: 'Content and links',
      description:
        'How often (ms) a worker checks for a newly published template version, 100–10000; a NOTIFY makes it look at once. Workers send only published versions (`reminders templates publish`), never the files.',
      production: 'The default: a publish is live on every host within 10 s, also when LISTEN is not possible.',
    }),
  DATABASE_LISTEN_URL: z
    .union([z.literal('off'), connectionUrl(['postgres:', 'postgresql:'], { socketPathAllowed: true })])
    .optional()
    .register(variableDocs, {
      section: 'Content and links',
      description: 'Where workers LISTEN for template publishes. Empty: `DATABASE_URL`; `off`: rely on the poll (`TEMPLATE_POLL_MS`).',
      default: 'empty (`DATABASE_URL`)',
      production: 'Behind PgBouncer in transaction mode (which drops LISTEN): a direct PostgreSQL URL, or `off`.',
    }),
  PORTAL_URL: url(['http:', 'https:'])
    .default('https://www.dynamsoft.com/customer')
    .register(variableDocs, {
      section: 'Content and links',
      description: 'Base URL of the customer portal: the renew links and the "Upcoming Renewal" tabs.',
      production: 'The live portal URL.',
    }),
  PUBLIC_URL: url(['http:', 'https:'])
    .default('http://127.0.0.1:8080')
    .register(variableDocs, {
      section: 'Content and links',
      description: "Base URL at which customers reach this service's unsubscribe endpoint (in every email's links and List-Unsubscribe header).",
      production: 'The public HTTPS URL of the service, e.g. `https://reminders.example.com`.',
    }),
  SALES_EMAIL: email.default('sales@dynamsoft.com').register(variableDocs, {
    section: 'Content and links',
    description: 'Where customers ask for a quote or a proforma invoice.',
    production: 'The real sales address.',
  }),
  SUPPORT_EMAIL: email.default('support@dynamsoft.com').register(variableDocs, {
    section: 'Content and links',
    description: 'Where customers renew an item that has already expired.',
    production: 'The real support address.',
  }),
  HTTP_PORT: integer(0, 65535)
    .default(8080)
    .register(variableDocs, {
      section: 'HTTP endpoint',
      description: "Port of the daemon's HTTP endpoint (`/healthz`, `/metrics`, `/admin/queues`, unsubscribe); 0 picks a free one.",
      production: 'The port your load balancer and health checks use.',
    }),
  HTTP_HOST: z
    .string()
    .trim()
    .min(1)
    .default('127.0.0.1')
    .register(variableDocs, {
      section: 'HTTP endpoint',
      description:
        'Address the HTTP endpoint (and the console at `/console`) listens on. On a non-loopback address `reminders start` and `reminders console` refuse to start until a console account exists (`reminders users add NAME --role admin`): the console and the dashboard sit behind its sign-in.',
      production: '`0.0.0.0` in a container, behind HTTPS (a `PUBLIC_URL` starting `https://` makes the cookies Secure).',
    }),
  ADMIN_TOKEN: z
    .string()
    .trim()
    .default('')
    .register(variableDocs, {
      section: 'HTTP endpoint',
      description:
        'Bearer token for `/admin/queues` (the queue dashboard: effectively write access to Redis) and the generic bounce webhook. Signed-in console operators and admins reach the dashboard without it. Never printed.',
      default: 'empty (only console operators and admins reach the dashboard)',
      production: 'A long random value, e.g. `openssl rand -hex 32`, kept in your secret store.',
    }),
  UNSUBSCRIBE_SECRET: z
    .string()
    .trim()
    .default('')
    .refine((value) => value === '' || value.length >= 16, 'must be at least 16 characters (e.g. `openssl rand -hex 32`)')
    .register(variableDocs, {
      section: 'HTTP endpoint',
      description:
        'HMAC key that signs the unsubscribe links, at least 16 characters. Changing it invalidates the links already sent. Never printed. Empty is allowed only while `PUBLIC_URL` and `HTTP_HOST` are loopback addresses (a fixed local-only key is used); otherwise the service refuses to start.',
      default: 'empty (local only)',
      production: 'Must be set: a long random value, e.g. `openssl rand -hex 32`, never rotated casually.',
    }),
  BOUNCE_ADDRESS: z
    .union([z.literal(''), email])
    .default('')
    .register(variableDocs, {
      section: 'Bounces and complaints',
      description: 'Envelope sender base for VERP: each reminder\'s Return-Path is `local+<token>@domain`, the token signed and naming its ledger rows, so a bounce finds its reminder. Empty: MAIL_FROM, and bounces are matched by Message-ID only.',
      default: 'empty',
      production: 'An address of a mailbox or MTA pipe that feeds the bounce channels (see [Deliverability](deliverability.md)).',
    }),
  BOUNCE_IMAP_URL: connectionUrl(['imap:', 'imaps:'], { emptyAllowed: true })
    .default('')
    .register(variableDocs, {
      section: 'Bounces and complaints',
      description: 'Bounce mailbox the daemon polls, `imap://` or `imaps://user:pass@host/INBOX`. Empty: not polled.',
      default: 'empty (not polled)',
      production: '`imaps://`; processed messages are moved to `BOUNCE_IMAP_PROCESSED`, never deleted.',
    }),
  BOUNCE_IMAP_PROCESSED: z
    .string()
    .trim()
    .min(1)
    .default('Processed')
    .register(variableDocs, { section: 'Bounces and complaints', description: 'Folder of the bounce mailbox that processed messages are moved to (never deleted).' }),
  BOUNCE_IMAP_POLL_SECONDS: integer(1, 86_400)
    .default(60)
    .register(variableDocs, { section: 'Bounces and complaints', description: 'How often (seconds) the daemon looks into the bounce mailbox.' }),
  SOFT_BOUNCE_LIMIT: integer(1, 1000)
    .default(3)
    .register(variableDocs, { section: 'Bounces and complaints', description: 'Soft bounces (4.x.x) of one address within `SOFT_BOUNCE_WINDOW_DAYS` that suppress it.' }),
  SOFT_BOUNCE_WINDOW_DAYS: integer(1, 3650)
    .default(30)
    .register(variableDocs, { section: 'Bounces and complaints', description: 'The window (days) in which soft bounces are counted.' }),
  SES_SNS_TOPIC_ARNS: z
    .string()
    .trim()
    .default('')
    .register(variableDocs, { section: 'Bounces and complaints', description: 'Amazon SNS topics whose SES notifications `/webhooks/ses` accepts (comma-separated ARNs). Empty: endpoint off.', default: 'empty (endpoint off)' }),
  SENDGRID_WEBHOOK_PUBLIC_KEY: z
    .string()
    .trim()
    .default('')
    .register(variableDocs, { section: 'Bounces and complaints', description: "SendGrid's signed event webhook verification key (base64 ECDSA public key). Empty: `/webhooks/sendgrid` off.", default: 'empty (endpoint off)' }),
  POSTMARK_WEBHOOK_AUTH: z
    .union([z.literal(''), z.string().trim().regex(/^[^:]+:.{8,}$/, 'must be user:password (a password of 8 characters or more)')])
    .default('')
    .register(variableDocs, { section: 'Bounces and complaints', description: '`user:password` that Postmark\'s webhook sends as HTTP basic auth. Empty: `/webhooks/postmark` off.', default: 'empty (endpoint off)' }),
  MAILGUN_WEBHOOK_SIGNING_KEY: z
    .string()
    .trim()
    .default('')
    .register(variableDocs, { section: 'Bounces and complaints', description: "Mailgun's HTTP webhook signing key (HMAC). Empty: `/webhooks/mailgun` off.", default: 'empty (endpoint off)' }),
  CONSOLE_SESSION_HOURS: integer(1, 720)
    .default(12)
    .register(variableDocs, {
      section: 'Console',
      description: 'Hours a console sign-in lasts (1–720); then the person signs in again (signing out ends it at once).',
      production: 'A working day (8 to 12).',
    }),
  CONSOLE_TRUSTED_PROXIES: z
    .string()
    .trim()
    .default('')
    .refine((value) => value === '' || value.split(',').every((a) => isIP(a.trim()) !== 0), 'must be a comma-separated list of IP addresses, e.g. 127.0.0.1,10.0.0.5')
    .register(variableDocs, {
      section: 'Console',
      description:
        'IP addresses of reverse proxies trusted for single sign-on, comma-separated: a request from one of them whose `CONSOLE_PROXY_USER_HEADER` names an existing console account is signed in as that account. The header is ignored from any other address; the proxy must strip it from clients.',
      default: 'empty (no single sign-on)',
      production: "The proxy's own address as this host sees it, e.g. `10.0.0.5`; never a client range.",
    }),
  CONSOLE_PROXY_USER_HEADER: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9-]+$/, 'must be an HTTP header name')
    .default('X-Forwarded-User')
    .register(variableDocs, {
      section: 'Console',
      description: "Header in which a trusted proxy names the console account (e.g. oauth2-proxy's `X-Forwarded-User`).",
    }),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info')
    .register(variableDocs, {
      section: 'Logging',
      description: 'Least severe log lines written: `fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`. Logs go to standard error; standard output carries only what a command prints.',
    }),
  LOG_FORMAT: z
    .enum(['json', 'pretty'])
    .default('json')
    .register(variableDocs, {
      section: 'Logging',
      description: '`json`: one JSON object a line (for log collectors); `pretty`: readable, coloured lines for a person at a terminal.',
      production: '`json`.',
    }),
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
  /** Tries per ledger row (the row's budget, not the job's): the worker's value rules. */
  readonly sendAttempts: number;
  /** First retry delay of a send job, doubling, capped at sendBackoffMaxMs: the worker's values rule. */
  readonly sendBackoffMs: number;
  readonly sendBackoffMaxMs: number;
  readonly sendRatePerSec: number;
  readonly sendConcurrency: number;
  /** How long a send job's lock lasts without renewal; a dead worker's job is retried after it. */
  readonly sendLockMs: number;
  /** Lease of a claim; an attempt's SMTP deadline and outcome retry together stay within it. */
  readonly sendLeaseMs: number;
  /** How often a worker settles expired leases. */
  readonly sendSweepMs: number;
  /** Replay (and claim) wait this long after a row's lease expired. */
  readonly sendReplayGraceMs: number;
  /** How often each worker re-queues pending rows that have no live job (the ledger is the outbox). */
  readonly outboxIntervalMs: number;
  /** A group with more due items is sent as several emails (size bound: docs/decisions.md). */
  readonly maxItemsPerEmail: number;
  /** Send worker processes of `work` and `start`: one is CPU-bound, so default one per core. */
  readonly workerProcesses: number;
  readonly templatesDir: string;
  /** How often a worker checks for a newly published template version (at most 10 s). */
  readonly templatePollMs: number;
  /** Where a worker LISTENs for published templates; null: poll only. */
  readonly databaseListenUrl: string | null;
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
  readonly logFormat: Raw['LOG_FORMAT'];
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
    sendBackoffMaxMs: raw.SEND_BACKOFF_MAX_MS,
    sendRatePerSec: raw.SEND_RATE_PER_SEC,
    sendConcurrency: raw.SEND_CONCURRENCY,
    sendLockMs: raw.SEND_LOCK_MS,
    sendLeaseMs: raw.SEND_LEASE_MS,
    sendSweepMs: raw.SEND_SWEEP_MS,
    sendReplayGraceMs: raw.SEND_REPLAY_GRACE_MS,
    outboxIntervalMs: raw.OUTBOX_INTERVAL_MS,
    maxItemsPerEmail: raw.MAX_ITEMS_PER_EMAIL,
    workerProcesses: raw.WORKER_PROCESSES,
    templatesDir: path.resolve(raw.TEMPLATES_DIR),
    templatePollMs: raw.TEMPLATE_POLL_MS,
    databaseListenUrl: raw.DATABASE_LISTEN_URL === 'off' ? null : (raw.DATABASE_LISTEN_URL ?? raw.DATABASE_URL),
    portalUrl: stripSlash(raw.PORTAL_URL),
    publicUrl: stripSlash(raw.PUBLIC_URL),
    salesEmail: raw.SALES_EMAIL,
    supportEmail: raw.SUPPORT_EMAIL,
    httpPort: raw.HTTP_PORT,
    httpHost: raw.HTTP_HOST,
    adminToken: raw.ADMIN_TOKEN,
    unsubscribeSecret: raw.UNSUBSCRIBE_SECRET || LOCAL_ONLY_UNSUBSCRIBE_SECRET,
    logLevel: raw.LOG_LEVEL,
    logFormat: raw.LOG_FORMAT,
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
  const passwords = [config.databaseUrl, config.databaseListenUrl ?? '', config.redisUrl, config.smtpUrl, config.bounceImapUrl].map(urlPassword);
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

/** One variable of the configuration as the reference documents it. */
export interface ConfigVariable {
  name: string;
  /** Undefined when the schema lacks its documentation (a test fails on that). */
  doc: VariableDoc | undefined;
  /** The default, as the value one would write in the environment. */
  default: string;
}

/** Every variable of the schema, in its order, with its documentation and default. */
export function configVariables(): ConfigVariable[] {
  return Object.entries(schema.shape).map(([name, variable]) => {
    const value: unknown = variable.parse(undefined);
    return { name, doc: variableDocs.get(variable), default: Array.isArray(value) ? value.join(',') : String(value) };
  });
}
