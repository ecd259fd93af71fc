import type { Queue } from 'bullmq';
import type { Config } from '../config';

/** Job name and payload of a send: the ledger rows of one email. The ledger holds the rest. */
export const SEND_JOB = 'send-reminder';

export interface SendJobData {
  ledgerIds: string[];
}

/** Retry and retention policy for sends. Removed jobs are harmless: the ledger is the guarantee. */
export function sendJobOptions(config: Pick<Config, 'sendAttempts' | 'sendBackoffMs'>) {
  return {
    attempts: config.sendAttempts,
    backoff: { type: 'exponential', delay: config.sendBackoffMs },
    removeOnComplete: { age: 7 * 24 * 3600, count: 50_000 },
    removeOnFail: { age: 30 * 24 * 3600 },
  } as const;
}

/**
 * Adds one job per group under its deterministic id: a job still in Redis with that id
 * (waiting, delayed, active, kept after completion) makes the add a no-op.
 */
export async function enqueueSends(
  queue: Queue,
  config: Pick<Config, 'sendAttempts' | 'sendBackoffMs'>,
  groups: Array<{ groupKey: string; ledgerIds: string[] }>,
): Promise<void> {
  const options = sendJobOptions(config);
  for (let i = 0; i < groups.length; i += 500) {
    await queue.addBulk(
      groups.slice(i, i + 500).map((group) => ({
        name: SEND_JOB,
        data: { ledgerIds: group.ledgerIds } satisfies SendJobData,
        opts: { ...options, jobId: group.groupKey },
      })),
    );
  }
}
