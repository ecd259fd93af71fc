import { type App, createApp } from '../app';
import { loadConfig, secretsOf } from '../config';
import { createLogger } from '../logger';
import { checkPostgres, checkRedis, checkSmtp } from '../service-checks';

export type Service = 'postgres' | 'redis' | 'smtp';

/**
 * Runs a command with a fresh App and always releases it, also when the command throws. The
 * services it `needs` are checked first, so an unreachable one is one clear sentence, not a hang.
 */
export async function withApp<T>(run: (app: App) => Promise<T>, options: { logTo?: 1 | 2; needs?: Service[] } = {}): Promise<T> {
  const config = loadConfig();
  const app = createApp(config, { logger: createLogger(config.logLevel, options.logTo ?? 2, secretsOf(config)) });
  try {
    const needs = options.needs ?? ['postgres'];
    if (needs.includes('postgres')) await checkPostgres(app.db, config.databaseUrl);
    if (needs.includes('redis')) await checkRedis(app.redis(), config.redisUrl);
    if (needs.includes('smtp')) await checkSmtp(app.mailer(), config.smtpUrl);
    return await run(app);
  } finally {
    await app.close();
  }
}
