/**
 * The node's own share of the locks, as a `LockPeer`: the quorum client calls the local
 * table directly instead of going through the network (as dsync's local locker does).
 */
import type { LockPeer } from "./quorum-mutex.js";
import type { LockTable } from "./lock-table.js";

export function localPeer(name: string, table: LockTable): LockPeer {
  return {
    name,
    lock: (args) => Promise.resolve(table.lock(args)),
    rLock: (args) => Promise.resolve(table.rLock(args)),
    unlock: (args) => Promise.resolve(table.unlock(args)),
    rUnlock: (args) => Promise.resolve(table.rUnlock(args)),
    refresh: (args) => Promise.resolve(table.refresh(args)),
  };
}
