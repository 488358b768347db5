/**
 * Every deadline of a connection in one structure with one timer.
 *
 * Entries are bucketed by their deadline rounded UP to `resolutionMs` (so nothing fires
 * early); each bucket is an intrusive doubly-linked list, so adding and removing an entry
 * is O(1) and allocates nothing (the call object is the list node). A min-heap of bucket
 * times tells when to arm the single timer. Times are `performance.now()` milliseconds.
 *
 * A bucket that empties stays in place until its time comes (or the timer looks past it):
 * calls that finish quickly then cost no Map delete, no new bucket and no heap push each;
 * buckets are created at most once per `resolutionMs` of deadline time.
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

export class DeadlineWheel {
  private readonly buckets = new Map<number, Bucket>();
  /** Bucket times, a binary min-heap; may hold times whose bucket is already gone. */
  private readonly heap: number[] = [];
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
      bucket = { at, head: undefined, size: 0 };
      this.buckets.set(at, bucket);
      this.heapPush(at);
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
    bucket.size--;
    // An empty bucket stays (see above) and the timer stays armed: it may fire for nothing
    // and re-arm. Far cheaper than a clearTimeout + setTimeout per call when calls run one at
    // a time (the timer is unref'd, so an idle one keeps nothing alive).
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
      if (bucket !== undefined) this.buckets.delete(at);
    }
    this.disarm();
  }

  private arm(at: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(this.fire, Math.max(0, at - performance.now()));
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
