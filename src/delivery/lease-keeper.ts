import type { Kysely } from 'kysely';
import type { Database } from '../db/types';
import { extendLeases } from './ledger-sql';
import { attemptBounds } from './transitions';

/**
 * The heartbeat of one process: every fifth of SEND_LEASE_MS it extends the leases of the
 * attempts it holds, in one statement. A lease that already expired is not revived (the sweep
 * may be settling it), and an attempt is held only until its own bounds run out, so a process
 * that stops (killed, frozen, cut off from the database) lets its leases expire within one lease.
 */
export class LeaseKeeper {
  private readonly owners = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private beating: Promise<unknown> | null = null;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly leaseMs: number,
    private readonly onError: (error: unknown) => void = () => undefined,
  ) {}

  /** Starts extending `owner`'s lease until `release(owner)`. */
  hold(owner: string): void {
    this.owners.add(owner);
    if (!this.timer) {
      this.timer = setInterval(() => this.beat(), attemptBounds(this.leaseMs).heartbeatMs);
      this.timer.unref();
    }
  }

  release(owner: string): void {
    this.owners.delete(owner);
    if (this.owners.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private beat(): void {
    if (this.beating || this.owners.size === 0) return;
    this.beating = extendLeases(this.db, [...this.owners], this.leaseMs)
      .catch(this.onError)
      .finally(() => (this.beating = null));
  }
}

const keepers = new WeakMap<Kysely<Database>, LeaseKeeper>();

/** The process's keeper for one database (one heartbeat statement for all its attempts). */
export function leaseKeeperFor(db: Kysely<Database>, leaseMs: number, onError?: (error: unknown) => void): LeaseKeeper {
  let keeper = keepers.get(db);
  if (!keeper) keepers.set(db, (keeper = new LeaseKeeper(db, leaseMs, onError)));
  return keeper;
}
