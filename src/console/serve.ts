import type { App } from '../app';
import { assertSafeHttpExposure, type HttpServer, startHttpServer } from '../ops/http-server';
import { CONSOLE_PATH, consoleRoutes } from './router';
import { countUsers } from './users';

/** Refuses a non-loopback HTTP_HOST while no console account exists, before anything starts. */
export async function assertConsoleExposure(app: App): Promise<void> {
  assertSafeHttpExposure(app.config, await countUsers(app.db));
}

/**
 * The daemon's HTTP server with the console at /console (health, metrics, unsubscribe and the
 * dashboard as before): what `reminders start` serves, and `reminders console` alone.
 */
export async function startConsoleHttpServer(app: App, options: { probeTimeoutMs?: number } = {}): Promise<HttpServer> {
  await assertConsoleExposure(app);
  const { router, dashboardGuard } = consoleRoutes(app);
  return startHttpServer(app, { ...options, console: { path: CONSOLE_PATH, router, dashboardGuard } });
}
