/** A template edit the worker refused, and what it sends instead. */
export interface RejectedTemplate {
  /** family/locale/variant, as the preview names it. */
  variant: string;
  /** The refused version (hash of its files). */
  version: string;
  problems: string[];
  /** The good version sent meanwhile, or null: then its reminders fail until it is fixed. */
  serving: string | null;
  since: string;
}

/**
 * What the running renderer thinks of the templates on disk, for /healthz and /metrics: the
 * variants whose latest edit was refused, and how many refusals there have been.
 */
export class TemplateHealth {
  private readonly rejected = new Map<string, RejectedTemplate>();
  /** Refusals by variant since start (a version is counted once). */
  readonly refusals = new Map<string, number>();

  reject(entry: Omit<RejectedTemplate, 'since'>): boolean {
    const previous = this.rejected.get(entry.variant);
    if (previous?.version === entry.version && previous.serving === entry.serving) return false;
    this.rejected.set(entry.variant, { ...entry, since: previous?.version === entry.version ? previous.since : new Date().toISOString() });
    if (previous?.version !== entry.version) this.refusals.set(entry.variant, (this.refusals.get(entry.variant) ?? 0) + 1);
    return true;
  }

  accept(variant: string): void {
    this.rejected.delete(variant);
  }

  list(): RejectedTemplate[] {
    return [...this.rejected.values()].sort((a, b) => a.variant.localeCompare(b.variant));
  }
}
