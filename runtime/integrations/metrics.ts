/**
 * `tsgrid/metrics`: Prometheus metrics of a Manager, with prom-client (an optional peer
 * dependency; the core never imports this file).
 *
 *   const metrics = new GridMetrics();          // registers in prom-client's global registry
 *   metrics.observe(manager);                   // per-peer gauges, read at scrape time
 *
 * Label values are bounded: `peer` is one of the Manager's configured hosts, never a string a
 * peer sent; `state` is one of the four connection states.
 */
import { Counter, Gauge, register as globalRegistry } from "prom-client";
import type { Registry } from "prom-client";
import type { Manager } from "../cluster/manager.js";
import type { ConnectionState } from "../connection/connection.js";

export interface GridMetricsOptions {
  /** Where the metrics are registered. Default: prom-client's global registry (`register`). */
  registry?: Registry;
  /** Prefix of every metric name. Default `tsgrid_`. */
  prefix?: string;
}

export const DEFAULT_METRICS_PREFIX = "tsgrid_";

const STATES: readonly ConnectionState[] = ["disconnected", "connecting", "connected", "closed"];

/** A counter kept in step with a monotonic number read at scrape time (stats since creation). */
class MirroredCounter {
  private readonly seen = new Map<string, number>();
  constructor(readonly counter: Counter<"peer">) {}
  update(peer: string, value: number): void {
    const last = this.seen.get(peer);
    if (last === undefined || value > last) this.counter.inc({ peer }, value - (last ?? 0)); // inc(0) creates the series
    this.seen.set(peer, value);
  }
}

export class GridMetrics {
  readonly registry: Registry;
  readonly prefix: string;
  private manager: Manager | undefined;
  private offState: (() => void) | undefined;
  private readonly metricNames: string[] = [];
  private readonly peerConnected: Gauge<"peer">;
  private readonly peerState: Gauge<"peer" | "state">;
  private readonly peerDisconnects: Counter<"peer">;
  private readonly peerReconnects: MirroredCounter;
  private readonly peerSentBytes: MirroredCounter;
  private readonly peerReceivedBytes: MirroredCounter;

  constructor(options: GridMetricsOptions = {}) {
    this.registry = options.registry ?? globalRegistry;
    const prefix = options.prefix ?? DEFAULT_METRICS_PREFIX;
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(prefix)) throw new RangeError(`metrics prefix ${JSON.stringify(prefix)} is not a valid Prometheus name prefix`);
    this.prefix = prefix;
    const registers = [this.registry];
    const name = (n: string): string => {
      const full = prefix + n;
      if (this.registry.getSingleMetric(full) !== undefined) {
        throw new RangeError(
          `metric ${full} is already registered: give each GridMetrics its own registry (or prefix), ` +
            "e.g. one per Manager when several run in one process",
        );
      }
      this.metricNames.push(full);
      return full;
    };

    // ---- per peer, read from the Manager at scrape time ---------------------------------
    // Every one refreshes all (a few numbers per peer): each is right however it is read
    // (a whole scrape, or `getSingleMetric(...).get()`).
    const collect = (): void => this.collectPeers();
    this.peerConnected = new Gauge({
      name: name("peer_connected"),
      help: "1 while the link to the peer is up, else 0.",
      labelNames: ["peer"],
      registers,
      collect,
    });
    this.peerState = new Gauge({
      name: name("peer_state"),
      help: "The connection's state: 1 for the current state, 0 for the others.",
      labelNames: ["peer", "state"],
      registers,
      collect,
    });
    this.peerDisconnects = new Counter({
      name: name("peer_disconnects_total"),
      help: "Times the link to the peer went down (left the connected state).",
      labelNames: ["peer"],
      registers,
      collect,
    });
    this.peerReconnects = new MirroredCounter(
      new Counter({
        name: name("peer_reconnects_total"),
        help: "Links attached to the peer after the first one.",
        labelNames: ["peer"],
        registers,
        collect,
      }),
    );
    this.peerRtt = new Gauge({
      name: name("peer_rtt_seconds"),
      help: "Last connection-level ping round trip to the peer (absent before the first pong).",
      labelNames: ["peer"],
      registers,
      collect,
    });
    this.peerQueuedBytes = new Gauge({
      name: name("peer_queued_bytes"),
      help: "Bytes queued for the peer and not yet written to the socket.",
      labelNames: ["peer"],
      registers,
      collect,
    });
    this.peerWaitingForRoom = new Gauge({
      name: name("peer_calls_waiting_for_room"),
      help: "Calls to the peer waiting for room in the outgoing queue (maxQueuedBytes).",
      labelNames: ["peer"],
      registers,
      collect,
    });
    this.peerAwaitingCredit = new Gauge({
      name: name("peer_streams_awaiting_credit"),
      help: "Open streams with the peer whose sender waits for the receiver's credits.",
      labelNames: ["peer"],
      registers,
      collect,
    });
    this.peerInFlight = new Gauge({
      name: name("peer_calls_in_flight"),
      help: "Calls and streams open with the peer, both directions.",
      labelNames: ["peer"],
      registers,
      collect,
    });
    this.peerSentBytes = new MirroredCounter(
      new Counter({
        name: name("peer_sent_bytes_total"),
        help: "Bytes written to the link to the peer (frames and framing).",
        labelNames: ["peer"],
        registers,
        collect,
      }),
    );
    this.peerReceivedBytes = new MirroredCounter(
      new Counter({
        name: name("peer_received_bytes_total"),
        help: "Bytes read from the link to the peer (frames and framing).",
        labelNames: ["peer"],
        registers,
        collect,
      }),
    );
  }

  private readonly peerRtt: Gauge<"peer">;
  private readonly peerQueuedBytes: Gauge<"peer">;
  private readonly peerWaitingForRoom: Gauge<"peer">;
  private readonly peerAwaitingCredit: Gauge<"peer">;
  private readonly peerInFlight: Gauge<"peer">;

  /**
   * Exports `manager`'s per-peer metrics (read from its connections at each scrape) and counts
   * its peers' disconnects. One Manager per GridMetrics: peers of two Managers in one
   * registry would share series.
   */
  observe(manager: Manager): this {
    if (this.manager !== undefined) throw new Error("GridMetrics already observes a Manager: use one GridMetrics per Manager");
    this.manager = manager;
    for (const peer of manager.peers) this.peerDisconnects.inc({ peer }, 0); // present from the start
    this.offState = manager.onStateChange((peer, state, previous) => {
      if (previous === "connected" && state !== "connected") this.peerDisconnects.inc({ peer });
    });
    return this;
  }

  /** Stops observing and removes every metric of this GridMetrics from its registry. */
  close(): void {
    this.offState?.();
    this.offState = undefined;
    this.manager = undefined;
    for (const name of this.metricNames) this.registry.removeSingleMetric(name);
    this.metricNames.length = 0;
  }

  private collectPeers(): void {
    const manager = this.manager;
    if (manager === undefined) return;
    for (const peer of manager.peers) {
      const conn = manager.connection(peer);
      const state = conn.state;
      const stats = conn.stats;
      this.peerConnected.set({ peer }, state === "connected" ? 1 : 0);
      for (const s of STATES) this.peerState.set({ peer, state: s }, s === state ? 1 : 0);
      this.peerReconnects.update(peer, stats.reconnects);
      if (stats.rttMs === undefined) this.peerRtt.remove({ peer });
      else this.peerRtt.set({ peer }, stats.rttMs / 1000);
      this.peerQueuedBytes.set({ peer }, stats.queuedBytes);
      this.peerWaitingForRoom.set({ peer }, stats.waitingForRoom);
      this.peerAwaitingCredit.set({ peer }, stats.awaitingCredit);
      this.peerInFlight.set({ peer }, stats.inFlight);
      this.peerSentBytes.update(peer, stats.bytesOut);
      this.peerReceivedBytes.update(peer, stats.bytesIn);
    }
  }
}
