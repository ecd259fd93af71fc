import { chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort, until } from '../../helpers/servers';
import { startProcess } from './processes';
import { postgresOwner } from './postgres-cluster';

export interface PgBouncerServer {
  port: number;
  /** `url` with its host and port swapped for PgBouncer's. */
  through(url: string): string;
  close(): Promise<void>;
}

/**
 * PgBouncer in transaction pooling mode in front of `upstream` (host:port), with a small server
 * pool so that the clients' transactions take turns on the same server connections. PgBouncer
 * refuses to run as root: it drops to PostgreSQL's system user.
 */
export async function startPgBouncer(upstream: { host: string; port: number }, poolSize = 4): Promise<PgBouncerServer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'pgbouncer-'));
  const port = await freePort();
  const users = path.join(dir, 'users.txt');
  const ini = path.join(dir, 'pgbouncer.ini');
  writeFileSync(users, '"postgres" ""\n"root" ""\n');
  writeFileSync(
    ini,
    [
      '[databases]',
      `* = host=${upstream.host} port=${upstream.port}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${users}`,
      'pool_mode = transaction',
      `default_pool_size = ${poolSize}`,
      'max_client_conn = 500',
      // Nothing is reset between clients: whatever session state a client left would leak.
      'server_reset_query =',
      `logfile = ${path.join(dir, 'pgbouncer.log')}`,
      '',
    ].join('\n'),
  );
  const owner = postgresOwner();
  for (const file of [dir, users, ini]) chownSync(file, owner.uid, owner.gid);
  // Debian puts it in /usr/sbin, which a non-login PATH may lack.
  const server = startProcess(existsSync('/usr/sbin/pgbouncer') ? '/usr/sbin/pgbouncer' : 'pgbouncer', ['-u', owner.name, ini], port);
  const through = (url: string) => {
    const u = new URL(url);
    u.host = `127.0.0.1:${port}`;
    return u.toString();
  };
  try {
    await until(
      async () => {
        const client = new pg.Client({ connectionString: through('postgres://postgres@127.0.0.1/postgres') });
        client.on('error', () => undefined);
        try {
          await client.connect();
          await client.query('select 1');
          return true;
        } finally {
          await client.end().catch(() => undefined);
        }
      },
      `pgbouncer on ${port}: ${server.output()}`,
      30_000,
    );
  } catch (error) {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    port,
    through,
    async close() {
      await server.stop('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
