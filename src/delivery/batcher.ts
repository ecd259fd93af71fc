/**
 * Group commit for the send path: concurrent calls of one kind (the claims, the hand-over marks,
 * the outcomes of one transition) made by the attempts of one process become ONE statement.
 *
 * The window is bounded and adds no wait when the database is idle: a call made while no batch
 * of its kind is in flight is sent at the next turn of the event loop, with every call made in
 * the same turn; calls made while a batch is in flight join the next one, which goes when the
 * batch in flight returns, or after `windowMs` (a second batch in flight), whichever is first.
 * Each call still gets its own answer (or the batch's error) and keeps its own deadline: the
 * callers' bounds (see transitions.ts `attemptBounds`) are unchanged, and a crash loses at most
 * the calls of the window, exactly as it would lose the same calls made one by one (an outcome
 * not written leaves its rows `sending` under a lease that expires into `unknown`).
 */
export interface BatcherOptions<Req> {
  /** At most this many calls in one statement. */
  maxBatch: number;
  /** How long calls wait for the batch in flight before a second one is sent. */
  windowMs: number;
  /** Batches in flight at once (the second is the stall bound's). */
  maxInFlight: number;
  /** Keys of a call that may not share a statement with another call having one of them (the same ledger row, the same group). */
  keys: (request: Req) => readonly string[];
}

interface Waiting<Req, Res> {
  request: Req;
  resolve: (result: Res) => void;
  reject: (error: unknown) => void;
}

export class Batcher<Req, Res> {
  private queue: Array<Waiting<Req, Res>> = [];
  private inFlight = 0;
  private timer: NodeJS.Timeout | null = null;
  private immediate = false;

  constructor(
    private readonly run: (requests: Req[]) => Promise<Res[]>,
    private readonly options: BatcherOptions<Req>,
  ) {}

  submit(request: Req): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      this.queue.push({ request, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.queue.length === 0) return;
    if (this.inFlight === 0) {
      if (!this.immediate) {
        this.immediate = true;
        setImmediate(() => {
          this.immediate = false;
          this.flush();
        });
      }
      return;
    }
    if (this.inFlight < this.options.maxInFlight && !this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.flush();
      }, this.options.windowMs);
      this.timer.unref();
    }
  }

  private flush(): void {
    if (this.queue.length === 0 || this.inFlight >= this.options.maxInFlight) return;
    const batch: Array<Waiting<Req, Res>> = [];
    const rest: Array<Waiting<Req, Res>> = [];
    const taken = new Set<string>();
    for (const waiting of this.queue) {
      const keys = this.options.keys(waiting.request);
      if (batch.length >= this.options.maxBatch || keys.some((k) => taken.has(k))) {
        rest.push(waiting);
        continue;
      }
      for (const k of keys) taken.add(k);
      batch.push(waiting);
    }
    this.queue = rest;
    this.inFlight++;
    let work: Promise<Res[]>;
    try {
      work = this.run(batch.map((w) => w.request));
    } catch (error) {
      work = Promise.reject(error);
    }
    work
      .then(
        (results) => batch.forEach((w, i) => w.resolve(results[i] as Res)),
        (error: unknown) => batch.forEach((w) => w.reject(error)),
      )
      .finally(() => {
        this.inFlight--;
        this.schedule();
      });
  }
}

/** One batcher per database handle and kind, like the lease keeper: shared by the process's attempts. */
export function batcherFor<Db extends object, Req, Res>(
  cache: WeakMap<Db, Map<string, Batcher<Req, Res>>>,
  db: Db,
  kind: string,
  make: () => Batcher<Req, Res>,
): Batcher<Req, Res> {
  let byKind = cache.get(db);
  if (!byKind) cache.set(db, (byKind = new Map()));
  let batcher = byKind.get(kind);
  if (!batcher) byKind.set(kind, (batcher = make()));
  return batcher;
}
