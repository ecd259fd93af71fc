import { Queue } from 'bullmq';
import IORedis, { Cluster, type ClusterOptions, type Redis, type RedisOptions } from 'ioredis';
import type { RedisTarget } from '../redis-url';

/** Queue names under QUEUE_PREFIX: one per concern. */
export const SCAN_QUEUE = 'scan';
export const SEND_QUEUE = 'send';

/** A connection to one server, a Sentinel-managed master, or a Redis Cluster. */
export type RedisClient = Redis | Cluster;

/**
 * - `worker`: for BullMQ workers, whose blocking commands must wait out an outage
 *   (`maxRetriesPerRequest: null`, commands queue while reconnecting);
 * - `producer`: for queues that commands add jobs to (`scan`, `replay`): a call made while Redis
 *   is unreachable fails at once (`enableOfflineQueue: false`) instead of hanging.
 */
export type RedisRole = 'worker' | 'producer';

const roleOptions = (role: RedisRole) =>
  role === 'worker' ? { maxRetriesPerRequest: null, enableOfflineQueue: true } : { maxRetriesPerRequest: 1, enableOfflineQueue: false };

// A managed Redis that fails over by moving its DNS name leaves clients on a demoted replica for
// a moment; reconnecting (and re-sending the command) reaches the new master.
const reconnectOnReadonly = (error: Error) => (error.message.startsWith('READONLY') ? 2 : false);

/** Opens a Redis connection of the given role for the configured target. */
export function createRedis(target: RedisTarget, role: RedisRole = 'worker'): RedisClient {
  const { maxRetriesPerRequest, enableOfflineQueue } = roleOptions(role);
  let client: RedisClient;
  if (target.kind === 'single') {
    client = new IORedis(target.url, { maxRetriesPerRequest, enableOfflineQueue, reconnectOnError: reconnectOnReadonly });
  } else if (target.kind === 'sentinel') {
    const options: RedisOptions = {
      sentinels: target.sentinels,
      name: target.masterName,
      db: target.db,
      username: target.username,
      password: target.password,
      sentinelPassword: target.sentinelPassword,
      ...(target.tls ? { tls: {}, sentinelTLS: {}, enableTLSForSentinelMode: true } : {}),
      // Not `failoverDetector`: in ioredis 6 its sentinel connections outlive quit() and keep the
      // process from exiting. A killed master closes the connection and a demoted one answers
      // READONLY; either way the client asks the sentinels for the new master.
      maxRetriesPerRequest,
      enableOfflineQueue,
      reconnectOnError: reconnectOnReadonly,
    };
    client = new IORedis(options);
  } else {
    const options: ClusterOptions = {
      redisOptions: { username: target.username, password: target.password, maxRetriesPerRequest, ...(target.tls ? { tls: {} } : {}) },
      enableOfflineQueue,
      // While a replica takes over a failed master, commands for its slots wait and retry.
      retryDelayOnFailover: 200,
      retryDelayOnClusterDown: 300,
      retryDelayOnTryAgain: 200,
    };
    client = new Cluster(target.nodes, options);
  }
  // Reconnects are ioredis' job; an unhandled 'error' event would crash the process instead.
  client.on('error', () => undefined);
  return client;
}

/** A queue on a connection of the caller's (closing the queue leaves the connection open). */
export function createQueue(name: string, connection: RedisClient, prefix: string): Queue {
  return new Queue(name, { connection, prefix });
}
