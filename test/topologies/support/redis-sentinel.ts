import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, until } from '../../helpers/servers';
import { type ServerProcess, startProcess } from './processes';
import { ask, untilPong, untilReplicaSynced } from './redis-nodes';

const MASTER_NAME = 'reminders-master';

export interface RedisSentinelServers {
  /** REDIS_URL for the product: the sentinels and the master's name. */
  url: string;
  /** Kills the master (SIGKILL) and waits until the sentinels have promoted the replica (unless told not to wait). */
  killMaster(options?: { awaitPromotion?: boolean }): Promise<{ killed: number; promoted: number }>;
  close(): Promise<void>;
}

/** A master, one replica and three sentinels (quorum two), on free loopback ports. */
export async function startRedisSentinel(): Promise<RedisSentinelServers> {
  const dir = mkdtempSync(path.join(tmpdir(), 'redis-sentinel-'));
  const processes: ServerProcess[] = [];
  const stopAll = async () => {
    await Promise.all(processes.map((p) => p.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  const redisArgs = (port: number) => ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--dbfilename', `dump-${port}.rdb`];
  const sentinelPorts: number[] = [];
  try {
    const masterPort = await freePort();
    processes.push(startProcess('redis-server', redisArgs(masterPort), masterPort));
    const replicaPort = await freePort();
    processes.push(startProcess('redis-server', [...redisArgs(replicaPort), '--replicaof', '127.0.0.1', String(masterPort)], replicaPort));
    await Promise.all([untilPong(masterPort, 'redis master'), untilPong(replicaPort, 'redis replica')]);
    await untilReplicaSynced(replicaPort);
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const conf = path.join(dir, `sentinel-${port}.conf`);
      // Sentinel rewrites its own file as it learns the topology.
      writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${masterPort} 2`,
          `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
          `sentinel failover-timeout ${MASTER_NAME} 10000`,
          `sentinel parallel-syncs ${MASTER_NAME} 1`,
          '',
        ].join('\n'),
      );
      processes.push(startProcess('redis-sentinel', [conf], port));
      sentinelPorts.push(port);
    }
    await Promise.all(sentinelPorts.map((port) => untilPong(port, `sentinel on ${port}`)));
    // A failover needs every sentinel to know the replica and the other sentinels.
    await until(
      async () => {
        const views = await Promise.all(
          sentinelPorts.map((port) =>
            ask(port, async (c) => ({
              replicas: ((await c.call('SENTINEL', 'REPLICAS', MASTER_NAME)) as unknown[]).length,
              sentinels: ((await c.call('SENTINEL', 'SENTINELS', MASTER_NAME)) as unknown[]).length,
            })),
          ),
        );
        return views.every((v) => v.replicas === 1 && v.sentinels === 2);
      },
      'the sentinels to discover the replica and each other',
      60_000,
    );
  } catch (error) {
    await stopAll();
    throw error;
  }
  const masterAddress = async () => {
    const [, port] = (await ask(sentinelPorts[0] as number, (c) => c.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME))) as [string, string];
    return Number(port);
  };
  return {
    url: `redis+sentinel://${sentinelPorts.map((p) => `127.0.0.1:${p}`).join(',')}/${MASTER_NAME}`,
    async killMaster({ awaitPromotion = true } = {}) {
      const killed = await masterAddress();
      await processes.find((p) => p.port === killed)?.stop('SIGKILL');
      let promoted = killed;
      if (!awaitPromotion) return { killed, promoted };
      await until(
        async () => {
          promoted = await masterAddress();
          return promoted !== killed && /role:master/.test(await ask(promoted, (c) => c.info('replication')));
        },
        'the sentinels to promote the replica',
        60_000,
      );
      return { killed, promoted };
    },
    close: stopAll,
  };
}
