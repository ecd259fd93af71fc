import { ConfigError, loadConfig } from '../../src/config';
import { effectiveQueuePrefix, hasHashTag, parseRedisUrl } from '../../src/redis-url';
import { isConnectionLoss } from '../../src/db/connection-errors';

describe('REDIS_URL forms', () => {
  it('keeps a one-server URL as ioredis reads it', () => {
    expect(parseRedisUrl('rediss://:secret@cache.internal:6380/2')).toEqual({ kind: 'single', url: 'rediss://:secret@cache.internal:6380/2' });
  });

  it('reads sentinels, the master name, the database and both passwords', () => {
    expect(parseRedisUrl('redis+sentinel://app:p%40ss@10.0.0.1,10.0.0.2:26380/main-master/3?sentinelPassword=s3')).toEqual({
      kind: 'sentinel',
      sentinels: [
        { host: '10.0.0.1', port: 26379 },
        { host: '10.0.0.2', port: 26380 },
      ],
      masterName: 'main-master',
      db: 3,
      username: 'app',
      password: 'p@ss',
      sentinelPassword: 's3',
      tls: false,
    });
  });

  it('reads cluster seed nodes, IPv6 included, and TLS from rediss', () => {
    expect(parseRedisUrl('rediss+cluster://:pw@[::1]:7000,node-b:7001')).toEqual({
      kind: 'cluster',
      nodes: [
        { host: '::1', port: 7000 },
        { host: 'node-b', port: 7001 },
      ],
      password: 'pw',
      tls: true,
    });
  });

  it.each([
    ['redis://a:6379,b:6379', /lists several hosts.*redis\+cluster/],
    ['redis+sentinel://a:26379,b:26379', /must name the Sentinel master/],
    ['redis+cluster://a:7000/1', /must not name a database/],
    ['redis+cluster://a:99999', /host list/],
    ['http://cache', /must be a Redis URL/],
  ])('refuses %s with a sentence that says what works', (value, message) => {
    expect(() => parseRedisUrl(value)).toThrow(message);
    expect(() => loadConfig({ REDIS_URL: value })).toThrow(ConfigError);
  });
});

describe('queue prefix on a cluster', () => {
  it('wraps a prefix without a hash tag, and only on a cluster', () => {
    const cluster = parseRedisUrl('redis+cluster://127.0.0.1:7000');
    expect(effectiveQueuePrefix('reminders', cluster)).toBe('{reminders}');
    expect(effectiveQueuePrefix('prod-{reminders}', cluster)).toBe('prod-{reminders}');
    expect(effectiveQueuePrefix('reminders', parseRedisUrl('redis://127.0.0.1:6379'))).toBe('reminders');
    expect(hasHashTag('a{}b')).toBe(false);
    expect(loadConfig({ REDIS_URL: 'redis+cluster://127.0.0.1:7000', QUEUE_PREFIX: 'prod' }).queuePrefix).toBe('{prod}');
  });
});

describe('database connection loss', () => {
  it.each([
    [{ code: 'ECONNREFUSED' }, true],
    [{ code: '57P01', message: 'terminating connection due to administrator command' }, true],
    [{ code: '57P03', message: 'the database system is starting up' }, true],
    [{ code: '08006' }, true],
    [new Error('Connection terminated unexpectedly'), true],
    [{ code: '23505', message: 'duplicate key value violates unique constraint' }, false],
    [{ code: '42P01', message: 'relation "x" does not exist' }, false],
  ])('tells %j apart (%s)', (error, expected) => {
    expect(isConnectionLoss(error)).toBe(expected);
  });
});
