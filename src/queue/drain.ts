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
