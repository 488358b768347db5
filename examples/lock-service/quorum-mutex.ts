/**
 * The client side of the lock service, in the style of MinIO's dsync `DRWMutex`.
 *
 * A lock is taken by asking EVERY node in parallel (single requests) and holds when a quorum
 * granted it: `n/2+1` nodes for a write lock, `n - n/2` for a read lock. A failed attempt
 * releases the grants it did get (so two clients that split the nodes both back off), then
 * retries after a jittered pause until the caller's timeout. While held, a refresh loop keeps
 * the lock alive on the nodes; when fewer than a quorum still know the lock (they expired or
 * force-unlocked it), the lock is reported lost. A node that is down simply does not grant:
 * with tsgrid its calls fail at once with `DisconnectedError`, so a dead node costs nothing.
 *
 * Written against `LockPeer` (one node = an object with promise-returning methods), so the
 * same code drives in-memory fakes in tests, the local table, and generated tsgrid clients.
 */
import { randomUUID } from "node:crypto";
import type { CallOptions } from "tsgrid";
import type { LockArgs as WireLockArgs } from "../../generated/locks.js";

/** What the client sends to every node: the lock, and the quorum it counts on (the schema's `LockArgs`). */
export type QuorumLockArgs = WireLockArgs;

/** One node of the lock service, as the quorum client sees it: true = granted / released / refreshed. */
export interface LockPeer {
  readonly name: string;
  lock(args: QuorumLockArgs, opts: CallOptions): Promise<boolean>;
  rLock(args: QuorumLockArgs, opts: CallOptions): Promise<boolean>;
  unlock(args: QuorumLockArgs, opts: CallOptions): Promise<boolean>;
  rUnlock(args: QuorumLockArgs, opts: CallOptions): Promise<boolean>;
  refresh(args: QuorumLockArgs, opts: CallOptions): Promise<boolean>;
}

export interface QuorumMutexOptions {
  /** Recorded on the nodes as the lock's owner. Required. */
  owner: string;
  /** Recorded on the nodes as where the lock was taken. Default "". */
  source?: string;
  /** Deadline of each call to one node. Default 2_000 ms. */
  callTimeoutMs?: number;
  /** Pause between attempts: uniformly random in [min, max]. Default 2..20 ms. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /**
   * Period of the refresh loop while the lock is held. Default 10_000 ms (dsync's).
   * 0 disables the loop: the caller refreshes (for example in batches with `refreshMany`).
   */
  refreshIntervalMs?: number;
  /** Called once when the lock is lost (quorum of nodes no longer hold it). */
  onLost?: (mutex: QuorumMutex) => void;
  /**
   * Nodes that must grant a write lock. Default `quorumOf(n, true)` = n/2+1, the smallest
   * number that makes any two write quorums share a node. Anything lower breaks mutual
   * exclusion: the fault tests set it to show that they catch that.
   */
  writeQuorum?: number;
}

export const DEFAULT_CALL_TIMEOUT_MS = 2_000;
export const DEFAULT_ACQUIRE_TIMEOUT_MS = 1_000;
export const DEFAULT_REFRESH_INTERVAL_MS = 10_000;

/** Nodes that must grant a write (`n/2+1`) or a read (`n - n/2`) lock among `n`. */
export function quorumOf(n: number, writer: boolean): number {
  const tolerance = Math.floor(n / 2);
  const quorum = n - tolerance;
  return writer && quorum === tolerance ? quorum + 1 : quorum;
}

type Mode = "write" | "read";
type Outcome = "pending" | "acquired" | "failed";

/** One acquisition's state: which nodes granted it, and how the attempt ended. */
interface Attempt {
  args: QuorumLockArgs;
  mode: Mode;
  granted: boolean[];
  outcome: Outcome;
  released: boolean;
}

export class QuorumMutex {
  private readonly callTimeoutMs: number;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  private readonly refreshIntervalMs: number;
  private held: Attempt | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly peers: readonly LockPeer[],
    readonly resources: readonly string[],
    private readonly options: QuorumMutexOptions,
  ) {
    if (peers.length === 0) throw new RangeError("QuorumMutex needs at least one node");
    if (resources.length === 0) throw new RangeError("QuorumMutex needs at least one resource");
    const q = options.writeQuorum;
    if (q !== undefined && !(Number.isInteger(q) && q >= 1 && q <= peers.length)) {
      throw new RangeError(`writeQuorum must be an integer in [1, ${peers.length}], got ${q}`);
    }
    this.callTimeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    this.retryMinMs = options.retryMinMs ?? 2;
    this.retryMaxMs = Math.max(this.retryMinMs, options.retryMaxMs ?? 20);
    this.refreshIntervalMs = options.refreshIntervalMs ?? DEFAULT_REFRESH_INTERVAL_MS;
  }

  /** True between a successful `lock`/`rLock` and `unlock`/loss. */
  get isHeld(): boolean {
    return this.held !== undefined;
  }

  /** The uid of the current acquisition (what the nodes' tables and events show). */
  get uid(): string | undefined {
    return this.held?.args.uid;
  }

  /** Takes the write lock; resolves false if no quorum granted it within `timeoutMs` (default 1_000). */
  lock(opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<boolean> {
    return this.acquire("write", opts);
  }

  /** Takes a read lock; resolves false if no quorum granted it within `timeoutMs` (default 1_000). */
  rLock(opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<boolean> {
    return this.acquire("read", opts);
  }

  /** Releases the lock on every node (a node that is down expires it later). Idempotent. */
  async unlock(): Promise<void> {
    const attempt = this.held;
    if (!attempt) return;
    this.held = undefined;
    this.stopRefresh();
    await this.release(attempt);
  }

  private async acquire(mode: Mode, opts: { timeoutMs?: number; signal?: AbortSignal }): Promise<boolean> {
    if (this.held) throw new Error("QuorumMutex is already held; unlock it first");
    const deadline = Date.now() + (opts.timeoutMs ?? DEFAULT_ACQUIRE_TIMEOUT_MS);
    const quorum = this.quorum(mode);
    for (;;) {
      opts.signal?.throwIfAborted();
      const attempt: Attempt = {
        args: { uid: randomUUID(), resources: [...this.resources], owner: this.options.owner, source: this.options.source ?? "", quorum },
        mode,
        granted: this.peers.map(() => false),
        outcome: "pending",
        released: false,
      };
      if (await this.tryOnce(attempt, quorum)) {
        this.held = attempt;
        this.scheduleRefresh();
        return true;
      }
      const pause = this.retryMinMs + Math.random() * (this.retryMaxMs - this.retryMinMs);
      if (Date.now() + pause >= deadline) return false;
      await sleep(pause, opts.signal);
    }
  }

  /**
   * Asks every node at once; settles as soon as the quorum is reached or can no longer be
   * (a slow node does not hold up the answer). Grants that arrive after a failed attempt
   * (or after the lock was released) are released at once.
   */
  private tryOnce(attempt: Attempt, quorum: number): Promise<boolean> {
    const n = this.peers.length;
    let grants = 0;
    let refusals = 0;
    return new Promise<boolean>((resolve) => {
      this.peers.forEach((peer, i) => {
        const call = attempt.mode === "write" ? peer.lock(attempt.args, this.callOpts()) : peer.rLock(attempt.args, this.callOpts());
        call.then(
          (ok) => {
            if (!ok) return void refusals++;
            grants++;
            attempt.granted[i] = true;
            if (attempt.outcome === "failed" || attempt.released) this.releaseOne(attempt, i);
          },
          () => void refusals++,
        ).finally(() => {
          if (attempt.outcome !== "pending") return;
          if (grants >= quorum) {
            attempt.outcome = "acquired";
            resolve(true);
          } else if (refusals > n - quorum || grants + refusals === n) {
            attempt.outcome = "failed";
            void this.release(attempt);
            resolve(false);
          }
        });
      });
    });
  }

  private async release(attempt: Attempt): Promise<void> {
    attempt.released = true;
    await Promise.all(attempt.granted.map((granted, i) => (granted ? this.releaseOne(attempt, i) : undefined)));
  }

  private releaseOne(attempt: Attempt, i: number): Promise<void> {
    const peer = this.peers[i];
    if (!peer || !attempt.granted[i]) return Promise.resolve();
    attempt.granted[i] = false;
    const call = attempt.mode === "write" ? peer.unlock(attempt.args, this.callOpts()) : peer.rUnlock(attempt.args, this.callOpts());
    // A node that is down forgets the lock when it expires there; nothing to retry.
    return call.then(
      () => undefined,
      () => undefined,
    );
  }

  private scheduleRefresh(): void {
    if (this.refreshIntervalMs === 0) return;
    this.refreshTimer = setTimeout(() => void this.refreshOnce(), this.refreshIntervalMs);
    this.refreshTimer.unref();
  }

  private stopRefresh(): void {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
  }

  /** One round of the refresh loop: the lock is lost when too many nodes no longer know it. */
  async refreshOnce(): Promise<boolean> {
    const attempt = this.held;
    if (!attempt) return false;
    const results = await Promise.allSettled(this.peers.map((peer) => peer.refresh(attempt.args, this.callOpts())));
    if (this.held !== attempt) return false; // unlocked meanwhile
    const notFound = results.filter((r) => r.status === "fulfilled" && !r.value).length;
    const quorum = this.quorum(attempt.mode);
    if (notFound > this.peers.length - quorum) {
      this.held = undefined;
      this.stopRefresh();
      await this.release(attempt);
      this.options.onLost?.(this);
      return false;
    }
    this.scheduleRefresh();
    return true;
  }

  private quorum(mode: Mode): number {
    return mode === "write" && this.options.writeQuorum !== undefined ? this.options.writeQuorum : quorumOf(this.peers.length, mode === "write");
  }

  private callOpts(): CallOptions {
    return { timeoutMs: this.callTimeoutMs };
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }
    function onAbort(): void {
      clearTimeout(timer);
      reject(signal?.reason);
    }
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
