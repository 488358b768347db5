/**
 * Flow control of one direction of a stream, receiving side: a queue bounded by the credits
 * this side granted, read as an async iterator, that gives credits back in batches.
 *
 * The sender may only send as many messages as it holds credits; each message the consumer
 * takes frees one slot, and the freed slots go back to the sender once half the window is
 * consumed (one Unblock frame per batch, not per message). So the queue never holds more
 * than `capacity` messages, however fast the sender, and a consumer that stops reading stalls
 * only its own stream.
 */
import type { GridError } from "../errors.js";

/** What the queue tells the stream it belongs to. */
export interface InboundOwner {
  /** The consumer took `n` messages: grant the sender `n` more credits. */
  returnCredits(n: number): void;
  /** The consumer stopped iterating early (`break`, `return()`). */
  consumerStopped(): void;
}

/** Resolves in the event loop's check phase: after pending I/O was read and timers ran. */
export function nextTurn(resolve: () => void): void {
  setImmediate(resolve);
}

/**
 * What a stream's producer sent since the event loop last turned. A producer that never
 * waits runs in microtasks only: past `streamYieldMessages` or `streamYieldBytes` it must
 * give the event loop a turn (I/O, timers, the writer's flush).
 */
export class YieldBudget {
  private messages = 0;
  private bytes = 0;

  /** Counts one message; true when the producer must yield now (the budget restarts). */
  spend(byteLength: number, maxMessages: number, maxBytes: number): boolean {
    if (++this.messages < maxMessages && (this.bytes += byteLength) < maxBytes) return false;
    this.restart();
    return true;
  }

  /** The event loop turned (the producer waited for credits, room or a timer). */
  restart(): void {
    this.messages = 0;
    this.bytes = 0;
  }
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ value: undefined, done: true });

/**
 * Bytes of stream messages received from one peer that wait, unread, in the queues of its
 * live streams (both directions). Credits bound each queue in messages only: without this a
 * peer could make a node hold capacity × maxMessageBytes per stream (2 GiB at 128 × 16 MiB).
 */
export class UnreadBudget {
  /** Bytes held now. A message is refused when some are held and it would go beyond `max`. */
  held = 0;
  constructor(readonly max: number) {}
}

/** What `InboundQueue.push` did with a message. */
export const Pushed = {
  Queued: 0,
  /** Beyond the credits granted: a broken or hostile sender. */
  OverCredits: 1,
  /** Beyond the peer's UnreadBudget: the stream must fail (resource_exhausted). */
  OverBudget: 2,
} as const;
export type Pushed = (typeof Pushed)[keyof typeof Pushed];

export class InboundQueue implements AsyncIterableIterator<Uint8Array> {
  private items: Uint8Array[] = [];
  private head = 0;
  /** Messages taken by the consumer whose credits were not given back yet. */
  private unreturned = 0;
  private readonly batch: number;
  private ended = false;
  private error: GridError | undefined;
  /** The error was thrown to the consumer already: later reads just end. */
  private errorDelivered = false;
  private stopped = false;
  private waitResolve: ((r: IteratorResult<Uint8Array>) => void) | undefined;
  private waitReject: ((e: unknown) => void) | undefined;
  /** Bytes of `items` counted in the peer's budget (until `release`). */
  private unreadBytes = 0;

  constructor(
    readonly capacity: number,
    private readonly owner: InboundOwner,
    private budget: UnreadBudget | undefined,
  ) {
    this.batch = Math.max(1, Math.floor(capacity / 2));
  }

  /** Messages waiting for the consumer. */
  get size(): number {
    return this.items.length - this.head;
  }

  /** No more messages will come (EOF, error or stop). */
  get finished(): boolean {
    return this.ended || this.error !== undefined || this.stopped;
  }

  /** Adds a message from the sender. */
  push(msg: Uint8Array): Pushed {
    if (this.finished) return Pushed.Queued; // late message after an end: dropped
    if (this.waitResolve !== undefined) {
      const resolve = this.waitResolve;
      this.waitResolve = this.waitReject = undefined;
      this.took();
      resolve({ value: msg, done: false });
      return Pushed.Queued;
    }
    if (this.size >= this.capacity) return Pushed.OverCredits;
    const budget = this.budget;
    if (budget !== undefined) {
      // Inline here rather than a method of UnreadBudget: measured ~2x cheaper per message
      // in a queue micro-benchmark.
      const n = msg.byteLength;
      if (budget.held > 0 && budget.held + n > budget.max) return Pushed.OverBudget;
      budget.held += n;
      this.unreadBytes += n;
    }
    this.items.push(msg);
    return Pushed.Queued;
  }

  /**
   * The stream ended: what is still queued no longer counts against the peer's budget (the
   * peer can add nothing more; a consumer may still read it in band).
   */
  release(): void {
    if (this.budget === undefined) return;
    this.budget.held -= this.unreadBytes;
    this.unreadBytes = 0;
    this.budget = undefined;
  }

  /** The sender's EOF: the consumer gets what is queued, then the end. */
  end(): void {
    if (this.finished) return;
    this.ended = true;
    if (this.waitResolve !== undefined && this.size === 0) {
      const resolve = this.waitResolve;
      this.waitResolve = this.waitReject = undefined;
      resolve(DONE);
    }
  }

  /**
   * Fails the stream. In band (`immediate` false) the consumer first gets what is queued;
   * `immediate` drops the queue (a local cancel or a disconnect).
   */
  fail(err: GridError, immediate: boolean): void {
    if (this.error !== undefined || this.stopped) return;
    if (this.ended && this.size === 0) return; // already fully ended: nothing left to fail
    this.ended = false;
    this.error = err;
    if (immediate) {
      this.items = [];
      this.head = 0;
      this.release();
    }
    if (this.waitReject !== undefined && this.size === 0) {
      const reject = this.waitReject;
      this.waitResolve = this.waitReject = undefined;
      this.errorDelivered = true;
      reject(err);
    }
  }

  next(): Promise<IteratorResult<Uint8Array>> {
    if (this.size > 0) {
      const msg = this.items[this.head]!;
      this.items[this.head++] = undefined as unknown as Uint8Array;
      const budget = this.budget;
      if (budget !== undefined) {
        const n = msg.byteLength;
        budget.held -= n;
        this.unreadBytes -= n;
      }
      if (this.head === this.items.length) {
        this.items = [];
        this.head = 0;
      } else if (this.head > 1024 && this.head * 2 > this.items.length) {
        this.items = this.items.slice(this.head);
        this.head = 0;
      }
      this.took();
      return Promise.resolve({ value: msg, done: false });
    }
    if (this.error !== undefined) {
      if (this.errorDelivered) return Promise.resolve(DONE);
      this.errorDelivered = true;
      return Promise.reject(this.error);
    }
    if (this.ended || this.stopped) return Promise.resolve(DONE);
    if (this.waitResolve !== undefined) {
      return Promise.reject(new TypeError("a stream can be read by one consumer at a time"));
    }
    return new Promise((resolve, reject) => {
      this.waitResolve = resolve;
      this.waitReject = reject;
    });
  }

  return(): Promise<IteratorResult<Uint8Array>> {
    const wasFinished = this.finished;
    this.stopped = true;
    this.items = [];
    this.head = 0;
    this.release();
    if (this.waitResolve !== undefined) {
      const resolve = this.waitResolve;
      this.waitResolve = this.waitReject = undefined;
      resolve(DONE);
    }
    if (!wasFinished) this.owner.consumerStopped();
    return Promise.resolve(DONE);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private took(): void {
    if (this.finished) return; // the sender is gone: no credits to return
    if (++this.unreturned >= this.batch) {
      const n = this.unreturned;
      this.unreturned = 0;
      this.owner.returnCredits(n);
    }
  }
}
