/**
 * The lock table's event feed: every change becomes a numbered `LockEvent`, delivered to
 * each subscriber through its own bounded buffer.
 *
 * A subscriber that reads slower than events arrive must not make the table (or the node)
 * buffer without bound, and must not slow the table down either: when its buffer is full the
 * oldest event is dropped and counted. The gap is visible in `seq`, so a reader knows it
 * missed events instead of silently seeing a wrong history.
 */
import type { LockEvent } from "../../generated/locks.js";

// The events are the schema's own type: the table publishes exactly what `lockEvents` streams.
export type { LockEvent, LockEventKind } from "../../generated/locks.js";

export interface SubscribeOptions {
  /** Events that may wait for a slow reader before the oldest are dropped. Default 1024. */
  capacity?: number;
  /** Ends the subscription when aborted. */
  signal?: AbortSignal;
  /** Only events this returns true for are delivered (and can be dropped). Default: all. */
  filter?: (event: LockEvent) => boolean;
}

/** Default number of events a subscriber may fall behind before the oldest are dropped. */
export const DEFAULT_SUBSCRIPTION_CAPACITY = 1024;

/** A subscriber's view: an async iterable of events; `close()` (or `break`) unsubscribes. */
export class LockSubscription implements AsyncIterableIterator<LockEvent> {
  /** Events dropped because this subscriber's buffer was full. */
  dropped = 0;
  private readonly buffer: (LockEvent | undefined)[];
  private head = 0;
  private count = 0;
  private waiter: ((result: IteratorResult<LockEvent>) => void) | undefined;
  private closed = false;

  constructor(
    readonly capacity: number,
    private readonly onClose: (sub: LockSubscription) => void,
    readonly filter: ((event: LockEvent) => boolean) | undefined = undefined,
  ) {
    this.buffer = new Array<LockEvent | undefined>(capacity);
  }

  /** Number of events waiting to be read. */
  get pending(): number {
    return this.count;
  }

  /** Called by the feed. Never blocks: a full buffer drops its oldest event. */
  push(event: LockEvent): void {
    if (this.closed) return;
    const waiter = this.waiter;
    if (waiter) {
      this.waiter = undefined;
      waiter({ value: event, done: false });
      return;
    }
    if (this.count === this.capacity) {
      this.buffer[this.head] = undefined;
      this.head = (this.head + 1) % this.capacity;
      this.count--;
      this.dropped++;
    }
    this.buffer[(this.head + this.count) % this.capacity] = event;
    this.count++;
  }

  next(): Promise<IteratorResult<LockEvent>> {
    if (this.count > 0) {
      const event = this.buffer[this.head] as LockEvent;
      this.buffer[this.head] = undefined;
      this.head = (this.head + 1) % this.capacity;
      this.count--;
      return Promise.resolve({ value: event, done: false });
    }
    if (this.closed) return Promise.resolve({ value: undefined, done: true });
    if (this.waiter) return Promise.reject(new Error("LockSubscription: next() called while another next() is pending"));
    return new Promise((resolve) => (this.waiter = resolve));
  }

  return(): Promise<IteratorResult<LockEvent>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  /** Unsubscribes; a pending `next()` ends. Buffered events are discarded. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.buffer.fill(undefined);
    this.count = 0;
    this.onClose(this);
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

export class LockEventFeed {
  private seq = 0;
  private readonly subscribers = new Set<LockSubscription>();

  /** Numbers the event and hands it to every matching subscriber; never waits for one. */
  publish(event: Omit<LockEvent, "seq">): void {
    this.seq++;
    if (this.subscribers.size === 0) return;
    const numbered: LockEvent = { seq: this.seq, ...event };
    for (const sub of this.subscribers) if (!sub.filter || sub.filter(numbered)) sub.push(numbered);
  }

  subscribe(options: SubscribeOptions = {}): LockSubscription {
    const capacity = options.capacity ?? DEFAULT_SUBSCRIPTION_CAPACITY;
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`subscription capacity must be a positive integer, got ${capacity}`);
    const signal = options.signal;
    const onAbort = (): void => sub.close();
    const sub = new LockSubscription(capacity, () => {
      this.subscribers.delete(sub);
      // A long-lived signal must not pin a subscription that already ended.
      signal?.removeEventListener("abort", onAbort);
    }, options.filter);
    if (signal?.aborted) {
      sub.close();
      return sub;
    }
    this.subscribers.add(sub);
    signal?.addEventListener("abort", onAbort, { once: true });
    return sub;
  }

  /** Number of live subscriptions. */
  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** Ends every subscription. */
  close(): void {
    for (const sub of [...this.subscribers]) sub.close();
  }
}
