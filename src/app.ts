import type { Queue } from 'bullmq';
import type { Kysely } from 'kysely';
import type { Config } from './config';
import { createDb } from './db/connection';
import type { Database } from './db/types';
import { createLogger, type Logger } from './logger';
import { createQueue, createRedis, type RedisClient, SCAN_QUEUE, SEND_QUEUE } from './queue/queues';
import type { Renderer } from './render/types';
import { createMailer } from './send/create-mailer';
import type { Mailer } from './send/mailer';

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
  const logger = options.logger ?? createLogger(config.logLevel);
  const db = createDb(config.databaseUrl, { reconnectMs: config.databaseReconnectMs });
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
  const redis = lazy(() => createRedis(config.redis, 'worker'), releaseRedis);
  const producerRedis = lazy(() => createRedis(config.redis, 'producer'), releaseRedis);
  // Closing a queue whose Redis is gone waits for a reconnect: bound it, the connection is ours to drop.
  const closeQueue = (q: Queue) => (producerRedis().status === 'ready' ? q.close() : Promise.race([q.close(), delay(1000)]));
  const scanQueue = lazy(() => watchErrors(createQueue(SCAN_QUEUE, producerRedis(), config.queuePrefix), logger), closeQueue);
  const sendQueue = lazy(() => watchErrors(createQueue(SEND_QUEUE, producerRedis(), config.queuePrefix), logger), closeQueue);
  const mailer = lazy(
    () => createMailer(config),
    (m) => m.close(),
  );
  const renderer = lazy(
    // Loaded on first use: MJML takes a while to load, and most commands never render.
    () => (require('./render/renderer') as typeof import('./render/renderer')).createRenderer(config, logger),
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
