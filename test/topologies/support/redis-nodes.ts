import IORedis from 'ioredis';
import { until } from '../../helpers/servers';

/** One plain connection to one server, for the harness's own checks (never the product's). */
export async function ask<T>(port: number, command: (client: IORedis) => Promise<T>): Promise<T> {
  const client = new IORedis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await command(client);
  } finally {
    client.disconnect();
  }
}

export const info = (port: number, section: string) => ask(port, (c) => c.info(section));

/** Waits until a server answers PING. */
export const untilPong = (port: number, what: string) => until(async () => (await ask(port, (c) => c.ping())) === 'PONG', what, 30_000);

/** Waits until a replica has caught up with its master (after this, a failover keeps its data). */
export const untilReplicaSynced = (port: number) =>
  until(async () => /master_link_status:up/.test(await info(port, 'replication')), `replica on ${port} in sync`, 30_000);
