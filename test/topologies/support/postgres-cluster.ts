import { chownSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { freePort } from '../../helpers/servers';
import { run } from './processes';

/** PostgreSQL's system user, which owns a cluster's files and runs PgBouncer. */
export function postgresOwner(): { name: string; uid: number; gid: number } {
  if (userInfo().uid !== 0) {
    const me = userInfo();
    return { name: me.username, uid: me.uid, gid: me.gid };
  }
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres']).toString().trim());
  return { name: 'postgres', uid: id('-u'), gid: id('-g') };
}

export interface PostgresCluster {
  port: number;
  /** The admin URL of the cluster's `postgres` database. */
  adminUrl: string;
  /** `pg_ctlcluster restart` (fast: open sessions are terminated), as a minor-version upgrade or a managed failover does. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/** A second PostgreSQL cluster of the installed version on a free port, data under a temp dir, trust auth on loopback. */
export async function startPostgresCluster(): Promise<PostgresCluster> {
  const version = readdirSync('/usr/lib/postgresql').filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a))[0];
  if (!version) throw new Error('no PostgreSQL server under /usr/lib/postgresql');
  const name = `topologies_${process.pid}`;
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'pg-cluster-'));
  const owner = postgresOwner();
  chownSync(dir, owner.uid, owner.gid);
  const ctl = (action: string) => run('pg_ctlcluster', ['--skip-systemctl-redirect', version, name, action]);
  const drop = async () => {
    await run('pg_dropcluster', ['--stop', version, name]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await run('pg_createcluster', [version, name, '-p', String(port), '-d', path.join(dir, 'data'), '-o', 'fsync=off', '--', '--auth=trust']);
    await ctl('start');
  } catch (error) {
    await drop();
    throw error;
  }
  return {
    port,
    adminUrl: `postgres://postgres@127.0.0.1:${port}/postgres`,
    restart: async () => {
      await ctl('restart');
    },
    close: drop,
  };
}
