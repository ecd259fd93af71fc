import { expectExactlyOnce, runFortnight } from './support/fortnight';
import { startPgBouncer } from './support/pgbouncer';
import { ADMIN_URL, REDIS_URL } from './support/shared-services';

it('PostgreSQL behind PgBouncer in transaction mode (4 server connections for 5 processes): every reminder once', async () => {
  const admin = new URL(ADMIN_URL);
  const bouncer = await startPgBouncer({ host: admin.hostname, port: Number(admin.port || 5432) });
  try {
    // Migrations, scans and sends all go through the pooler; only the harness's own checks do not.
    const report = await runFortnight({ name: 'pgbouncer', adminUrl: ADMIN_URL, productDatabaseUrl: bouncer.through, redisUrl: REDIS_URL });
    expectExactlyOnce(report);
  } finally {
    await bouncer.close();
  }
});
