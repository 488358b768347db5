/**
 * The lock service's client side: a node of the cluster, reached through its generated
 * `LockerClient`, seen as a `LockPeer` by the quorum mutex.
 */
import type { CallOptions } from "tsgrid";
import type { LockerClient, LockReply } from "../../generated/locks.js";
import type { Metrics } from "./metrics.js";
import type { LockPeer, QuorumLockArgs } from "./quorum-mutex.js";

type SingleMethod = "lock" | "rLock" | "unlock" | "rUnlock" | "refresh";

/** `name` labels the node in metrics; every call is timed when `metrics` is given. */
export function remotePeer(name: string, client: LockerClient, metrics?: Metrics): LockPeer {
  const call = (method: SingleMethod) => {
    const invoke = (args: QuorumLockArgs, opts: CallOptions): Promise<LockReply> => client[method](args, opts);
    return metrics
      ? (args: QuorumLockArgs, opts: CallOptions): Promise<boolean> => metrics.time(method, name, () => invoke(args, opts)).then(granted)
      : (args: QuorumLockArgs, opts: CallOptions): Promise<boolean> => invoke(args, opts).then(granted);
  };
  return {
    name,
    lock: call("lock"),
    rLock: call("rLock"),
    unlock: call("unlock"),
    rUnlock: call("rUnlock"),
    refresh: call("refresh"),
  };
}

function granted(reply: LockReply): boolean {
  return reply.ok;
}
