import { createApp } from '../../src/app';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/logger';
import { startPrivateRedis, type PrivateRedis, until } from '../helpers/servers';

/**
 * The two kinds of Redis connection: a queue that commands add jobs to fails at once while Redis
 * is away (a scan or replay says so and exits), a worker's connection waits for it to come back.
 */
let redis: PrivateRedis;
beforeAll(async () => {
  redis = await startPrivateRedis();
});
afterAll(async () => {
  await redis.close();
});

it('adding a job while Redis is down fails at once; the worker connection waits and carries on', async () => {
  const config = loadConfig({ REDIS_URL: redis.url, QUEUE_PREFIX: 'connections', LOG_LEVEL: 'silent' });
  const app = createApp(config, { logger: createLogger('silent') });
  try {
    const queue = app.sendQueue();
    await queue.add('probe', {}, { jobId: 'before' });
    await redis.stop();
    const started = Date.now();
    await expect(queue.add('probe', {}, { jobId: 'during' })).rejects.toThrow();
    // Fails without waiting for a reconnect (ioredis would otherwise hold the command for ever).
    expect(Date.now() - started).toBeLessThan(3000);

    const waiting = app.redis().set('connections:worker-probe', '1');
    await redis.start();
    await expect(waiting).resolves.toBe('OK');
    // The queue's connection comes back by itself, and adds work again.
    await until(async () => (await queue.add('probe', {}, { jobId: 'after' })).id === 'after', 'the queue to reconnect');
  } finally {
    await app.close();
  }
});
