import { Queue, type ConnectionOptions } from 'bullmq';
import IORedis, { type Redis } from 'ioredis';

/** Queue names under QUEUE_PREFIX: one per concern. */
export const SCAN_QUEUE = 'scan';
export const SEND_QUEUE = 'send';

/** A Redis connection fit for BullMQ workers (blocking commands must not time out). */
export function createRedis(redisUrl: string): Redis {
  const redis = new IORedis(redisUrl, { maxRetriesPerRequest: null, enableReadyCheck: true, lazyConnect: false });
  // Reconnects are ioredis' job; an unhandled 'error' event would crash the process instead.
  redis.on('error', () => undefined);
  return redis;
}

export function createQueue(name: string, connection: ConnectionOptions, prefix: string): Queue {
  return new Queue(name, { connection, prefix });
}
