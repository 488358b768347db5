/**
 * The lock service under seeded faults: N nodes on a `tsgrid/testing` cluster, each with its
 * LockTable and the generated Locker service, each running a worker that takes a write lock
 * through the QuorumMutex (its own table plus every other node over tsgrid), holds it for a
 * few ms, and releases it, while `cluster.chaos` partitions, cuts, slows, stalls, crashes and
 * powers off nodes. Afterwards every fault is over, and the run reports what a property test
 * checks: overlapping critical sections, calls that outlived their deadline, nodes that did
 * not rejoin, and nodes that could not take the lock once healed.
 *
 * The lock tables survive restarts (as a service that persisted its locks would): a node that
 * forgets the locks it granted can break any quorum lock, which is not the bug sought here.
 */
import { LockerClient, registerLocker } from "../../generated/locks.js";
import { createTestCluster, type ChaosResult, type FaultKind, type TestCluster } from "tsgrid/testing";
import type { CallOptions } from "tsgrid";
import { LockTable } from "../../examples/lock-service/lock-table.js";
import { localPeer } from "../../examples/lock-service/local-peer.js";
import { remotePeer } from "../../examples/lock-service/client.js";
import { checkMutualExclusion, type CriticalSection } from "../../examples/lock-service/mutual-exclusion.js";
import { QuorumMutex, type LockPeer, type QuorumLockArgs } from "../../examples/lock-service/quorum-mutex.js";
import { LockService } from "../../examples/lock-service/server.js";

export type Variant =
  /** The lock service as shipped: a write quorum of n/2+1. */
  | "correct"
  /** A write quorum of n/2: two halves can both lock. */
  | "half-quorum"
  /** A node that does not answer in time counts as a grant: safe only while nothing fails. */
  | "unreachable-grants"
  /** The client forgets to pass its deadline on: calls wait for the link to die instead. */
  | "deadline-dropped";

export interface ScenarioOptions {
  seed: number;
  variant: Variant;
  nodes?: number;
  /** Simulated ms of faults. Default 4000. */
  chaosMs?: number;
  /** Default: every fault kind. [] runs without faults (the same workload, as a control). */
  faults?: readonly FaultKind[];
}

export interface ScenarioResult {
  seed: number;
  chaos: ChaosResult;
  sections: CriticalSection[];
  overlaps: number;
  /** Calls and lock attempts that ended later than their deadline allows. */
  lateCalls: string[];
  /** Pairs not connected within REJOIN_MS after the faults ended. */
  notRejoined: string[];
  /** Simulated ms from the end of the faults until every pair was connected again. */
  rejoinMs: number;
  /** Nodes that could not take the lock after the heal. */
  stuckAfterHeal: string[];
  /** Lock attempts and grants during the run. */
  attempts: number;
  acquired: number;
  /** Simulated ms the whole run took. */
  simulatedMs: number;
  report: string;
}

const RESOURCES = ["r0", "r1"];
const CALL_TIMEOUT_MS = 300;
const ACQUIRE_TIMEOUT_MS = 500;
const RETRY_MIN_MS = 5;
const RETRY_MAX_MS = 40;
/**
 * A lock not refreshed expires on a node after this. Safe while it outlasts any critical
 * section counted from the grant: a grant is at most one call deadline old when the quorum is
 * reached, and a section lasts at most HOLD_MAX_MS (the workers do not refresh).
 */
const LOCK_VALIDITY_MS = 1_500;
const HOLD_MAX_MS = 20;
const CHAOS_MS = 1_500;
/** A call may end this much after its deadline: the deadline wheel's resolution, rounded up. */
const DEADLINE_SLACK_MS = 10;
/** After the faults, every pair must be connected within this (ping timeout + backoff + dial). */
export const REJOIN_MS = 5_000;
/** After the faults, every node must get the lock within this (stale grants expire first). */
const FINAL_LOCK_MS = LOCK_VALIDITY_MS + 2_000;

export async function runLockScenario(options: ScenarioOptions): Promise<ScenarioResult> {
  const n = options.nodes ?? 3;
  // Made in `setup`, once the cluster's clock runs: a table reads `Date.now` when it is made,
  // and one made before would keep the real clock while the cluster runs on simulated time.
  const tables: LockTable[] = [];
  const cluster = await createTestCluster({
    nodes: n,
    seed: options.seed,
    // Faults are found within a second: the chaos window is short.
    manager: { pingIntervalMs: 250, pingTimeoutMs: 1_000 },
    setup: (node) => {
      tables[node.index] ??= new LockTable({ validityMs: LOCK_VALIDITY_MS });
      registerLocker(node.manager, new LockService(tables[node.index]!));
    },
  });
  try {
    return await scenario(cluster, tables, options);
  } finally {
    await cluster.close();
  }
}

async function scenario(cluster: TestCluster, tables: LockTable[], options: ScenarioOptions): Promise<ScenarioResult> {
  const n = tables.length;
  const sections: CriticalSection[] = [];
  const lateCalls: string[] = [];
  let attempts = 0;
  let acquired = 0;
  let stopping = false;
  const sweep = setInterval(() => {
    for (const table of tables) table.expireStale();
  }, 100);

  /** A node's view of every node: its own table directly, the others through tsgrid. */
  const peersOf = (i: number): LockPeer[] => {
    const node = cluster.nodes[i]!;
    const manager = node.manager;
    return cluster.nodes.map((other, j) => {
      if (j === i) return localPeer(node.name, tables[i]!);
      const client = remotePeer(other.name, new LockerClient(manager.connection(other.name)));
      const remote = watchDeadlines(options.variant === "deadline-dropped" ? withoutDeadlines(client) : client, cluster, lateCalls);
      return options.variant === "unreachable-grants" ? optimistic(remote) : remote;
    });
  };
  const mutexFor = (i: number, resource: string): QuorumMutex =>
    new QuorumMutex(peersOf(i), [resource], {
      owner: `node${i + 1}`,
      callTimeoutMs: CALL_TIMEOUT_MS,
      retryMinMs: RETRY_MIN_MS,
      retryMaxMs: RETRY_MAX_MS,
      refreshIntervalMs: 0,
      ...(options.variant === "half-quorum" ? { writeQuorum: Math.floor(n / 2) } : {}),
    });

  /** When node `i` last died at or after `since` (its critical section ended then). */
  const diedAt = (i: number, since: number): number | undefined => {
    const short = new URL(cluster.nodes[i]!.name).host;
    return cluster.faultLog.find((e) => (e.action === "crash" || e.action === "power-off") && e.detail === short && e.atMs >= since)?.atMs;
  };

  const worker = async (i: number): Promise<void> => {
    let k = 0;
    while (!stopping) {
      const node = cluster.nodes[i]!;
      if (node.state !== "up") {
        await cluster.sleep(25);
        continue;
      }
      const instance = node.instanceId;
      const resource = RESOURCES[(i + k++) % RESOURCES.length]!;
      const mutex = mutexFor(i, resource);
      attempts++;
      const t0 = cluster.now();
      const ok = await mutex.lock({ timeoutMs: ACQUIRE_TIMEOUT_MS });
      const took = cluster.now() - t0;
      // The acquire's own bound: its timeout, plus one last round of calls and one pause.
      if (took > ACQUIRE_TIMEOUT_MS + CALL_TIMEOUT_MS + RETRY_MAX_MS + DEADLINE_SLACK_MS) {
        lateCalls.push(`node${i + 1} lock() took ${took} ms`);
      }
      const alive = (): boolean => node.state === "up" && node.instanceId === instance;
      if (ok) {
        acquired++;
        const start = cluster.now();
        await cluster.sleep(1 + Math.floor(Math.random() * HOLD_MAX_MS));
        let end = cluster.now();
        if (!alive()) {
          // The process died while holding the lock: its section ended with it.
          end = Math.min(end, diedAt(i, start) ?? end);
        } else {
          const u0 = cluster.now();
          await mutex.unlock();
          if (cluster.now() - u0 > CALL_TIMEOUT_MS + DEADLINE_SLACK_MS) lateCalls.push(`node${i + 1} unlock() took ${cluster.now() - u0} ms`);
        }
        sections.push({ resource, write: true, owner: `node${i + 1}`, start, end });
      }
      await cluster.sleep(20 + Math.floor(Math.random() * 130));
    }
  };

  const workers = cluster.nodes.map((_, i) => worker(i));
  const chaos = await cluster.chaos({
    durationMs: options.chaosMs ?? CHAOS_MS,
    gapMs: [20, 200],
    faultMs: [50, 800],
    ...(options.faults === undefined ? {} : { faults: options.faults }),
  });
  stopping = true;
  await Promise.all(workers);

  // Every fault is over: every node must rejoin, then take the lock.
  const healedAt = cluster.now();
  const notRejoined: string[] = [];
  try {
    await cluster.waitConnected({ timeoutMs: REJOIN_MS });
  } catch {
    for (const [a, b] of cluster.disconnectedPairs()) notRejoined.push(`${a}->${b}`);
  }
  const rejoinMs = cluster.now() - healedAt;
  const stuckAfterHeal: string[] = [];
  if (notRejoined.length === 0) {
    for (let i = 0; i < n; i++) {
      const mutex = mutexFor(i, RESOURCES[0]!);
      if (await mutex.lock({ timeoutMs: FINAL_LOCK_MS })) await mutex.unlock();
      else stuckAfterHeal.push(`node${i + 1}`);
    }
  }
  clearInterval(sweep);
  const overlaps = checkMutualExclusion(sections).overlapCount;
  return {
    seed: cluster.seed,
    chaos,
    sections,
    overlaps,
    lateCalls,
    notRejoined,
    rejoinMs,
    stuckAfterHeal,
    attempts,
    acquired,
    simulatedMs: cluster.now(),
    report: cluster.report(),
  };
}

/** Records any call of `peer` that ends later than its deadline allows. */
function watchDeadlines(peer: LockPeer, cluster: TestCluster, late: string[]): LockPeer {
  const wrap =
    (method: "lock" | "rLock" | "unlock" | "rUnlock" | "refresh") =>
    async (args: QuorumLockArgs, opts: CallOptions): Promise<boolean> => {
      const t0 = cluster.now();
      try {
        return await peer[method](args, opts);
      } finally {
        const took = cluster.now() - t0;
        if (took > (opts.timeoutMs ?? Infinity) + DEADLINE_SLACK_MS) late.push(`${method} to ${peer.name} took ${took} ms (deadline ${opts.timeoutMs} ms)`);
      }
    };
  return { name: peer.name, lock: wrap("lock"), rLock: wrap("rLock"), unlock: wrap("unlock"), rUnlock: wrap("rUnlock"), refresh: wrap("refresh") };
}

/** The broken idea: a node that fails to answer is assumed to have granted the lock. */
function optimistic(peer: LockPeer): LockPeer {
  return { ...peer, lock: (args, opts) => peer.lock(args, opts).catch(() => true) };
}

/** The other broken idea: calls sent without the caller's deadline. */
function withoutDeadlines(peer: LockPeer): LockPeer {
  return {
    name: peer.name,
    lock: (args) => peer.lock(args, {}),
    rLock: (args) => peer.rLock(args, {}),
    unlock: (args) => peer.unlock(args, {}),
    rUnlock: (args) => peer.rUnlock(args, {}),
    refresh: (args) => peer.refresh(args, {}),
  };
}
