import { createBullBoard } from '@bull-board/api';
import type { IServerAdapter } from '@bull-board/api/typings/app';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { RequestHandler } from 'express';
import type { App } from '../app';

export const DASHBOARD_PATH = '/admin/queues';

/**
 * Bull Board for the send and scan queues. Its retry re-runs a job with the same ledger ids, and
 * the worker applies the ledger's rules to it (failed rows are re-sent once, sent and unknown
 * rows never), so the dashboard cannot send a reminder twice.
 */
export function dashboardHandler(app: App, basePath = DASHBOARD_PATH): RequestHandler {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(basePath);
  createBullBoard({
    queues: [
      new BullMQAdapter(app.sendQueue(), { description: 'one job per email; the delivery ledger decides what is sent' }),
      new BullMQAdapter(app.scanQueue(), { description: 'the daily scan (idempotent per business date)' }),
    ],
    // @bull-board/express pins its own patch release of @bull-board/api: the same interface at
    // run time, two declarations to the compiler.
    serverAdapter: serverAdapter as unknown as IServerAdapter,
    options: { uiConfig: { boardTitle: 'Renewal reminders' } },
  });
  return serverAdapter.getRouter() as RequestHandler;
}
