/**
 * A MinIO-dsync-style distributed lock service: every node keeps a local lock table; a client
 * takes a lock by asking every node and counting the grants against a quorum.
 */
import type { Service, Single, Stream } from "tsgrid/idl";

/** Arguments of every lock operation, sent to every node of the quorum. */
export interface LockArgs {
  /** Resources locked together: all or none. */
  resources: string[];
  /** Identifies one acquisition; refresh and unlock must quote it. */
  uid: string;
  /** The node that holds the lock (the one running the client). */
  owner: string;
  /** Where in the client the lock was taken, for operators. */
  source?: string;
  /** How many nodes must grant the lock for it to be held. */
  quorum: number;
}

/** Why a node refused a lock operation. */
export type LockFailure = "conflict" | "not_found" | "expired" | "invalid";

/** One node's answer to a lock operation. */
export interface LockReply {
  /** True when this node granted (or released, refreshed) the lock. */
  ok: boolean;
  /** Why not, when `ok` is false. */
  reason?: LockFailure;
  /** The uid of the lock in the way, null when the resource is free. */
  holder?: string | null;
}

/** What happened to a lock. */
export type LockEventKind = "lock" | "rlock" | "unlock" | "runlock" | "refresh" | "expire" | "force-unlock";

/** Which events a subscriber wants. */
export interface LockEventFilter {
  /** Only resources starting with this prefix. Omitted: every resource. */
  prefix?: string;
  /** Only these kinds. Omitted or empty: every kind. */
  kinds?: LockEventKind[];
}

/** One change of a node's lock table. */
export interface LockEvent {
  /** 1, 2, 3... per node: a gap means the subscriber fell behind and events were dropped. */
  seq: number;
  kind: LockEventKind;
  resource: string;
  uid: string;
  owner: string;
  /** When the change happened. */
  time: Date;
}

/** One lock to keep alive. */
export interface RefreshRequest {
  uid: string;
  resources: string[];
}

/** The answer to one `RefreshRequest`, in order. */
export interface RefreshResult {
  uid: string;
  ok: boolean;
  reason?: LockFailure;
}

/** The lock service every node serves. */
export interface Locker extends Service {
  /** Takes a write lock on every resource, or none. */
  lock: Single<20, LockArgs, LockReply>;
  /** Releases a write lock taken with the same uid. */
  unlock: Single<21, LockArgs, LockReply>;
  /** Takes a read lock on every resource, or none. */
  rLock: Single<22, LockArgs, LockReply>;
  /** Releases a read lock taken with the same uid. */
  rUnlock: Single<23, LockArgs, LockReply>;
  /** Keeps a lock alive; a lock not refreshed within its validity expires. */
  refresh: Single<24, LockArgs, LockReply>;
  /** Releases every lock on the resources, whoever holds them (operator action). */
  forceUnlock: Single<25, LockArgs, LockReply>;
  /** Streams the node's lock table changes that match the filter. */
  lockEvents: Stream<26, { payload: LockEventFilter; out: LockEvent; outCapacity: 256 }>;
  /** Refreshes many locks over one stream: one result per request, in order. */
  refreshMany: Stream<27, { in: RefreshRequest; out: RefreshResult; inCapacity: 64; outCapacity: 64 }>;
}
