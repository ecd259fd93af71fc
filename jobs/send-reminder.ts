import type { JobDefinition } from '../src/queue/job-definition';
import { SEND_QUEUE } from '../src/queue/queues';
import { SEND_JOB, type SendJobData } from '../src/queue/send-jobs';
import { sendGroup, type SendGroupResult } from '../src/send/send-group';

/** Sends the email for one group of ledger rows (one recipient, kind, offset and scan date). */
export const sendReminderJob: JobDefinition<SendJobData, SendGroupResult> = {
  queue: SEND_QUEUE,
  name: SEND_JOB,
  process: (payload, { app, attempt, maxAttempts, actor }) =>
    sendGroup(
      { db: app.db, mailer: app.mailer(), renderer: app.renderer(), config: app.config, logger: app.logger },
      { ledgerIds: payload.ledgerIds, groupKey: payload.groupKey },
      { attempt, maxAttempts, actor },
    ),
};
