import { expectExactlyOnce, runFortnight } from './support/fortnight';
import { startRedisCluster } from './support/redis-cluster';
import { ADMIN_URL } from './support/shared-services';

it('Redis Cluster (3 masters, 3 replicas), the master of the queues\' slot killed mid-drain: every reminder once', async () => {
  const cluster = await startRedisCluster();
  try {
    const report = await runFortnight({
      name: 'redis-cluster',
      adminUrl: ADMIN_URL,
      redisUrl: cluster.url,
      fault: {
        probe: 'redis',
        async inject({ queuePrefix }) {
          const { killed, promoted } = await cluster.killMasterOf(`${queuePrefix}:send`);
          return `master ${killed} killed, replica ${promoted} promoted`;
        },
      },
    });
    expectExactlyOnce(report);
  } finally {
    await cluster.close();
  }
});
