/**
 * One node's share of the distributed lock service: the local lock table.
 *
 * Pure logic, no I/O (like MinIO's `localLocker`): write locks are exclusive, read locks are
 * shared, every lock carries the `uid` of the acquisition that took it and its owner, and a
 * lock that is not refreshed within the validity interval is expired by `expireStale()` so a
 * client that died cannot hold a resource forever. Every change is published as a
 * `LockEvent` to the subscribers of `subscribe()`.
 */
import type { LockArgs as WireLockArgs } from "../../generated/locks.js";
import { LockEventFeed, type LockEventKind, type LockSubscription, type SubscribeOptions } from "./lock-events.js";

/** One lock request: the schema's `LockArgs`, without the quorum the table has no use for. */
export type LockArgs = Omit<WireLockArgs, "quorum">;

/** One granted lock on one resource. */
export interface LockEntry {
  uid: string;
  owner: string;
  source: string;
  writer: boolean;
  /** `now()` at grant time. */
  acquiredAt: number;
  /** `now()` at the last grant or refresh; the lock expires `validityMs` after it. */
  refreshedAt: number;
}

export interface LockTableOptions {
  /** A lock not refreshed for this long is removed by `expireStale`. Default 60_000 (dsync's). */
  validityMs?: number;
  /** Clock, injectable for tests. Default `Date.now`. */
  now?: () => number;
}

export const DEFAULT_LOCK_VALIDITY_MS = 60_000;

export class LockTable {
  readonly validityMs: number;
  private readonly now: () => number;
  /** resource → the write lock (alone) or the read locks holding it. Never an empty array. */
  private readonly locks = new Map<string, LockEntry[]>();
  private readonly feed = new LockEventFeed();

  constructor(options: LockTableOptions = {}) {
    this.validityMs = options.validityMs ?? DEFAULT_LOCK_VALIDITY_MS;
    this.now = options.now ?? Date.now;
  }

  /** Write-locks every resource, or none if any of them is locked. */
  lock(args: LockArgs): boolean {
    if (!validArgs(args)) return false;
    for (const resource of args.resources) if (this.locks.has(resource)) return false;
    const at = this.now();
    for (const resource of args.resources) {
      this.locks.set(resource, [entry(args, true, at)]);
      this.publish("lock", resource, args);
    }
    return true;
  }

  /** Read-locks every resource, or none if any of them is write-locked. */
  rLock(args: LockArgs): boolean {
    if (!validArgs(args)) return false;
    for (const resource of args.resources) if (this.locks.get(resource)?.[0]?.writer) return false;
    const at = this.now();
    for (const resource of args.resources) {
      const holders = this.locks.get(resource);
      if (holders) holders.push(entry(args, false, at));
      else this.locks.set(resource, [entry(args, false, at)]);
      this.publish("rlock", resource, args);
    }
    return true;
  }

  /** Releases the write locks taken under `args.uid`. True if any was held. */
  unlock(args: LockArgs): boolean {
    return this.release(args, true, "unlock");
  }

  /** Releases the read locks taken under `args.uid`. True if any was held. */
  rUnlock(args: LockArgs): boolean {
    return this.release(args, false, "runlock");
  }

  /** Extends the validity of every lock taken under `args.uid`. False if none is held any more. */
  refresh(args: { uid: string; resources: string[] }): boolean {
    if (args.uid.length === 0 || args.resources.length === 0) return false;
    const at = this.now();
    let found = false;
    for (const resource of args.resources) {
      for (const held of this.locks.get(resource) ?? []) {
        if (held.uid !== args.uid) continue;
        held.refreshedAt = at;
        found = true;
        this.publish("refresh", resource, held);
      }
    }
    return found;
  }

  /** Removes every lock on the resources, whoever holds it (an operator's last resort). */
  forceUnlock(args: LockArgs): boolean {
    let removed = false;
    for (const resource of args.resources) {
      const holders = this.locks.get(resource);
      if (!holders) continue;
      this.locks.delete(resource);
      for (const held of holders) this.publish("force-unlock", resource, held);
      removed = true;
    }
    return removed;
  }

  /** Removes the locks not refreshed within `validityMs`; returns how many were removed. */
  expireStale(now: number = this.now()): number {
    let expired = 0;
    for (const [resource, holders] of this.locks) {
      const alive = holders.filter((held) => now - held.refreshedAt <= this.validityMs);
      if (alive.length === holders.length) continue;
      for (const held of holders) if (!alive.includes(held)) this.publish("expire", resource, held);
      expired += holders.length - alive.length;
      if (alive.length === 0) this.locks.delete(resource);
      else this.locks.set(resource, alive);
    }
    return expired;
  }

  /** The locks currently held on a resource (copies). */
  holders(resource: string): LockEntry[] {
    return (this.locks.get(resource) ?? []).map((held) => ({ ...held }));
  }

  /** Number of locked resources. */
  get size(): number {
    return this.locks.size;
  }

  /**
   * Follows the table's changes. At most `capacity` events wait for a slow reader; older ones
   * are dropped and counted, and the gap shows in the events' `seq`.
   */
  subscribe(options: SubscribeOptions = {}): LockSubscription {
    return this.feed.subscribe(options);
  }

  /** Ends every subscription (the node is shutting down). */
  close(): void {
    this.feed.close();
  }

  private release(args: LockArgs, writer: boolean, kind: LockEventKind): boolean {
    if (!validArgs(args)) return false;
    let released = false;
    for (const resource of args.resources) {
      const holders = this.locks.get(resource);
      if (!holders) continue;
      const kept = holders.filter((held) => held.uid !== args.uid || held.writer !== writer);
      if (kept.length === holders.length) continue;
      released = true;
      if (kept.length === 0) this.locks.delete(resource);
      else this.locks.set(resource, kept);
      this.publish(kind, resource, args);
    }
    return released;
  }

  private publish(kind: LockEventKind, resource: string, who: { uid: string; owner: string }): void {
    this.feed.publish({ kind, resource, uid: who.uid, owner: who.owner, time: new Date(this.now()) });
  }
}

function entry(args: LockArgs, writer: boolean, at: number): LockEntry {
  return { uid: args.uid, owner: args.owner, source: args.source ?? "", writer, acquiredAt: at, refreshedAt: at };
}

/** A request without a uid or resources is refused rather than half applied. */
function validArgs(args: LockArgs): boolean {
  return args.uid.length > 0 && args.resources.length > 0;
}
