import { expectExactlyOnce, runFortnight } from './support/fortnight';
import { startPostgresCluster } from './support/postgres-cluster';
import { REDIS_URL } from './support/shared-services';

it('PostgreSQL restarted mid-drain (a cluster of the test\'s own): every reminder once', async () => {
  const postgres = await startPostgresCluster();
  try {
    const report = await runFortnight({
      name: 'postgres-restart',
      adminUrl: postgres.adminUrl,
      redisUrl: REDIS_URL,
      fault: {
        probe: 'postgres',
        async inject() {
          await postgres.restart();
          return `pg_ctlcluster restart (port ${postgres.port})`;
        },
      },
    });
    expectExactlyOnce(report);
  } finally {
    await postgres.close();
  }
});
