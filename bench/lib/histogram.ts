/**
 * A compact log-linear latency histogram (HdrHistogram-like, fixed memory, no allocation per
 * sample). Values are recorded in microseconds with 0.1 µs resolution; each power of two is
 * split into 32 sub-buckets, so a percentile is exact to about 3%.
 */
const SUB_BITS = 5;
const SUB = 1 << SUB_BITS; // 32 sub-buckets per power of two
const UNITS_PER_US = 10; // 0.1 µs resolution
const MAX_EXP = 28; // 32 * 2^27 * 0.1 µs ≈ 430 s: longer samples are clamped
const MAX_UNITS = 0xffff_ffff;

export interface LatencySummary {
  count: number;
  meanUs: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
}

export class Histogram {
  private readonly counts = new Float64Array((MAX_EXP + 2) * SUB);
  private n = 0;
  private sum = 0;
  private max = 0;

  /** Records one latency, in microseconds. */
  record(us: number): void {
    const v = us > 0 ? Math.min(Math.round(us * UNITS_PER_US), MAX_UNITS) : 0;
    this.counts[indexOf(v)]! += 1;
    this.n++;
    this.sum += us;
    if (us > this.max) this.max = us;
  }

  get count(): number {
    return this.n;
  }

  /** The value (µs) below which `q` (0..1) of the samples lie; 0 when empty. */
  percentile(q: number): number {
    if (this.n === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.n));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(valueOf(i) / UNITS_PER_US, this.max);
    }
    return this.max;
  }

  summary(): LatencySummary {
    return {
      count: this.n,
      meanUs: this.n === 0 ? 0 : this.sum / this.n,
      p50Us: this.percentile(0.5),
      p99Us: this.percentile(0.99),
      p999Us: this.percentile(0.999),
      maxUs: this.max,
    };
  }

  /** The non-empty buckets, to ship a histogram between processes. */
  buckets(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let i = 0; i < this.counts.length; i++) if (this.counts[i]! > 0) out.push([i, this.counts[i]!]);
    return out;
  }

  /** Adds another process's histogram (its `buckets()`, count, sum and max). */
  merge(buckets: Array<[number, number]>, sumUs: number, maxUs: number): void {
    for (const [i, c] of buckets) {
      if (i >= 0 && i < this.counts.length) {
        this.counts[i]! += c;
        this.n += c;
      }
    }
    this.sum += sumUs;
    if (maxUs > this.max) this.max = maxUs;
  }

  get sumUs(): number {
    return this.sum;
  }

  get maxUs(): number {
    return this.max;
  }

  reset(): void {
    this.counts.fill(0);
    this.n = 0;
    this.sum = 0;
    this.max = 0;
  }
}

function indexOf(v: number): number {
  if (v < SUB) return v;
  const exp = Math.min(31 - Math.clz32(v) - SUB_BITS + 1, MAX_EXP); // v >> (exp-1) in [32, 63]
  const sub = Math.floor(v / 2 ** (exp - 1)) - SUB; // 0..31 within this power of two
  return SUB + (exp - 1) * SUB + Math.min(sub, SUB - 1);
}

/** Upper bound of bucket `i`, in 0.1 µs units (the conservative side). */
function valueOf(i: number): number {
  if (i < SUB) return i;
  const exp = Math.floor((i - SUB) / SUB) + 1;
  const sub = (i - SUB) % SUB;
  return (SUB + sub + 1) * 2 ** (exp - 1) - 1;
}
