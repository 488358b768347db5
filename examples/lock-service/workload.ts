/**
 * What each node of the demo does while it runs: it uses the lock service of every other
 * node, with all three handler forms.
 *
 * - Lock workers (single requests): take a write or read lock on a random shared resource by
 *   quorum across all nodes, hold it briefly (sometimes refreshing it), release it.
 * - Event followers (server streams): one `lockEvents` subscription per peer, checking that
 *   the events arrive in order without gaps.
 * - Lease refreshers (bidirectional streams): the node holds long-lived leases and keeps them
 *   alive through one `refreshMany` stream per peer: a batch of refreshes in, results out.
 *
 * A peer that goes away is not an error for the workload: its calls fail fast with
 * `DisconnectedError` (counted per peer), the quorum carries on without it, and the
 * streams to it are reopened once it is connected again.
 */
import { setMaxListeners } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import type { Manager } from "tsgrid";
import { LockerClient } from "../../generated/locks.js";
import { remotePeer } from "./client.js";
import { localPeer } from "./local-peer.js";
import type { LockTable } from "./lock-table.js";
import type { Metrics } from "./metrics.js";
import { monotonicMs, type CriticalSection } from "./mutual-exclusion.js";
import { QuorumMutex, type LockPeer } from "./quorum-mutex.js";

export interface WorkloadOptions {
  /** Concurrent lock workers on this node. Default: 12 across the cluster, at least 1 per node. */
  workers?: number;
  /** Shared resources the workers compete for. Default 16. */
  resources?: number;
  /** Leases this node holds and refreshes in batches. Default 8. */
  leases?: number;
  /** Period of the lease refresh batches. Default 500 ms. */
  leaseRefreshMs?: number;
  /** How long a worker tries to take a lock before counting it busy. Default 1_000 ms. */
  lockTimeoutMs?: number;
  /**
   * Time the first event follower of the first node spends on each event, to show what a
   * subscriber that cannot keep up costs: nothing but the events it misses. 0 = none.
   * Default 2 ms.
   */
  slowReaderMs?: number;
  /** Deadline of each call to one node: generous, so that an overloaded machine is not an error. Default 5_000 ms. */
  callTimeoutMs?: number;
}

/** A peer of this node: its address and its short label for reports. */
export interface PeerInfo {
  host: string;
  label: string;
}

export class Workload {
  private readonly stop = new AbortController();
  private readonly peers: LockPeer[];
  private readonly remotes: { info: PeerInfo; client: LockerClient }[];
  private readonly leases: QuorumMutex[] = [];
  private readonly o: Required<WorkloadOptions>;
  /** Critical sections run since the last `drainSections()`, for the mutual-exclusion check. */
  private sections: CriticalSection[] = [];
  private readonly isFirstNode: boolean;

  constructor(
    private readonly self: string,
    private readonly manager: Manager,
    private readonly table: LockTable,
    /** Every node of the cluster, this one included, in the same order on every node. */
    cluster: readonly PeerInfo[],
    private readonly metrics: Metrics,
    options: WorkloadOptions = {},
  ) {
    this.o = {
      workers: options.workers ?? Math.max(1, Math.round(12 / cluster.length)),
      resources: options.resources ?? 16,
      leases: options.leases ?? 8,
      leaseRefreshMs: options.leaseRefreshMs ?? 500,
      lockTimeoutMs: options.lockTimeoutMs ?? 1_000,
      callTimeoutMs: options.callTimeoutMs ?? 5_000,
      slowReaderMs: options.slowReaderMs ?? 2,
    };
    // Every stream and wait of the run listens to this one signal: two per peer, and more.
    setMaxListeners(0, this.stop.signal);
    this.remotes = [];
    this.isFirstNode = cluster[0]?.label === self;
    this.peers = cluster.map((info) => {
      if (info.label === self) return localPeer(info.label, table);
      const client = new LockerClient(manager.connection(info.host));
      this.remotes.push({ info, client });
      return remotePeer(info.label, client, metrics);
    });
  }

  /** Stops the run now (this node is about to drain): `run` releases what it holds and returns. */
  stopNow(): void {
    this.stop.abort();
  }

  /** Runs until `until` (ms since the epoch), then releases everything it holds. */
  async run(until: number): Promise<void> {
    const timer = setTimeout(() => this.stop.abort(), Math.max(0, until - Date.now()));
    try {
      await this.takeLeases();
      await Promise.all([
        ...Array.from({ length: this.o.workers }, (_, i) => this.lockWorker(i)),
        ...this.remotes.map((r, i) => this.followEvents(r.info, r.client, i === 0 && this.isFirstNode ? this.o.slowReaderMs : 0)),
        ...this.remotes.map((r) => this.refreshLeases(r.info, r.client)),
        this.refreshLocalLeases(),
        this.operatorCleanup(),
      ]);
    } finally {
      clearTimeout(timer);
      this.stop.abort();
      await Promise.all(this.leases.map((lease) => lease.unlock()));
    }
  }

  /** The critical sections completed since the last call. */
  drainSections(): CriticalSection[] {
    const done = this.sections;
    this.sections = [];
    return done;
  }

  private get stopped(): boolean {
    return this.stop.signal.aborted;
  }

  private mutex(resources: string[], source: string, refreshIntervalMs: number): QuorumMutex {
    return new QuorumMutex(this.peers, resources, {
      owner: this.self,
      source,
      callTimeoutMs: this.o.callTimeoutMs,
      refreshIntervalMs,
      onLost: () => this.metrics.locks.lost++,
    });
  }

  private async takeLeases(): Promise<void> {
    // Refreshed in batches by refreshMany, so no per-lock refresh loop.
    const leases = Array.from({ length: this.o.leases }, (_, i) => this.mutex([`lease/${this.self}/${i}`], "lease", 0));
    const taken = await Promise.all(leases.map((lease) => lease.lock({ timeoutMs: this.o.lockTimeoutMs })));
    this.leases.push(...leases.filter((_, i) => taken[i]));
  }

  private async lockWorker(id: number): Promise<void> {
    for (let round = 0; !this.stopped; round++) {
      const resource = `bucket/object-${Math.floor(Math.random() * this.o.resources)}`;
      const mutex = this.mutex([resource], `worker ${id}`, 1_000);
      const read = Math.random() < 0.25;
      const ok = read ? await mutex.rLock({ timeoutMs: this.o.lockTimeoutMs }) : await mutex.lock({ timeoutMs: this.o.lockTimeoutMs });
      if (!ok) {
        this.metrics.locks.busy++;
        continue;
      }
      this.metrics.locks.acquired++;
      // The critical section. Every 8th round also refreshes explicitly (the single `refresh`).
      const start = monotonicMs();
      const held = round % 8 === 0 ? await mutex.refreshOnce() : true;
      if (held) await sleep(1);
      this.sections.push({ resource, write: !read, owner: this.self, start, end: monotonicMs() });
      await mutex.unlock();
    }
  }

  /** Waits until the peer is connected (or the run ends); false when the run ended. */
  private async connected(host: string): Promise<boolean> {
    const conn = this.manager.connection(host);
    try {
      // A draining peer takes no new stream: wait for its next incarnation (a new link).
      while (conn.peerDraining && !this.stopped) await pause(this.stop.signal);
      await conn.waitConnected({ signal: this.stop.signal });
      return !this.stopped;
    } catch {
      return false;
    }
  }

  /**
   * Follows a peer's lock events. A reader slower than the events (`slowMs` per event) holds
   * the peer's handler at its `yield` (flow control); the peer then drops the oldest events
   * of its bounded buffer, which shows here as gaps in `seq`.
   */
  private async followEvents(peer: PeerInfo, client: LockerClient, slowMs: number): Promise<void> {
    while (!this.stopped && (await this.connected(peer.host))) {
      let stream;
      try {
        stream = await this.metrics.time("lockEvents", peer.label, () => client.lockEvents({}, { signal: this.stop.signal }));
      } catch {
        await pause(this.stop.signal);
        continue;
      }
      let last = 0;
      try {
        for await (const event of stream.responses) {
          this.metrics.message(slowMs > 0 ? "lockEvents in (slow reader)" : "lockEvents in");
          if (last > 0 && event.seq > last + 1) this.metrics.eventGaps += event.seq - last - 1;
          last = event.seq;
          if (slowMs > 0) await sleep(slowMs);
        }
      } catch (err) {
        if (!this.stopped) this.metrics.failure(peer.label, err);
      } finally {
        stream.cancel();
      }
    }
  }

  private async refreshLeases(peer: PeerInfo, client: LockerClient): Promise<void> {
    while (!this.stopped && (await this.connected(peer.host))) {
      let stream;
      try {
        stream = await this.metrics.time("refreshMany", peer.label, () => client.refreshMany({ signal: this.stop.signal }));
      } catch {
        await pause(this.stop.signal);
        continue;
      }
      let sent = 0;
      let answered = 0;
      const results = (async () => {
        for await (const result of stream.responses) {
          answered++;
          this.metrics.message("refreshMany results in");
          // A restarted node lost its table: it answers not_found until the lease is retaken.
          if (!result.ok) this.metrics.message("refreshMany not found");
        }
      })();
      // Handled below; until then a failure must not count as an unhandled rejection.
      results.catch(() => undefined);
      try {
        // #region refresh-client
        const conn = this.manager.connection(peer.host);
        // A peer that announced a drain gets our EOF: it answers what it has, then ends the stream.
        while (!this.stopped && !conn.peerDraining) {
          for (const lease of this.leases) {
            const uid = lease.uid;
            if (uid === undefined) continue;
            await stream.requests.send({ uid, resources: [...lease.resources] });
            sent++;
            this.metrics.message("refreshMany requests out");
          }
          await sleep(this.o.leaseRefreshMs, undefined, { signal: this.stop.signal }).catch(() => undefined);
        }
        stream.requests.close(); // EOF travels after the requests already sent
        await results;
        // #endregion refresh-client
        this.metrics.lostMessages += sent - answered;
      } catch (err) {
        if (!this.stopped) this.metrics.failure(peer.label, err);
        stream.cancel();
        await results.catch(() => undefined);
      }
    }
  }

  /** The node's own share of its leases is refreshed in its table directly. */
  private async refreshLocalLeases(): Promise<void> {
    while (!this.stopped) {
      for (const lease of this.leases) {
        const uid = lease.uid;
        if (uid !== undefined) this.table.refresh({ uid, resources: [...lease.resources] });
      }
      await sleep(this.o.leaseRefreshMs, undefined, { signal: this.stop.signal }).catch(() => undefined);
    }
  }

  /**
   * An operator's clean-up: a lock left behind by a client that crashed right after taking it
   * is removed everywhere with `forceUnlock`, without waiting for it to expire.
   */
  private async operatorCleanup(): Promise<void> {
    const orphan = this.mutex([`orphan/${this.self}`], "crashed client", 0);
    if (!(await orphan.lock({ timeoutMs: this.o.lockTimeoutMs }))) return;
    // The "client" crashes: it never unlocks. The operator clears the lock on every node.
    const args = { uid: "operator", resources: [...orphan.resources], owner: this.self, quorum: 0 };
    await Promise.all(
      this.remotes.map(({ info, client }) =>
        this.metrics.time("forceUnlock", info.label, () => client.forceUnlock(args, { timeoutMs: this.o.callTimeoutMs })).catch(() => undefined),
      ),
    );
    this.table.forceUnlock(args);
  }
}

/** A short pause before retrying a stream, unless the run ends first. */
function pause(signal: AbortSignal): Promise<void> {
  return sleep(100, undefined, { signal }).catch(() => undefined);
}
