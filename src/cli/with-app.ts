import { type App, createApp } from '../app';
import { loadConfig } from '../config';
import { createLogger } from '../logger';

/** Runs a command with a fresh App and always releases it, also when the command throws. */
export async function withApp<T>(run: (app: App) => Promise<T>, options: { logTo?: 1 | 2 } = {}): Promise<T> {
  const config = loadConfig();
  const app = createApp(config, { logger: createLogger(config.logLevel, options.logTo ?? 2) });
  try {
    return await run(app);
  } finally {
    await app.close();
  }
}
