import { parseRedisUrl } from '../../src/redis-url';
import { createRedis } from '../../src/queue/queues';
import { checkRedis } from '../../src/service-checks';
import { expectExactlyOnce, runFortnight } from './support/fortnight';
import { startRedisSentinel } from './support/redis-sentinel';
import { ADMIN_URL } from './support/shared-services';

it('Redis behind Sentinel (master, replica, three sentinels), the master killed mid-drain: every reminder once', async () => {
  const sentinel = await startRedisSentinel();
  try {
    const report = await runFortnight({
      name: 'redis-sentinel',
      adminUrl: ADMIN_URL,
      redisUrl: sentinel.url,
      fault: {
        probe: 'redis',
        async inject() {
          const { killed, promoted } = await sentinel.killMaster();
          return `master ${killed} killed, replica ${promoted} promoted`;
        },
      },
    });
    expectExactlyOnce(report);
  } finally {
    await sentinel.close();
  }
});

it('a command started while the sentinels still name a dead master waits for the failover instead of failing', async () => {
  const sentinel = await startRedisSentinel();
  const redis = createRedis(parseRedisUrl(sentinel.url), 'producer');
  try {
    const { killed } = await sentinel.killMaster({ awaitPromotion: false });
    const startedAt = Date.now();
    // The sentinels name the killed master for down-after-milliseconds (1 s here): a connection
    // refused by it is a failover in progress, not an unreachable Redis.
    await expect(checkRedis(redis, sentinel.url)).resolves.toBeUndefined();
    const waited = Date.now() - startedAt;
    const [role] = (await redis.call('ROLE')) as [string];
    const [, port] = (await redis.call('CONFIG', 'GET', 'port')) as [string, string];
    expect(role).toBe('master');
    expect(Number(port)).not.toBe(killed);
    expect(waited).toBeLessThan(60_000);
  } finally {
    redis.disconnect();
    await sentinel.close();
  }
});
