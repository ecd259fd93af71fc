import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import { type Config, secretsOf } from './config';
import { createDb } from './db/connection';
import type { Database } from './db/types';
import { createLogger, type Logger } from './logger';
import { createQueue, createRedis, SCAN_QUEUE, SEND_QUEUE } from './queue/queues';
import { TemplateHealth } from './render/template-health';
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
  /** Template edits the renderer refused (for /healthz and /metrics). */
  readonly templateHealth: TemplateHealth;
  redis(): Redis;
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
  const logger = options.logger ?? createLogger(config.logLevel, 2, secretsOf(config));
  // Each send in flight holds a connection from just before the hand-over to the record.
  const db = createDb(config.databaseUrl, Math.max(10, config.sendConcurrency + 4));
  const templateHealth = new TemplateHealth();
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

  const redis = lazy(
    () => createRedis(config.redisUrl),
    async (r) => {
      // QUIT would wait for a connection that may never come back.
      if (r.status === 'ready') await r.quit().catch(() => r.disconnect());
      else r.disconnect();
    },
  );
  // Closing a queue whose Redis is gone waits for a reconnect: bound it, the connection is ours to drop.
  const closeQueue = (q: Queue) => (redis().status === 'ready' ? q.close() : Promise.race([q.close(), delay(1000)]));
  const scanQueue = lazy(() => watchErrors(createQueue(SCAN_QUEUE, redis(), config.queuePrefix), logger), closeQueue);
  const sendQueue = lazy(() => watchErrors(createQueue(SEND_QUEUE, redis(), config.queuePrefix), logger), closeQueue);
  const mailer = lazy(
    () => createMailer(config),
    (m) => m.close(),
  );
  const renderer = lazy(
    // Loaded on first use: MJML takes a while to load, and most commands never render.
    () => {
      const { createRenderer } = require('./render/renderer') as typeof import('./render/renderer');
      const { databaseVersionStore } = require('./render/template-versions') as typeof import('./render/template-versions');
      return createRenderer(config, logger, {
        reloadCheckMs: config.templateReloadCheckMs,
        guard: { config, store: databaseVersionStore(db), health: templateHealth },
      });
    },
    (r) => r.close(),
  );

  let closed = false;
  return {
    config,
    logger,
    db,
    templateHealth,
    redis,
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
