import type { Queue } from 'bullmq';

/** Resolves once the queue holds nothing waiting, running or delayed for a retry (seen twice in a row). */
export async function waitUntilDrained(queue: Queue, pollMs = 200, signal?: AbortSignal): Promise<void> {
  let idleChecks = 0;
  while (!signal?.aborted) {
    // The queue's connection fails fast while Redis is away (a failover): that is not "drained".
    const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children').catch(() => ({ unreachable: 1 }));
    const busy = Object.values(counts).reduce((sum, n) => sum + n, 0);
    idleChecks = busy === 0 ? idleChecks + 1 : 0;
    if (idleChecks >= 2) return;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** What a draining worker is waiting for, when nothing can run right now. */
export interface DrainWait {
  /** Send jobs delayed for a retry after a transient failure. */
  delayed: number;
  /** When the earliest of them is due (estimated from its last attempt and the back-off). */
  nextRetryAt: Date | null;
  /** That job's last error, e.g. "connect ECONNREFUSED 127.0.0.1:2525" or a 4xx reply. */
  lastError: string | null;
  /** That job's attempts so far, and how many it may make. */
  attemptsMade: number;
  attempts: number;
}

export interface DrainOptions {
  pollMs?: number;
  signal?: AbortSignal;
  /** Stop waiting at this time (epoch ms) even if retries are still delayed. */
  deadline?: number;
  /** Called on each poll while only delayed retries are left. */
  onWaiting?: (wait: DrainWait) => void;
  /** The worker's back-off for jobs that ask for a custom one (`type` → delay after n tries). */
  backoff?: { type: string; delayMs: (triesMade: number) => number };
}

/**
 * Like waitUntilDrained, but tells its caller what it waits for and gives up at `deadline`.
 * Resolves with how it ended: `drained`, `deadline` or `aborted`.
 */
export async function drainQueue(queue: Queue, options: DrainOptions = {}): Promise<'drained' | 'deadline' | 'aborted'> {
  const pollMs = options.pollMs ?? 200;
  let idleChecks = 0;
  while (!options.signal?.aborted) {
    // Redis away (a failover, a restart): not drained, not an error either; wait for it.
    const counts: Record<string, number> = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children').catch(() => ({ unreachable: 1 }));
    const busy = Object.values(counts).reduce((sum, n) => sum + n, 0);
    idleChecks = busy === 0 ? idleChecks + 1 : 0;
    if (idleChecks >= 2) return 'drained';
    if (options.deadline !== undefined && Date.now() >= options.deadline) return 'deadline';
    if (busy > 0 && busy === counts.delayed && options.onWaiting) {
      const wait = await delayedRetries(queue, counts.delayed ?? 0, options.backoff).catch(() => null);
      if (wait) options.onWaiting(wait);
    }
    const untilDeadline = options.deadline === undefined ? pollMs : Math.max(0, Math.min(pollMs, options.deadline - Date.now()));
    await new Promise((resolve) => setTimeout(resolve, untilDeadline));
  }
  return 'aborted';
}

async function delayedRetries(queue: Queue, delayed: number, custom?: DrainOptions['backoff']): Promise<DrainWait> {
  const jobs = await queue.getDelayed(0, 49);
  let next: DrainWait = { delayed, nextRetryAt: null, lastError: null, attemptsMade: 0, attempts: 0 };
  for (const job of jobs) {
    const backoff = job.opts.backoff;
    const base = typeof backoff === 'number' ? backoff : (backoff?.delay ?? 0);
    const exponential = typeof backoff === 'object' && backoff?.type === 'exponential';
    const wait =
      typeof backoff === 'object' && custom && backoff.type === custom.type
        ? custom.delayMs(job.attemptsMade)
        : exponential
          ? base * 2 ** Math.max(0, job.attemptsMade - 1)
          : base;
    const at = new Date((job.processedOn ?? job.timestamp) + (job.attemptsMade > 0 ? wait : (job.delay ?? 0)));
    if (!next.nextRetryAt || at < next.nextRetryAt) {
      next = { delayed, nextRetryAt: at, lastError: job.failedReason || null, attemptsMade: job.attemptsMade, attempts: job.opts.attempts ?? 1 };
    }
  }
  return next;
}
