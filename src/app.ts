import type { Queue } from 'bullmq';
import type { Kysely } from 'kysely';
import { type Config, secretsOf } from './config';
import { createDb } from './db/connection';
import type { Database } from './db/types';
import { createLogger, type Logger } from './logger';
import type { RedisClient } from './queue/queues';
import type { Renderer } from './render/types';
import type { Mailer } from './send/mailer';

// Loaded on first use, like the renderer below: BullMQ and nodemailer take a while to load, and
// commands such as `failed` or `history` never open Redis or SMTP.
const queues = () => require('./queue/queues') as typeof import('./queue/queues');

type Release = () => Promise<void> | void;

/**
 * The composition root: builds each resource on first use and releases them newest-first
 * on `close()`. Commands take what they need; `migrate` never opens Redis, for instance.
 */
export interface App {
  readonly config: Config;
  readonly logger: Logger;
  readonly db: Kysely<Database>;
  /** The workers' connection: commands wait out an outage (BullMQ's blocking calls need it). */
  redis(): RedisClient;
  /** The queues' connection: a call made while Redis is unreachable fails at once. */
  producerRedis(): RedisClient;
  /** Queues to add jobs to and read counts from, on the producer connection. */
  scanQueue(): Queue;
  sendQueue(): Queue;
  mailer(): Mailer;
  renderer(): Renderer;
  /** Registers a release to run on close, before everything registered earlier. */
  onClose(release: Release): void;
  close(): Promise<void>;
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/** Queue connection errors go to the log (once per message), not to stderr through console.error. */
function watchErrors(queue: Queue, logger: Logger): Queue {
  let last = '';
  queue.on('error', (error) => {
    if (error.message !== last) logger.warn({ err: error, queue: queue.name }, 'queue connection error');
    last = error.message;
  });
  return queue;
}

export function createApp(config: Config, options: { logger?: Logger } = {}): App {
  const releases: Release[] = [];
  const logger = options.logger ?? createLogger(config.logLevel, { secrets: secretsOf(config), format: config.logFormat });
  // Each send in flight holds a connection from just before the hand-over to the record.
  const db = createDb(config.databaseUrl, { maxConnections: Math.max(10, config.sendConcurrency + 4), reconnectMs: config.databaseReconnectMs });
  releases.push(() => db.destroy());

  const lazy = <T>(make: () => T, release: (value: T) => Promise<void> | void): (() => T) => {
    let value: T | undefined;
    return () => {
      if (value === undefined) {
        value = make();
        const made = value;
        releases.push(() => release(made));
      }
      return value;
    };
  };

  const releaseRedis = async (r: RedisClient) => {
    // QUIT would wait for a connection that may never come back.
    if (r.status === 'ready') await r.quit().catch(() => r.disconnect());
    else r.disconnect();
  };
  const redis = lazy(() => queues().createRedis(config.redis, 'worker'), releaseRedis);
  const producerRedis = lazy(() => queues().createRedis(config.redis, 'producer'), releaseRedis);
  // Closing a queue whose Redis is gone waits for a reconnect: bound it, the connection is ours to drop.
  const closeQueue = (q: Queue) => (producerRedis().status === 'ready' ? q.close() : Promise.race([q.close(), delay(1000)]));
  const scanQueue = lazy(() => watchErrors(queues().createQueue(queues().SCAN_QUEUE, producerRedis(), config.queuePrefix), logger), closeQueue);
  const sendQueue = lazy(() => watchErrors(queues().createQueue(queues().SEND_QUEUE, producerRedis(), config.queuePrefix), logger), closeQueue);
  const mailer = lazy(
    () => (require('./send/create-mailer') as typeof import('./send/create-mailer')).createMailer(config),
    (m) => m.close(),
  );
  const renderer = lazy(
    // The published versions in PostgreSQL, never the files on this host's disk. Loaded on first
    // use, with a LISTEN connection of its own: most commands never render.
    () => {
      const { createPublishedRenderer } = require('./templates-store/published-renderer') as typeof import('./templates-store/published-renderer');
      const { listenForPublishes } = require('./templates-store/publish-listener') as typeof import('./templates-store/publish-listener');
      const published = createPublishedRenderer(db, logger, { pollMs: config.templatePollMs });
      const stopListening = config.databaseListenUrl ? listenForPublishes(config.databaseListenUrl, logger, () => published.invalidate(), config.templatePollMs) : null;
      return {
        render: (input) => published.render(input),
        async close() {
          await stopListening?.();
          await published.close();
        },
      } satisfies Renderer;
    },
    (r) => r.close(),
  );

  let closed = false;
  return {
    config,
    logger,
    db,
    redis,
    producerRedis,
    scanQueue,
    sendQueue,
    mailer,
    renderer,
    onClose: (release) => releases.push(release),
    async close() {
      if (closed) return;
      closed = true;
      for (const release of releases.reverse()) {
        try {
          await release();
        } catch (error) {
          logger.warn({ err: error }, 'release failed during shutdown');
        }
      }
    },
  };
}
