import type { Redis } from 'ioredis';
import { createRedis, type RedisClient } from './queues';
import { parseRedisUrl } from '../redis-url';

/** Deletes the keys of one server that match `prefix:*`, a page of SCAN at a time. */
async function deleteOnNode(node: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    // One UNLINK per key: on a cluster, keys of one call must share a slot, and only a hash-tagged
    // prefix guarantees that.
    if (keys.length > 0) await keys.reduce((pipeline, key) => pipeline.unlink(key), node.pipeline()).exec();
  } while (cursor !== '0');
}

/** Waits for the connection (its commands fail at once until then), or fails after `timeoutMs`. */
function ready(client: RedisClient, redisUrl: string, timeoutMs = 10_000): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Redis at ${redisUrl.replace(/\/\/[^@/]*@/, '//***@')} did not answer within ${timeoutMs} ms`)), timeoutMs);
    client.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Removes every key under a queue prefix (BullMQ keys are `prefix:queue:…`), on one server, a
 * Sentinel's master, or every master of a Redis Cluster (SCAN sees only the node it runs on).
 */
export async function deleteQueueKeys(redisUrl: string, prefix: string): Promise<void> {
  const client = createRedis(parseRedisUrl(redisUrl), 'producer');
  try {
    await ready(client, redisUrl);
    if ('nodes' in client) await Promise.all(client.nodes('master').map((node) => deleteOnNode(node, prefix)));
    else await deleteOnNode(client, prefix);
  } finally {
    client.disconnect();
  }
}
