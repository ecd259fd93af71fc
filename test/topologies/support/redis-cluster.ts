import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, until } from '../../helpers/servers';
import { run, type ServerProcess, startProcess } from './processes';
import { ask, info, untilPong, untilReplicaSynced } from './redis-nodes';

export interface RedisClusterServers {
  /** REDIS_URL for the product: every node as a seed. */
  url: string;
  /** Kills the master that serves `key`'s slot (SIGKILL) and waits until its replica has taken over; returns the new master's port. */
  killMasterOf(key: string): Promise<{ killed: number; promoted: number }>;
  close(): Promise<void>;
}

/**
 * A Redis Cluster of three masters with a replica each, on free loopback ports, nothing on disk.
 * `cluster-node-timeout` is short so that a failed master is replaced within seconds.
 */
export async function startRedisCluster(): Promise<RedisClusterServers> {
  const dir = mkdtempSync(path.join(tmpdir(), 'redis-cluster-'));
  const nodes: ServerProcess[] = [];
  const stopAll = async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 6; i++) {
      const port = await freePort();
      nodes.push(
        startProcess(
          'redis-server',
          [
            '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no',
            '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '1500',
            // A replica whose master died takes over however long it was out of touch.
            '--cluster-replica-validity-factor', '0',
          ],
          port,
        ),
      );
    }
    await Promise.all(nodes.map((n) => untilPong(n.port, `cluster node ${n.port}`)));
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '1', '--cluster-yes']);
    await until(
      async () => {
        const states = await Promise.all(nodes.map((n) => ask(n.port, (c) => c.cluster('INFO'))));
        return states.every((s) => /cluster_state:ok/.test(String(s)) && /cluster_known_nodes:6/.test(String(s)));
      },
      'the cluster to agree on its six nodes',
      60_000,
    );
    const replicas = (await Promise.all(nodes.map(async (n) => ((await info(n.port, 'replication')).includes('role:slave') ? n.port : 0)))).filter(Boolean);
    await Promise.all(replicas.map(untilReplicaSynced));
  } catch (error) {
    await stopAll();
    throw error;
  }

  const alive = () => nodes.filter((n) => n.child.exitCode === null && n.child.signalCode === null);
  /** The port of the master serving `slot`, as the first live node sees the cluster. */
  const masterOf = async (slot: number): Promise<number> => {
    const slots = await ask((alive()[0] as ServerProcess).port, (c) => c.cluster('SLOTS'));
    const range = slots.find(([from, to]) => slot >= from && slot <= to);
    if (!range?.[2]) throw new Error(`no master serves slot ${slot}`);
    return range[2][1];
  };
  return {
    url: `redis+cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
    async killMasterOf(key) {
      const slot = Number(await ask((nodes[0] as ServerProcess).port, (c) => c.cluster('KEYSLOT', key)));
      const killed = await masterOf(slot);
      await nodes.find((n) => n.port === killed)?.stop('SIGKILL');
      let promoted = 0;
      await until(
        async () => {
          promoted = await masterOf(slot);
          const state = String(await ask(promoted, (c) => c.cluster('INFO')));
          return promoted !== killed && /cluster_state:ok/.test(state);
        },
        `a replica to take over slot ${slot}`,
        60_000,
      );
      return { killed, promoted };
    },
    close: stopAll,
  };
}
