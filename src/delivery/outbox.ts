import { randomBytes } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import type { Config } from '../config';
import type { Database } from '../db/types';
import type { Logger } from '../logger';
import { SEND_JOB, type SendJobData } from './send-job-payload';
import { pendingGroups, settleExpiredLeases } from './ledger-sql';

/** Name of the back-off a send job asks for: the worker computes it from its own settings. */
export const SEND_BACKOFF = 'send-backoff';

/**
 * Tries of one send job. Not the attempt budget (that is each ledger row's, SEND_ATTEMPTS, decided
 * by the worker): tries that fail before any row is tried (database down) or that never reach
 * the SMTP server count only here. With the default back-off (capped at a minute) a job gives up
 * after about 20 minutes of outage; its rows stay pending and the outbox queues a new one.
 */
export const SEND_JOB_TRIES = 25;

/**
 * Retry and retention policy for sends. Nothing in it comes from the configuration of the process
 * that queues the job: the worker's settings rule its sends. Removed jobs are harmless: the
 * ledger is the guarantee.
 */
export function sendJobOptions() {
  return {
    attempts: SEND_JOB_TRIES,
    backoff: { type: SEND_BACKOFF },
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
export async function enqueueGroups(queue: Queue, groups: ReadonlyArray<{ groupKey: string; ledgerIds: string[] }>): Promise<number> {
  const options = sendJobOptions();
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

export interface OutboxDeps {
  db: Kysely<Database>;
  sendQueue: Queue;
  config: Pick<Config, 'sendLeaseMs' | 'sendReplayGraceMs'>;
  logger: Logger;
}

export interface OutboxPass {
  /** Pending groups offered to the queue (those with a live job were left as they were). */
  groups: number;
  /** Rows of expired leases made `unknown` (they may have reached SMTP). */
  swept: string[];
  /** Rows of expired leases put back to pending (they never reached SMTP). */
  requeued: string[];
}

/**
 * Settles expired leases (see settleExpiredLeases) and gives the groups of rows put back to
 * pending a job at once. Logged: `unknown` rows need an operator's decision.
 */
export async function settleLeases(deps: OutboxDeps, actor: string): Promise<{ swept: string[]; requeued: string[] }> {
  const settled = await settleExpiredLeases(deps.db, actor, leaseSettingsOf(deps.config));
  const swept = settled.unknown.map((r) => r.id);
  const requeued = settled.pending.map((r) => r.id);
  if (swept.length > 0) {
    deps.logger.warn(
      { event: 'sweep', ledgerIds: swept },
      `${swept.length} reminder(s) were handed to SMTP by an attempt whose lease expired before it recorded the outcome; marked unknown: check delivery, then replay`,
    );
  }
  if (requeued.length > 0) {
    deps.logger.info({ event: 'sweep', ledgerIds: requeued }, `${requeued.length} reminder(s) of an attempt whose lease expired before the hand-over: back to pending, sending them`);
    const groups = new Map<string, string[]>();
    for (const row of settled.pending) groups.set(row.group_key, [...(groups.get(row.group_key) ?? []), row.id]);
    await enqueueGroups(deps.sendQueue, [...groups].map(([groupKey, ledgerIds]) => ({ groupKey, ledgerIds })));
  }
  return { swept, requeued };
}

const leaseSettingsOf = (config: Pick<Config, 'sendLeaseMs' | 'sendReplayGraceMs'>) => ({ leaseMs: config.sendLeaseMs, replayGraceMs: config.sendReplayGraceMs });

/**
 * The ledger is the outbox: one pass settles expired leases and gives every pending group a live
 * job. Any number of processes may run it at once.
 */
export async function reconcileOutbox(deps: OutboxDeps, actor: string): Promise<OutboxPass> {
  const { swept, requeued } = await settleLeases(deps, actor);
  const groups = await pendingGroups(deps.db);
  await enqueueGroups(deps.sendQueue, groups);
  return { groups: groups.length, swept, requeued };
}

/**
 * Runs `work` every `intervalMs` (and once at once) until stopped, one run at a time. A failing
 * run is reported to `onError` (`first`: the first of a run of identical errors); the first
 * success after failures calls `onRecovered`.
 */
export function startLoop(
  work: () => Promise<unknown>,
  intervalMs: number,
  hooks: { onError?: (error: unknown, first: boolean) => void; onDone?: (result: unknown) => void; onRecovered?: () => void | Promise<void> },
): () => Promise<void> {
  let running: Promise<void> | null = null;
  let lastError = '';
  const tick = () => {
    if (running) return;
    running = work()
      .then(async (result) => {
        const recovered = lastError !== '';
        lastError = '';
        hooks.onDone?.(result);
        if (recovered) await hooks.onRecovered?.();
      })
      .catch((error: unknown) => {
        const message = (error as Error).message;
        hooks.onError?.(error, message !== lastError);
        lastError = message;
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

/**
 * Runs `reconcileOutbox` every `intervalMs` until stopped, riding out outages: a pass that fails
 * (PostgreSQL or Redis down) is logged once per distinct error and tried again next time.
 */
export function startOutboxLoop(
  deps: OutboxDeps,
  actor: string,
  intervalMs: number,
  onPass?: (pass: OutboxPass | Error) => void,
  onRecovered?: () => void | Promise<void>,
): () => Promise<void> {
  return startLoop(() => reconcileOutbox(deps, actor), intervalMs, {
    onDone: (pass) => onPass?.(pass as OutboxPass),
    onError: (error, first) => {
      if (first) deps.logger.warn({ event: 'outbox', err: error }, 'outbox pass failed; will try again');
      onPass?.(error as Error);
    },
    onRecovered: async () => {
      deps.logger.info({ event: 'outbox' }, 'outbox pass succeeded again');
      await onRecovered?.();
    },
  });
}
