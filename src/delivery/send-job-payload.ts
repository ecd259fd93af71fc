import { z } from 'zod';

/** Job name of a send: the ledger rows of one email group. The ledger holds the rest. */
export const SEND_JOB = 'send-reminder';

/**
 * A send job's payload, validated before anything runs: a job put on the queue by hand with a
 * malformed payload fails with this schema's message and is never retried.
 */
export const sendJobPayload = z.object({
  /** Rows the job was queued with (a dashboard retry reopens the failed ones among them). */
  ledgerIds: z.array(z.string().regex(/^\d{1,19}$/, 'must be ledger ids (digits)')).max(100_000),
  /** The ledger group: every pending row of it is sent, in emails of at most MAX_ITEMS_PER_EMAIL items. */
  groupKey: z.string().regex(/^[A-Za-z0-9._~-]{1,200}$/, 'must be a ledger group key'),
});

export type SendJobData = z.infer<typeof sendJobPayload>;
