import { type App, createApp } from '../app';
import { loadConfig } from '../config';
import { requireSchema } from '../db/migrate';
import { checkPostgres, checkRedis, checkSmtp } from '../service-checks';

export type Service = 'postgres' | 'redis' | 'smtp';

export interface WithAppOptions {
  /** Services checked before the command runs (default: PostgreSQL alone). */
  needs?: Service[];
  /**
   * Whether the command needs this release's tables (default: yes, whenever it needs PostgreSQL):
   * on a database that is not migrated it stops with one line saying to run `reminders migrate`.
   */
  schema?: boolean;
}

/**
 * Runs a command with a fresh App and always releases it, also when the command throws. The
 * services it `needs` are checked first, so an unreachable one is one clear sentence, not a hang,
 * and so is a database that has not been migrated.
 */
export async function withApp<T>(run: (app: App) => Promise<T>, options: WithAppOptions = {}): Promise<T> {
  const config = loadConfig();
  const app = createApp(config);
  try {
    const needs = options.needs ?? ['postgres'];
    if (needs.includes('postgres')) {
      await checkPostgres(app.db, config.databaseUrl);
      if (options.schema !== false) await requireSchema(app.db, config.databaseUrl);
    }
    if (needs.includes('redis')) await checkRedis(app.redis(), config.redisUrl);
    if (needs.includes('smtp')) await checkSmtp(app.mailer(), config.smtpUrl);
    return await run(app);
  } finally {
    await app.close();
  }
}
