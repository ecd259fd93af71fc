import type { ZodType } from 'zod';

/** Who runs a job and which attempt it is; `app` is whatever the composition root hands the jobs. */
export interface JobContext<Deps> {
  app: Deps;
  /** 1-based attempt number and the job's limit. */
  attempt: number;
  maxAttempts: number;
  /** When the job was meant to run (a scheduler's fire time, else when it was added). */
  scheduledFor: Date;
  /** Identifies the worker in the ledger's audit trail. */
  actor: string;
  /** The queue's id of the job. */
  jobId?: string;
}

/** A job definition: thin, the logic it calls lives in src/. */
export interface JobDefinition<Payload, Result, Deps> {
  queue: string;
  name: string;
  /** Checked before `process` runs: a malformed payload (a job added by hand) fails, never retried. */
  payload?: ZodType<Payload>;
  process(payload: Payload, context: JobContext<Deps>): Promise<Result>;
}
