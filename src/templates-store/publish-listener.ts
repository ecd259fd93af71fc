import pg from 'pg';
import type { Logger } from '../logger';
import { PUBLISH_CHANNEL } from './store';

/**
 * LISTENs for published templates on a connection of its own, so a worker picks a publish up at
 * once. Best effort: through PgBouncer in transaction mode a LISTEN hears nothing, and a lost
 * connection is retried after `retryMs`; the renderer's poll is the guarantee either way.
 */
export function listenForPublishes(url: string, logger: Logger, onPublish: () => void, retryMs: number): () => Promise<void> {
  let client: pg.Client | null = null;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  const retry = () => {
    if (stopped || timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      void connect();
    }, retryMs);
    timer.unref();
  };

  const connect = async () => {
    const next = new pg.Client({ connectionString: url });
    client = next;
    next.on('error', (error) => {
      logger.debug({ err: error }, 'template publish listener lost its connection: polling meanwhile');
      retry();
    });
    next.on('end', retry);
    next.on('notification', (message) => {
      if (message.channel === PUBLISH_CHANNEL) onPublish();
    });
    try {
      await next.connect();
      await next.query(`LISTEN ${PUBLISH_CHANNEL}`);
      // Anything published while this was not listening is read now.
      onPublish();
    } catch (error) {
      logger.debug({ err: error }, 'template publish listener could not connect: polling meanwhile');
      next.end().catch(() => undefined);
      retry();
    }
  };

  void connect();
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await client?.end().catch(() => undefined);
  };
}
