import { randomBytes } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import { type Kysely, sql } from 'kysely';
import type { Config } from '../config';
import type { Database } from '../db/types';
import type { Logger } from '../logger';
import { SEND_JOB, type SendJobData } from './send-job-payload';
import { sweepStaleClaims } from './transitions';

/** Retry and retention policy for sends. Removed jobs are harmless: the ledger is the guarantee. */
export function sendJobOptions(config: Pick<Config, 'sendAttempts' | 'sendBackoffMs'>) {
  return {
    attempts: config.sendAttempts,
    backoff: { type: 'exponential', delay: config.sendBackoffMs },
    removeOnComplete: { age: 7 * 24 * 3600, count: 50_000 },
    removeOnFail: { age: 30 * 24 * 3600 },
  } as const;
}

/** A group's job id: the group key and a fresh suffix, so a finished job never blocks a new one. */
export const sendJobId = (groupKey: string) => `${groupKey}~${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;

/**
 * Makes sure each group has one live send job. BullMQ's deduplication key (one per group, held
 * from the add until the job completes or fails, and dropped with the job) makes the check and
 * the add one Redis step: a group whose job is waiting, delayed for a retry or running gets no
 * second one, and a group whose job finished, was removed by hand or was lost with a flushed
 * Redis gets a new one. Per batch of 500 groups: one pipelined round trip asks which keys exist,
 * and only the groups without one go through the add script (which checks the key again), so a
 * pass over groups that already have their job costs an EXISTS each, not a script run each.
 * Returns how many groups were offered to the add.
 */
export async function enqueueGroups(
  queue: Queue,
  config: Pick<Config, 'sendAttempts' | 'sendBackoffMs'>,
  groups: ReadonlyArray<{ groupKey: string; ledgerIds: string[] }>,
): Promise<number> {
  const options = sendJobOptions(config);
  // The queue's own ioredis connection (BullMQ's typings only name the commands it uses itself).
  const client = (await queue.getBackend().client) as unknown as Redis | Cluster;
  let offered = 0;
  for (let i = 0; i < groups.length; i += 500) {
    const batch = groups.slice(i, i + 500);
    const pipeline = client.pipeline();
    for (const group of batch) pipeline.exists(`${queue.keys.de}:${group.groupKey}`);
    const replies = (await pipeline.exec()) ?? [];
    // A failed reply counts as "no job": the add script decides then.
    const missing = batch.filter((_, j) => replies[j]?.[0] || replies[j]?.[1] !== 1);
    if (missing.length === 0) continue;
    offered += missing.length;
    await queue.addBulk(
      missing.map((group) => ({
        name: SEND_JOB,
        data: { ledgerIds: group.ledgerIds, groupKey: group.groupKey } satisfies SendJobData,
        opts: { ...options, jobId: sendJobId(group.groupKey), deduplication: { id: group.groupKey } },
      })),
    );
  }
  return offered;
}

/** Pending rows by group: what the send queue must hold a job for. */
export async function pendingGroups(db: Kysely<Database>): Promise<Array<{ groupKey: string; ledgerIds: string[] }>> {
  const rows = await db
    .selectFrom('reminder_ledger')
    .select(['group_key', sql<string[]>`array_agg(id order by id)`.as('ids')])
    .where('status', '=', 'pending')
    .groupBy('group_key')
    .orderBy('group_key')
    .execute();
  return rows.map((row) => ({ groupKey: row.group_key, ledgerIds: row.ids.map(String) }));
}

export interface OutboxDeps {
  db: Kysely<Database>;
  sendQueue: Queue;
  config: Pick<Config, 'sendAttempts' | 'sendBackoffMs' | 'sendClaimTimeoutMs'>;
  logger: Logger;
}

export interface OutboxPass {
  /** Pending groups offered to the queue (those with a live job were left as they were). */
  groups: number;
  /** Claims of dead attempts made `unknown`. */
  swept: string[];
}

/**
 * The ledger is the outbox: one pass makes stale claims `unknown` and gives every pending group a
 * live job. Any number of processes may run it at once.
 */
export async function reconcileOutbox(deps: OutboxDeps, actor: string): Promise<OutboxPass> {
  const swept = await sweepStaleClaims(deps.db, deps.config.sendClaimTimeoutMs, actor);
  if (swept.length > 0) {
    deps.logger.warn(
      { event: 'sweep', ledgerIds: swept },
      `${swept.length} reminder(s) were claimed by an attempt that stopped; marked unknown: check delivery, then replay`,
    );
  }
  const groups = await pendingGroups(deps.db);
  await enqueueGroups(deps.sendQueue, deps.config, groups);
  return { groups: groups.length, swept };
}

/**
 * Runs `reconcileOutbox` every `intervalMs` until stopped, riding out outages: a pass that fails
 * (PostgreSQL or Redis down) is logged once per distinct error and tried again next time.
 */
export function startOutboxLoop(deps: OutboxDeps, actor: string, intervalMs: number, onPass?: (pass: OutboxPass | Error) => void): () => Promise<void> {
  let running: Promise<void> | null = null;
  let lastError = '';
  const tick = () => {
    if (running) return;
    running = reconcileOutbox(deps, actor)
      .then((pass) => {
        if (lastError) deps.logger.info({ event: 'outbox' }, 'outbox pass succeeded again');
        lastError = '';
        onPass?.(pass);
      })
      .catch((error: unknown) => {
        const message = (error as Error).message;
        if (message !== lastError) deps.logger.warn({ event: 'outbox', err: error }, 'outbox pass failed; will try again');
        lastError = message;
        onPass?.(error as Error);
      })
      .finally(() => {
        running = null;
      });
  };
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  tick();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
