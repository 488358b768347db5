/**
 * Every deadline of a connection in one structure with one timer.
 *
 * Entries are bucketed by their deadline rounded UP to `resolutionMs` (so nothing fires
 * early); each bucket is an intrusive doubly-linked list, so adding and removing an entry
 * is O(1) and allocates nothing (the call object is the list node). A min-heap of bucket
 * times tells when to arm the single timer. Times are `performance.now()` milliseconds.
 *
 * The newest bucket stays even when it empties: calls that come and go one at a time then
 * land in the same bucket and cost no bucket, Map write or heap push each; buckets are made
 * at most once per `resolutionMs` of deadline time. Older buckets are dropped as they empty,
 * and the heap is rebuilt when more than half of it is stale, so an idle-but-busy connection
 * (many short calls, 60 s deadlines) holds a handful of buckets, not one per slot.
 */

/** A call that can expire. The wheel owns the `wheel*` fields. */
export interface DeadlineEntry {
  /** Absolute expiry time, `performance.now()` ms. */
  deadlineAt: number;
  wheelBucket: Bucket | undefined;
  wheelPrev: DeadlineEntry | undefined;
  wheelNext: DeadlineEntry | undefined;
  /** Called once when the deadline passes; the entry is already removed. */
  onDeadline(): void;
}

export interface Bucket {
  readonly at: number;
  head: DeadlineEntry | undefined;
  size: number;
}

/** Default granularity of deadlines. */
export const DEFAULT_DEADLINE_RESOLUTION_MS = 5;

/** The longest delay a Node timer holds (a signed 32-bit number of ms, about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class DeadlineWheel {
  private readonly buckets = new Map<number, Bucket>();
  /** Bucket times, a binary min-heap; may hold times whose bucket is already gone. */
  private heap: number[] = [];
  /** The bucket made last: kept while empty (see above). */
  private last: Bucket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private count = 0;

  constructor(private readonly resolutionMs = DEFAULT_DEADLINE_RESOLUTION_MS) {}

  /** Entries currently waiting. */
  get size(): number {
    return this.count;
  }

  add(entry: DeadlineEntry): void {
    if (entry.wheelBucket !== undefined) this.remove(entry);
    const res = this.resolutionMs;
    const at = Math.ceil(entry.deadlineAt / res) * res;
    let bucket = this.buckets.get(at);
    if (bucket === undefined) {
      const last = this.last;
      if (last !== undefined && last.size === 0) this.dropBucket(last);
      bucket = { at, head: undefined, size: 0 };
      this.buckets.set(at, bucket);
      this.heapPush(at);
      this.last = bucket;
    }
    entry.wheelBucket = bucket;
    entry.wheelPrev = undefined;
    entry.wheelNext = bucket.head;
    if (bucket.head !== undefined) bucket.head.wheelPrev = entry;
    bucket.head = entry;
    bucket.size++;
    this.count++;
    if (at < this.timerAt) this.arm(at);
  }

  remove(entry: DeadlineEntry): void {
    const bucket = entry.wheelBucket;
    if (bucket === undefined) return;
    const { wheelPrev: prev, wheelNext: next } = entry;
    if (prev !== undefined) prev.wheelNext = next;
    else bucket.head = next;
    if (next !== undefined) next.wheelPrev = prev;
    entry.wheelBucket = entry.wheelPrev = entry.wheelNext = undefined;
    this.count--;
    if (--bucket.size === 0 && bucket !== this.last) this.dropBucket(bucket);
    // The timer stays armed: it may fire for nothing and re-arm. Far cheaper than a
    // clearTimeout + setTimeout per call when calls run one at a time (the timer is unref'd,
    // so an idle one keeps nothing alive).
  }

  /** Forgets an empty bucket; rebuilds the heap once most of it is stale times. */
  private dropBucket(bucket: Bucket): void {
    if (this.buckets.get(bucket.at) !== bucket) return;
    this.buckets.delete(bucket.at);
    if (this.last === bucket) this.last = undefined;
    if (this.heap.length > 64 && this.heap.length > 2 * this.buckets.size) {
      // A sorted array is a valid min-heap.
      this.heap = [...this.buckets.keys()].sort((a, b) => a - b);
    }
  }

  /** Stops the timer and forgets every entry (without calling them). */
  clear(): void {
    for (const bucket of this.buckets.values()) {
      let e = bucket.head;
      while (e !== undefined) {
        const next = e.wheelNext;
        e.wheelBucket = e.wheelPrev = e.wheelNext = undefined;
        e = next;
      }
    }
    this.buckets.clear();
    this.heap.length = 0;
    this.last = undefined;
    this.count = 0;
    this.disarm();
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = performance.now();
    while (this.heap.length > 0 && this.heap[0]! <= now) {
      const at = this.heapPop();
      const bucket = this.buckets.get(at);
      if (bucket === undefined) continue;
      this.buckets.delete(at);
      if (this.last === bucket) this.last = undefined;
      // Detach the whole list first: onDeadline may add or remove entries.
      let e = bucket.head;
      bucket.head = undefined;
      while (e !== undefined) {
        const next = e.wheelNext;
        e.wheelBucket = e.wheelPrev = e.wheelNext = undefined;
        this.count--;
        e.onDeadline();
        e = next;
      }
    }
    this.rearm();
  };

  private rearm(): void {
    // Drop empty buckets at the front; arm for the first one that holds entries.
    while (this.heap.length > 0) {
      const at = this.heap[0]!;
      const bucket = this.buckets.get(at);
      if (bucket !== undefined && bucket.size > 0) {
        this.arm(at);
        return;
      }
      this.heapPop();
      if (bucket !== undefined) {
        this.buckets.delete(at);
        if (this.last === bucket) this.last = undefined;
      }
    }
    this.disarm();
  }

  private arm(at: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    // Node fires a longer delay after 1 ms (TimeoutOverflowWarning), which would re-arm for
    // the same far deadline every millisecond: wake up early instead, and re-arm then.
    this.timer = setTimeout(this.fire, Math.min(MAX_TIMER_MS, Math.max(0, at - performance.now())));
    this.timer.unref();
  }

  private disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  private heapPush(v: number): void {
    const h = this.heap;
    let i = h.length;
    h.push(v);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]! <= v) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = v;
  }

  private heapPop(): number {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      const n = h.length;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && h[r]! < h[l]! ? r : l;
        if (h[c]! >= last) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}
