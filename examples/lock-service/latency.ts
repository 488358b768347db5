/**
 * A small log-bucketed latency histogram: constant memory whatever the call count, mergeable
 * across processes (it serializes to plain JSON), percentiles within 5%.
 */

/** Values at or below this many ms share the first bucket. */
const FLOOR_MS = 0.001;
const GROWTH = 1.05;
const LOG_GROWTH = Math.log(GROWTH);

export interface LatencySnapshot {
  /** bucket index → count */
  buckets: Record<string, number>;
  count: number;
  maxMs: number;
}

export class LatencyHistogram {
  private readonly buckets = new Map<number, number>();
  count = 0;
  maxMs = 0;

  record(ms: number): void {
    const index = ms <= FLOOR_MS ? 0 : Math.ceil(Math.log(ms / FLOOR_MS) / LOG_GROWTH);
    this.buckets.set(index, (this.buckets.get(index) ?? 0) + 1);
    this.count++;
    if (ms > this.maxMs) this.maxMs = ms;
  }

  /** The value below which a fraction `q` (0..1) of the samples fall; 0 when empty. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (const index of [...this.buckets.keys()].sort((a, b) => a - b)) {
      seen += this.buckets.get(index) ?? 0;
      if (seen >= rank) return Math.min(this.maxMs, FLOOR_MS * GROWTH ** index);
    }
    return this.maxMs;
  }

  merge(other: LatencySnapshot): this {
    for (const [index, n] of Object.entries(other.buckets)) {
      const i = Number(index);
      this.buckets.set(i, (this.buckets.get(i) ?? 0) + n);
    }
    this.count += other.count;
    this.maxMs = Math.max(this.maxMs, other.maxMs);
    return this;
  }

  snapshot(): LatencySnapshot {
    return { buckets: Object.fromEntries(this.buckets), count: this.count, maxMs: this.maxMs };
  }

  static from(snapshot: LatencySnapshot): LatencyHistogram {
    return new LatencyHistogram().merge(snapshot);
  }
}
