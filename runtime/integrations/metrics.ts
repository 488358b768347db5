/**
 * `tsgrid/metrics`: Prometheus metrics of a Manager, with prom-client (an optional peer
 * dependency; the core never imports this file).
 *
 *   const metrics = new GridMetrics();          // registers in prom-client's global registry
 *   const manager = new Manager({ ..., interceptors: metrics.interceptors }); // per handler
 *   metrics.observe(manager);                   // per peer, read at scrape time
 *
 * Label values are bounded: `handler` is a name from this process's registry (or
 * `handler_<id>` for an unnamed id this process registered or called), `side` is client or
 * server, `code` is `ok` or one of the closed error codes, `peer` is one of the Manager's
 * configured hosts, `state` one of the four connection states. Nothing a peer sends becomes
 * a label value.
 */
import { Counter, Gauge, register as globalRegistry } from "prom-client";
import type { Metric, Registry } from "prom-client";
import type { Manager } from "../cluster/manager.js";
import type { ConnectionState } from "../connection/connection.js";
import { GridError } from "../errors.js";
import type { CallInfo, ClientInterceptor, Interceptors, ServerInterceptor, StreamObserver } from "../interceptors.js";

export interface GridMetricsOptions {
  /** Where the metrics are registered. Default: prom-client's global registry (`register`). */
  registry?: Registry;
  /** Prefix of every metric name. Default `tsgrid_`. */
  prefix?: string;
  /**
   * Buckets of the call duration histograms, in seconds. Default `DEFAULT_DURATION_BUCKETS`:
   * 100 µs to 60 s (calls inside a cluster take well under a millisecond when healthy).
   */
  durationBuckets?: readonly number[];
}

export const DEFAULT_METRICS_PREFIX = "tsgrid_";
export const DEFAULT_DURATION_BUCKETS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];

type Side = "client" | "server";

/** A non-GridError failure (a bad argument's TypeError, an interceptor's own error). */
const OTHER_ERROR = "other";

/** The outcome label of a failure: the GridError code (a closed set) or `other`. */
function codeOf(err: unknown): string {
  return err instanceof GridError ? err.code : OTHER_ERROR;
}

/**
 * One handler on one side. The call path only adds to plain numbers here (a prom-client
 * child validates and hashes its labels on every update: ~0.5 µs each, several per call);
 * they are copied into the prom-client metrics when the registry is scraped.
 */
class HandlerSeries {
  /** Finished calls by outcome code. */
  readonly calls = new Map<string, number>();
  inFlight = 0;
  /** A stream was seen (stream_messages_total has series only for streams). */
  streams = false;
  sentMessages = 0;
  receivedMessages = 0;
  sentBytes = 0;
  receivedBytes = 0;
  /** Observations per bucket (not cumulative), the last one for +Inf. */
  readonly buckets: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly side: Side,
    readonly handler: string,
    private readonly bounds: readonly number[],
  ) {
    this.buckets = new Float64Array(bounds.length + 1);
  }

  finished(code: string, started: number): void {
    this.calls.set(code, (this.calls.get(code) ?? 0) + 1);
    const seconds = (performance.now() - started) / 1000;
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && seconds > bounds[i]!) i++;
    this.buckets[i]!++;
    this.sum += seconds;
    this.count++;
    this.inFlight--;
  }
}

/** Series per handler id of one side; the label is the handler's name once it has one. */
class SideSeries {
  private readonly byId: (HandlerSeries | undefined)[] = [];
  /** Every series made, renamed ones included (their counts stay exported). */
  readonly all: HandlerSeries[] = [];
  constructor(
    private readonly side: Side,
    private readonly bounds: readonly number[],
  ) {}
  of(call: CallInfo): HandlerSeries {
    const cached = this.byId[call.handler];
    const name = call.handlerName;
    if (cached !== undefined && (name === undefined || cached.handler === name)) return cached;
    const label = name ?? `handler_${call.handler}`;
    let series = this.all.find((s) => s.handler === label);
    if (series === undefined) {
      series = new HandlerSeries(this.side, label, this.bounds);
      this.all.push(series);
    }
    this.byId[call.handler] = series;
    return series;
  }
}

/** Ends a stream's measurement once: outcome, duration, in-flight; counts its messages. */
class StreamMeasure implements StreamObserver {
  private done = false;
  constructor(
    private readonly series: HandlerSeries,
    private readonly started: number,
  ) {}
  onMessage(direction: "in" | "out", bytes: number): void {
    if (direction === "out") {
      this.series.sentMessages++;
      this.series.sentBytes += bytes;
    } else {
      this.series.receivedMessages++;
      this.series.receivedBytes += bytes;
    }
  }
  onEnd(error: GridError | undefined): void {
    this.end(error === undefined ? "ok" : error.code);
  }
  end(code: string): void {
    if (this.done) return;
    this.done = true;
    this.series.finished(code, this.started);
  }
}

/**
 * The call duration histogram, exported from the HandlerSeries buckets. A registry metric of
 * its own (prom-client's documented metric shape: name, help, type, get()) because
 * prom-client's Histogram can only be fed one observation at a time through its labels.
 */
class DurationHistogram {
  readonly type = "histogram";
  readonly aggregator = "sum";
  readonly labelNames = ["side", "handler"];
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
    private readonly sides: readonly SideSeries[],
  ) {}

  get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: { metricName: string; labels: Record<string, string | number>; value: number }[] }> {
    const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
    const bucket = `${this.name}_bucket`;
    for (const side of this.sides) {
      for (const s of side.all) {
        let cumulative = 0;
        for (let i = 0; i < this.bounds.length; i++) {
          cumulative += s.buckets[i]!;
          values.push({ metricName: bucket, labels: { side: s.side, handler: s.handler, le: this.bounds[i]! }, value: cumulative });
        }
        values.push({ metricName: bucket, labels: { side: s.side, handler: s.handler, le: "+Inf" }, value: s.count });
        values.push({ metricName: `${this.name}_sum`, labels: { side: s.side, handler: s.handler }, value: s.sum });
        values.push({ metricName: `${this.name}_count`, labels: { side: s.side, handler: s.handler }, value: s.count });
      }
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  /**
   * `registry.resetMetrics()` leaves it (and the other call series) as is: they are totals
   * since this GridMetrics was made, and Prometheus computes rates from totals.
   */
  reset(): void {}
}

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
  /**
   * Counts every call per handler and side: give them to the Manager
   * (`interceptors: metrics.interceptors`, or spread next to others).
   */
  readonly interceptors: Required<Interceptors>;
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

    // ---- per handler and side, counted by the interceptors, copied at scrape time -------
    const bounds = [...(options.durationBuckets ?? DEFAULT_DURATION_BUCKETS)];
    if (bounds.length === 0 || bounds.some((b, i) => !(b > 0 && Number.isFinite(b)) || (i > 0 && b <= bounds[i - 1]!))) {
      throw new RangeError("option durationBuckets must be increasing positive numbers");
    }
    const client = new SideSeries("client", bounds);
    const server = new SideSeries("server", bounds);
    const sides = [client, server];
    const each = (fn: (s: HandlerSeries) => void): void => {
      for (const side of sides) for (const s of side.all) fn(s);
    };
    new Counter({
      name: name("calls_total"),
      help: "Finished calls (single requests and streams) by handler, side and outcome code (ok or the error code).",
      labelNames: ["side", "handler", "code"],
      registers,
      collect() {
        this.reset();
        each((s) => {
          for (const [code, n] of s.calls) this.inc({ side: s.side, handler: s.handler, code }, n);
        });
      },
    });
    const duration = new DurationHistogram(
      name("call_duration_seconds"),
      "Call duration by handler and side: a single until its answer, a stream until it ends.",
      bounds,
      sides,
    );
    // A metric of prom-client's documented shape that is not one of its classes.
    this.registry.registerMetric(duration as unknown as Metric);
    new Gauge({
      name: name("calls_in_flight"),
      help: "Calls started and not finished, by handler and side.",
      labelNames: ["side", "handler"],
      registers,
      collect() {
        this.reset();
        each((s) => this.set({ side: s.side, handler: s.handler }, s.inFlight));
      },
    });
    new Counter({
      name: name("stream_messages_total"),
      help: "Stream messages by handler, side and direction (sent or received by this side).",
      labelNames: ["side", "handler", "direction"],
      registers,
      collect() {
        this.reset();
        each((s) => {
          if (!s.streams) return;
          this.inc({ side: s.side, handler: s.handler, direction: "sent" }, s.sentMessages);
          this.inc({ side: s.side, handler: s.handler, direction: "received" }, s.receivedMessages);
        });
      },
    });
    new Counter({
      name: name("payload_bytes_total"),
      help: "Payload bytes by handler, side and direction: requests, answers and stream messages (not the framing).",
      labelNames: ["side", "handler", "direction"],
      registers,
      collect() {
        this.reset();
        each((s) => {
          this.inc({ side: s.side, handler: s.handler, direction: "sent" }, s.sentBytes);
          this.inc({ side: s.side, handler: s.handler, direction: "received" }, s.receivedBytes);
        });
      },
    });
    this.interceptors = { client: [clientInterceptor(client)], server: [serverInterceptor(server)] };

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

function clientInterceptor(sides: SideSeries): ClientInterceptor {
  return (next) => async (call) => {
    const series = sides.of(call);
    const started = performance.now();
    series.inFlight++;
    if (call.payload !== undefined) series.sentBytes += call.payload.byteLength;
    if (call.stream) {
      series.streams = true;
      const measure = new StreamMeasure(series, started);
      call.observe(measure);
      try {
        return await next(call);
      } catch (err) {
        measure.end(codeOf(err));
        throw err;
      }
    }
    let code = "ok";
    try {
      const answer = (await next(call)) as Uint8Array;
      series.receivedBytes += answer.byteLength;
      return answer;
    } catch (err) {
      code = codeOf(err);
      throw err;
    } finally {
      series.finished(code, started);
    }
  };
}

function serverInterceptor(sides: SideSeries): ServerInterceptor {
  return (next) => async (call) => {
    const series = sides.of(call);
    const started = performance.now();
    series.inFlight++;
    if (call.payload !== undefined) series.receivedBytes += call.payload.byteLength;
    if (call.stream) {
      series.streams = true;
      const measure = new StreamMeasure(series, started);
      call.observe(measure);
      try {
        return await next(call);
      } catch (err) {
        measure.end(codeOf(GridError.from(err)));
        throw err;
      }
    }
    let code = "ok";
    try {
      const answer = (await next(call)) as Uint8Array;
      if (answer instanceof Uint8Array) series.sentBytes += answer.byteLength; // else the mux fails the call
      return answer;
    } catch (err) {
      code = codeOf(GridError.from(err)); // what the caller will get: a handler's own Error is `remote`
      throw err;
    } finally {
      series.finished(code, started);
    }
  };
}
