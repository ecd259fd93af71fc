import { hostname } from 'node:os';
import { type Job, UnrecoverableError, Worker } from 'bullmq';
import type { App } from '../app';
import { type JobDefinition, PermanentJobError } from './job-definition';

export interface WorkerOptions {
  concurrency?: number;
  limiter?: { max: number; duration: number };
  /** Lock duration; a job whose worker died is taken up again after about this long. */
  lockMs?: number;
}

/** Runs a job definition on its queue. Permanent failures become UnrecoverableError: no retry. */
export function startWorker<P, R>(app: App, definition: JobDefinition<P, R>, options: WorkerOptions = {}): Worker<P, R> {
  const actor = `worker ${hostname()}/${process.pid}`;
  const worker = new Worker<P, R>(
    definition.queue,
    async (job: Job<P, R>) => {
      if (job.name !== definition.name) throw new UnrecoverableError(`unknown job name ${job.name} on queue ${definition.queue}`);
      try {
        return await definition.process(job.data, {
          app,
          attempt: job.attemptsMade + 1,
          maxAttempts: job.opts.attempts ?? 1,
          scheduledFor: new Date(job.timestamp + (job.opts.delay ?? 0)),
          actor,
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
      // Completed and failed jobs are trimmed by each job's own options; the ledger keeps the history.
    },
  );
  worker.on('error', (error) => app.logger.error({ err: error, queue: definition.queue }, 'worker error'));
  return worker;
}
