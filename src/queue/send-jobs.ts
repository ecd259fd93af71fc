import type { Queue } from 'bullmq';
import type { Config } from '../config';

/** Job name and payload of a send: the ledger rows of one email. The ledger holds the rest. */
export const SEND_JOB = 'send-reminder';

export interface SendJobData {
  ledgerIds: string[];
  /** The ledger group: pending rows recorded into it after the job was queued are sent with it. */
  groupKey?: string;
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
 * Adds one job per group of pending rows under its deterministic id. A job waiting, delayed or
 * running under that id makes the add a no-op. One that already finished (completed or failed,
 * kept for the dashboard) while rows of its group are still pending, say a row recorded after it
 * ran, or a job that failed for good while PostgreSQL was down, is replaced: otherwise the row
 * would wait until the finished job expires. The ledger's claim keeps a replacement harmless.
 */
export async function enqueueSends(
  queue: Queue,
  config: Pick<Config, 'sendAttempts' | 'sendBackoffMs'>,
  groups: Array<{ groupKey: string; ledgerIds: string[] }>,
): Promise<void> {
  const options = sendJobOptions(config);
  for (let i = 0; i < groups.length; i += 500) {
    const chunk = groups.slice(i, i + 500);
    const existing = await Promise.all(chunk.map((group) => queue.getJob(group.groupKey)));
    await Promise.all(
      existing.map(async (job) => {
        const state = job ? await job.getState().catch(() => 'unknown') : 'unknown';
        if (job && (state === 'completed' || state === 'failed')) await job.remove().catch(() => undefined);
      }),
    );
    await queue.addBulk(
      chunk.map((group) => ({
        name: SEND_JOB,
        data: { ledgerIds: group.ledgerIds, groupKey: group.groupKey } satisfies SendJobData,
        opts: { ...options, jobId: group.groupKey },
      })),
    );
  }
}
