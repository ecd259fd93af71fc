import type { App } from '../src/app';
import { type SendJobResult, runSendJob } from '../src/delivery/send-job';
import { SEND_JOB, type SendJobData, sendJobPayload } from '../src/delivery/send-job-payload';
import type { JobDefinition } from '../src/queue/job-definition';
import { SEND_QUEUE } from '../src/queue/queues';

/** Sends the emails of one group of ledger rows (one recipient, kind, offset and scan date). */
export const sendReminderJob: JobDefinition<SendJobData, SendJobResult, App> = {
  queue: SEND_QUEUE,
  name: SEND_JOB,
  payload: sendJobPayload,
  process: (payload, { app, attempt, actor, jobId }) =>
    runSendJob(
      { db: app.db, mailer: app.mailer(), renderer: app.renderer(), config: app.config, logger: app.logger },
      payload,
      { attempt, actor, jobId },
    ),
};
