/**
 * WORKER_PROCESSES: one send worker is CPU-bound (render, MIME, protocol work on one thread), so
 * `reminders work` and `reminders start` run the send worker in N processes. The primary forks
 * them, restarts one that crashes (with back-off), and on SIGTERM forwards it to each and waits
 * for their drain. Each process runs only the send worker: no command line, HTTP or scheduler.
 */
import { type ChildProcess, fork } from 'node:child_process';
import type { App } from './app';
import type { Logger } from './logger';

/** First restart delay after a crash; doubles per crash in a row, up to MAX_BACKOFF_MS. */
const FIRST_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 30_000;
/** A process that ran this long before crashing starts again from the first delay. */
const HEALTHY_AFTER_MS = 60_000;

/**
 * A send allocates short-lived strings (HTML, MIME parts, query results): V8's default 16 MB
 * semi-spaces let a worker's RSS reach ~160 MB; 4 MB keeps it near 135 MB, and the more frequent
 * young-generation collections cost little next to ~10 ms of work per email.
 */
const WORKER_NODE_FLAGS = ['--max-semi-space-size=4'];

export interface WorkerProcesses {
  /** Resolves once every process has exited for good (drained, or stopped). */
  readonly finished: Promise<void>;
  /** Exits that were crashes (not a clean drain or stop), counted over the whole run. */
  crashes(): number;
  /** Forwards SIGTERM to each process and waits for them; no more restarts. */
  stop(): Promise<void>;
}

/** Forks `count` send worker processes (this file's `runSendWorkerProcess`), restarting crashed ones. */
export function startWorkerProcesses(app: Pick<App, 'logger'>, options: { count: number; drain: boolean }): WorkerProcesses {
  const { logger } = app;
  const live = new Set<ChildProcess>();
  const timers = new Set<NodeJS.Timeout>();
  let stopping = false;
  let crashes = 0;
  let settle: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (settle = resolve));
  const settleIfDone = () => {
    if (live.size === 0 && timers.size === 0) settle();
  };

  const start = (slot: number, failuresInARow: number) => {
    const started = Date.now();
    // Its own process group: a Ctrl-C in a terminal reaches the primary alone, which forwards
    // one SIGTERM (a second signal would make the child exit at once, mid-send).
    const child = fork(__filename, options.drain ? ['--drain'] : [], { detached: true, stdio: 'inherit', execArgv: [...process.execArgv, ...WORKER_NODE_FLAGS] });
    live.add(child);
    logger.info({ slot, pid: child.pid }, 'send worker process started');
    child.once('exit', (code, signal) => {
      live.delete(child);
      const clean = code === 0 && (options.drain || stopping);
      if (clean || stopping) {
        settleIfDone();
        return;
      }
      crashes += 1;
      const inARow = Date.now() - started >= HEALTHY_AFTER_MS ? 0 : failuresInARow + 1;
      const delay = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** Math.max(0, inARow - 1));
      logger.error({ slot, pid: child.pid, code, signal, restartInMs: delay }, 'send worker process stopped unexpectedly; restarting');
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (stopping) settleIfDone();
        else start(slot, inARow);
      }, delay);
      timers.add(timer);
    });
  };

  for (let slot = 0; slot < options.count; slot++) start(slot, 0);
  return {
    finished,
    crashes: () => crashes,
    async stop() {
      stopping = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      for (const child of live) child.kill('SIGTERM');
      settleIfDone();
      await finished;
    },
  };
}

/**
 * The body of one forked process: the send worker alone, on its own App. Loads the queue, the
 * ledger and the renderer, not the command line and its HTTP, dashboard and template tools.
 */
async function runSendWorkerProcess(drain: boolean): Promise<void> {
  // Required here, not imported: the primary loads this file too and needs none of it.
  const { loadConfig, secretsOf } = require('./config') as typeof import('./config');
  const { createApp } = require('./app') as typeof import('./app');
  const { createLogger } = require('./logger') as typeof import('./logger');
  const { startSendWorker, untilSignal } = require('./daemon') as typeof import('./daemon');
  const { waitUntilDrained } = require('./queue/drain') as typeof import('./queue/drain');
  const config = loadConfig();
  const logger: Logger = createLogger(config.logLevel, { secrets: secretsOf(config), format: config.logFormat });
  const app = createApp(config, { logger });
  // The primary is gone (killed): stop as it did, like one process would have.
  const orphaned = () => process.exit(1);
  process.once('disconnect', orphaned);
  try {
    startSendWorker(app);
    if (drain) {
      const stop = new AbortController();
      const signal = untilSignal().then(() => stop.abort());
      await Promise.race([waitUntilDrained(app.sendQueue(), 200, stop.signal), signal]);
    } else {
      const signal = await untilSignal();
      logger.info({ signal }, 'stopping: finishing the sends in hand');
    }
  } finally {
    await app.close();
  }
  // The IPC channel would keep this process alive.
  process.removeListener('disconnect', orphaned);
  process.disconnect?.();
}

if (require.main === module && process.send) {
  runSendWorkerProcess(process.argv.includes('--drain')).catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
