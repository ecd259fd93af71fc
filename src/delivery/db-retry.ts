/** How a database write is retried on its own, after the SMTP hand-over. */
export interface WriteRetryPolicy {
  attempts: number;
  firstDelayMs: number;
  maxDelayMs: number;
}

/** About 20 s in all: longer than a PostgreSQL restart or failover usually takes. */
export const RECORD_RETRY: WriteRetryPolicy = { attempts: 9, firstDelayMs: 100, maxDelayMs: 5000 };

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `write` until it resolves or the attempts run out, with exponential back-off, and rejects
 * with the last error. `onError` hears each failure (for the log). Only for idempotent writes:
 * every ledger transition is guarded by its expected status and claim token, so it is one.
 */
export async function retryWrite<T>(write: () => Promise<T>, policy: WriteRetryPolicy, onError: (error: unknown, attempt: number) => void): Promise<T> {
  let delay = policy.firstDelayMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (error) {
      onError(error, attempt);
      if (attempt >= policy.attempts) throw error;
      await sleep(delay);
      delay = Math.min(policy.maxDelayMs, delay * 2);
    }
  }
}
