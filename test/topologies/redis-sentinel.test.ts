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
