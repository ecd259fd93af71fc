/** One Redis server address. */
export interface HostPort {
  host: string;
  port: number;
}

interface Credentials {
  username?: string;
  password?: string;
  /** `rediss…` schemes: TLS to every node (and to the sentinels). */
  tls: boolean;
}

/**
 * Where the queues live, read from REDIS_URL:
 * - `redis://[user:pass@]host:port[/db]` (or `rediss://`): one server;
 * - `redis+sentinel://[user:pass@]host:port,host:port/master-name[/db][?sentinelPassword=…]`:
 *   a master and its replicas found through Sentinel (port 26379 by default);
 * - `redis+cluster://[user:pass@]host:port,host:port`: a Redis Cluster, seed nodes listed.
 */
export type RedisTarget =
  | { kind: 'single'; url: string }
  | ({ kind: 'sentinel'; sentinels: HostPort[]; masterName: string; db: number; sentinelPassword?: string } & Credentials)
  | ({ kind: 'cluster'; nodes: HostPort[] } & Credentials);

const FORMS =
  'use redis://host:port for one server, redis+sentinel://host:port,host:port/master-name for Sentinel, or redis+cluster://host:port,host:port for a Redis Cluster (rediss… for TLS)';

/** Reads REDIS_URL; throws an Error whose message says what is wrong and which forms work. */
export function parseRedisUrl(value: string): RedisTarget {
  const match = /^(rediss?)(?:\+(sentinel|cluster))?:\/\/(?:([^@/]*)@)?([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?$/i.exec(value.trim());
  if (!match) throw new Error(`must be a Redis URL: ${FORMS}`);
  const [, scheme = 'redis', mode, userinfo, hostList = '', path = '', query = ''] = match;
  const tls = scheme.toLowerCase() === 'rediss';
  const defaultPort = mode?.toLowerCase() === 'sentinel' ? 26379 : 6379;
  const hosts = hostList.split(',').map((part) => parseHostPort(part, defaultPort));
  if (hosts.length === 0 || hosts.some((h) => h === undefined)) throw new Error(`has a host list that is not host:port[,host:port…]: ${FORMS}`);
  const addresses = hosts as HostPort[];

  if (!mode) {
    if (addresses.length > 1) throw new Error(`lists several hosts: ${FORMS}`);
    return { kind: 'single', url: value.trim() };
  }
  const credentials = { ...parseUserinfo(userinfo), tls };
  const params = new URLSearchParams(query);
  if (mode.toLowerCase() === 'cluster') {
    if (path !== '' && path !== '/') throw new Error('must not name a database on a Redis Cluster (it has only database 0)');
    return { kind: 'cluster', nodes: addresses, ...credentials };
  }
  const [masterName, db = '0', ...rest] = path.split('/').slice(1).map(decodeURIComponent);
  if (!masterName) throw new Error(`must name the Sentinel master after the hosts, e.g. redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster`);
  if (rest.length > 0 || !/^\d+$/.test(db)) throw new Error('must end with /master-name or /master-name/db-number');
  const sentinelPassword = params.get('sentinelPassword') ?? undefined;
  return { kind: 'sentinel', sentinels: addresses, masterName, db: Number(db), ...credentials, ...(sentinelPassword ? { sentinelPassword } : {}) };
}

function parseHostPort(part: string, defaultPort: number): HostPort | undefined {
  const match = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/i.exec(part.trim());
  if (!match) return undefined;
  const port = match[2] ? Number(match[2]) : defaultPort;
  if (port < 1 || port > 65535) return undefined;
  return { host: (match[1] as string).replace(/^\[|\]$/g, ''), port };
}

function parseUserinfo(userinfo: string | undefined): { username?: string; password?: string } {
  if (!userinfo) return {};
  const colon = userinfo.indexOf(':');
  const username = decodeURIComponent(colon < 0 ? userinfo : userinfo.slice(0, colon));
  const password = colon < 0 ? undefined : decodeURIComponent(userinfo.slice(colon + 1));
  return { ...(username ? { username } : {}), ...(password ? { password } : {}) };
}

/** Whether a key prefix holds a non-empty `{hash tag}`, which Redis Cluster hashes instead of the whole key. */
export function hasHashTag(prefix: string): boolean {
  const open = prefix.indexOf('{');
  if (open < 0) return false;
  const close = prefix.indexOf('}', open + 1);
  return close > open + 1;
}

/**
 * The prefix the queues really use. On a Redis Cluster every key of a BullMQ queue must hash to
 * one slot, so a prefix without a hash tag is wrapped in one (`reminders` → `{reminders}`);
 * elsewhere it is used as given, so existing single-server deployments keep their keys.
 */
export function effectiveQueuePrefix(prefix: string, target: RedisTarget): string {
  return target.kind === 'cluster' && !hasHashTag(prefix) ? `{${prefix}}` : prefix;
}
