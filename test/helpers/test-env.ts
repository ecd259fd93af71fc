import { randomBytes } from 'node:crypto';
import path from 'node:path';
import IORedis from 'ioredis';
import pg from 'pg';
import { type App, createApp } from '../../src/app';
import { type Config, loadConfig } from '../../src/config';
import { migrateToLatest } from '../../src/db/migrate';
import { createLogger } from '../../src/logger';

const ADMIN_URL = process.env.TEST_ADMIN_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface TestEnv {
  app: App;
  config: Config;
  /** The variables a child process needs to share this database and queue prefix. */
  env: Record<string, string>;
  cleanup(): Promise<void>;
}

/**
 * A database and a queue prefix of the test file's own, migrated, removed by `cleanup()`;
 * files can then run in parallel against one PostgreSQL and one Redis.
 */
export async function createTestEnv(name: string, overrides: Record<string, string> = {}): Promise<TestEnv> {
  const suffix = randomBytes(4).toString('hex');
  const dbName = `rt_${name.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${suffix}`;
  await adminQuery(`create database ${dbName}`);
  const databaseUrl = new URL(ADMIN_URL);
  databaseUrl.pathname = `/${dbName}`;
  const env: Record<string, string> = {
    DATABASE_URL: databaseUrl.toString(),
    REDIS_URL,
    QUEUE_PREFIX: `test-${name}-${suffix}`,
    LOG_LEVEL: 'silent',
    TEMPLATES_DIR: path.resolve(__dirname, '../../templates'),
    OUTBOX_DIR: path.join(require('node:os').tmpdir(), `outbox-${dbName}`),
    SEND_BACKOFF_MS: '50',
    UNSUBSCRIBE_SECRET: 'test-secret',
    ...overrides,
  };
  const config = loadConfig(env);
  const app = createApp(config, { logger: createLogger('silent') });
  await migrateToLatest(app.db);
  return {
    app,
    config,
    env,
    async cleanup() {
      await app.close();
      await deleteQueueKeys(REDIS_URL, config.queuePrefix);
      await adminQuery(`drop database if exists ${dbName} with (force)`);
    },
  };
}

async function adminQuery(text: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** Removes every key under a queue prefix (BullMQ keys are `prefix:queue:…`). */
export async function deleteQueueKeys(redisUrl: string, prefix: string): Promise<void> {
  const redis = new IORedis(redisUrl);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** Polls `check` until it returns a value that is not undefined/false, or fails at the deadline. */
export async function waitFor<T>(check: () => Promise<T | undefined | false> | T | undefined | false, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
