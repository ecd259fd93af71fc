import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { App } from '../app';
import { webhookRoutes } from '../bounces/webhook-routes';
import type { HttpsGet } from '../bounces/sns';
import { type Config, ConfigError } from '../config';
import { adminAuth } from './admin-auth';
import { DASHBOARD_PATH, dashboardHandler } from './dashboard';
import { checkHealth } from './health';
import { createMetrics } from './metrics';
import { unsubscribeRoutes } from './unsubscribe-routes';

export interface HttpServer {
  url: string;
  close(): Promise<void>;
}

/** Whether a listen address is reachable from this host only. */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h) || /^::ffff:127(\.\d{1,3}){3}$/.test(h);
}

/**
 * The console and the dashboard (write access to Redis) sit behind the console's sign-in:
 * listening beyond loopback while no console account exists is a configuration error, refused
 * before anything starts. `consoleAccounts` is the number of accounts in PostgreSQL.
 */
export function assertSafeHttpExposure(config: Pick<Config, 'httpHost'>, consoleAccounts: number): void {
  if (!isLoopbackHost(config.httpHost) && consoleAccounts === 0) {
    throw new ConfigError(
      `HTTP_HOST=${config.httpHost} is not a loopback address and no console account exists: add one first (\`reminders users add NAME --role admin\`, password on standard input), set HTTP_HOST=127.0.0.1, or start with --no-http`,
    );
  }
}

export interface HttpOptions {
  /** How long /healthz and /metrics wait for PostgreSQL or Redis before calling it down. */
  probeTimeoutMs?: number;
  /** Fetches Amazon SNS signing certificates (tests serve their own; production: HTTPS to SNS hosts only). */
  snsGet?: HttpsGet;
  /** The operations console: its routes under /console, and the guard it puts on the dashboard. */
  console?: { path: string; router: RequestHandler; dashboardGuard: RequestHandler };
}

/** The daemon's HTTP app: health, metrics, one-click unsubscribe, bounce webhooks and the queue dashboard. */
export function createHttpApp(app: App, options: HttpOptions = {}): express.Express {
  const http = express();
  http.disable('x-powered-by');
  const probeTimeoutMs = options.probeTimeoutMs ?? 3000;
  const metrics = createMetrics(app, probeTimeoutMs);

  http.get('/healthz', async (_req, res) => {
    const report = await checkHealth(app, probeTimeoutMs);
    res.status(report.status === 'error' ? 503 : 200).set('Cache-Control', 'no-store').json(report);
  });
  http.get('/metrics', async (_req, res) => {
    const body = await metrics.scrape();
    res.set('Content-Type', metrics.registry.contentType).send(body);
  });
  http.use(unsubscribeRoutes(app));
  // Bounce and complaint receivers: each verifies its vendor's signature on the raw body.
  http.use('/webhooks', webhookRoutes(app, { snsGet: options.snsGet }));
  if (options.console) {
    http.get('/', (_req, res) => res.redirect(303, options.console?.path ?? '/'));
    http.use(options.console.path, options.console.router);
    http.use(DASHBOARD_PATH, options.console.dashboardGuard, dashboardHandler(app));
  } else {
    http.use(DASHBOARD_PATH, adminAuth(app.config.adminToken, DASHBOARD_PATH), dashboardHandler(app));
  }

  http.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    app.logger.error({ err: error, method: req.method, path: req.path }, 'http request failed');
    if (!res.headersSent) res.status(500).type('text/plain').send('Internal error; see the service log.\n');
  });
  return http;
}

/**
 * Listens on HTTP_HOST:HTTP_PORT (0 picks a free port) and logs the URL. `close()` stops
 * accepting, lets requests in flight finish for a moment, then drops what is left.
 */
export async function startHttpServer(app: App, options: HttpOptions = {}): Promise<HttpServer> {
  const { httpHost, httpPort } = app.config;
  const server = createServer(createHttpApp(app, options));
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') reject(new ConfigError(`HTTP_PORT ${httpPort} is already in use on ${httpHost}: stop the other process, or set HTTP_PORT (0 picks a free port)`));
      else if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND') reject(new ConfigError(`HTTP_HOST ${httpHost} is not an address of this host (${error.code})`));
      else reject(error);
    };
    server.once('error', onError);
    server.listen(httpPort, httpHost, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${httpHost.includes(':') ? `[${httpHost}]` : httpHost}:${port}`;
  const dashboard = options.console || app.config.adminToken ? `${url}${DASHBOARD_PATH}` : 'disabled (no ADMIN_TOKEN)';
  const consoleUrl = options.console ? `${url}${options.console.path}` : undefined;
  app.logger.info({ url, console: consoleUrl, healthz: `${url}/healthz`, metrics: `${url}/metrics`, dashboard }, `http server listening on ${url}`);

  let closing: Promise<void> | undefined;
  return {
    url,
    close() {
      closing ??= new Promise<void>((resolve) => {
        const force = setTimeout(() => server.closeAllConnections(), 2000);
        force.unref();
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
