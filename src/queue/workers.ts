import { hostname } from 'node:os';
import { type Job, UnrecoverableError, Worker } from 'bullmq';
import type { ConnectionOptions } from 'bullmq';
import type { Logger } from '../logger';
import { PermanentJobError } from '../permanent-error';
import type { JobDefinition } from './job-definition';

export interface WorkerOptions {
  concurrency?: number;
  limiter?: { max: number; duration: number };
  /** Lock duration; a job whose worker died is taken up again after about this long. */
  lockMs?: number;
  /** Delay before a job asking for a back-off of this `type` is tried again, after `triesMade` tries. */
  backoff?: { type: string; delayMs: (triesMade: number) => number };
}

/** What a worker needs of the composition root; the same object is handed to the jobs. */
export interface WorkerHost {
  redis(): ConnectionOptions;
  readonly config: { readonly queuePrefix: string };
  readonly logger: Logger;
}

/** Runs a job definition on its queue. Permanent failures become UnrecoverableError: no retry. */
export function startWorker<P, R, D extends WorkerHost>(app: D, definition: JobDefinition<P, R, D>, options: WorkerOptions = {}): Worker<P, R> {
  const actor = `worker ${hostname()}/${process.pid}`;
  const backoff = options.backoff;
  const worker = new Worker<P, R>(
    definition.queue,
    async (job: Job<P, R>) => {
      if (job.name !== definition.name) throw new UnrecoverableError(`unknown job name ${job.name} on queue ${definition.queue}`);
      let payload = job.data;
      if (definition.payload) {
        const parsed = definition.payload.safeParse(job.data);
        if (!parsed.success) {
          const why = parsed.error.issues.map((i) => `${i.path.join('.') || 'payload'} ${i.message}`).join('; ');
          app.logger.error({ queue: definition.queue, jobId: job.id, reason: why }, 'malformed job payload: failed without running');
          throw new UnrecoverableError(`malformed ${definition.name} payload: ${why}`);
        }
        payload = parsed.data;
      }
      try {
        return await definition.process(payload, {
          app,
          attempt: job.attemptsMade + 1,
          maxAttempts: job.opts.attempts ?? 1,
          scheduledFor: new Date(job.timestamp + (job.opts.delay ?? 0)),
          actor,
          jobId: job.id,
        });
      } catch (error) {
        if (error instanceof PermanentJobError) throw new UnrecoverableError(error.message);
        throw error;
      }
    },
    {
      connection: app.redis(),
      prefix: app.config.queuePrefix,
      concurrency: options.concurrency ?? 1,
      limiter: options.limiter,
      ...(options.lockMs ? { lockDuration: options.lockMs, stalledInterval: options.lockMs } : {}),
      // The worker's own settings decide a custom back-off, not those of the process that queued the job.
      ...(backoff ? { settings: { backoffStrategy: (triesMade: number, type?: string) => (type === backoff.type ? backoff.delayMs(triesMade) : 0) } } : {}),
      // Completed and failed jobs are trimmed by each job's own options; the ledger keeps the history.
    },
  );
  worker.on('error', (error) => app.logger.error({ err: error, queue: definition.queue }, 'worker error'));
  return worker;
}
