/**
 * What one node measures while it runs the workload, as a plain-JSON snapshot the
 * orchestrator merges across nodes (and across a killed node's incarnations).
 */
import { AbortError, DisconnectedError, DrainingError } from "tsgrid";
import { LatencyHistogram, type LatencySnapshot } from "./latency.js";

export interface CallStats {
  calls: number;
  errors: number;
  latency: LatencySnapshot;
}

export interface MetricsSnapshot {
  /** Client side, by handler name: calls made, failures, latency of the successful ones. */
  calls: Record<string, CallStats>;
  /** Server side, by handler name: requests or streams served. */
  served: Record<string, number>;
  /** Stream messages, by stream and direction (e.g. "lockEvents in"). */
  streamMessages: Record<string, number>;
  /** Lock events a subscriber never saw because its buffer on the node overflowed. */
  eventGaps: number;
  /** Quorum rounds: acquired, busy (no quorum before the timeout), lost while held. */
  locks: { acquired: number; busy: number; lost: number };
  /** Calls that failed with DisconnectedError, by peer, with how long they took to fail. */
  disconnected: Record<string, { count: number; latency: LatencySnapshot }>;
  /** Calls that failed with DrainingError (the peer, or this node, was draining: retry elsewhere), by peer. */
  drained: Record<string, number>;
  /** Stream messages sent and never answered or delivered (refreshMany requests without a result). */
  lostMessages: number;
  /** Any other failure (must stay zero): count and the first few messages. */
  unexpected: { count: number; samples: string[] };
}

const MAX_ERROR_SAMPLES = 5;

export class Metrics {
  private readonly calls = new Map<string, { calls: number; errors: number; latency: LatencyHistogram }>();
  private readonly disconnected = new Map<string, { count: number; latency: LatencyHistogram }>();
  readonly served: Record<string, number> = {};
  readonly streamMessages: Record<string, number> = {};
  readonly locks = { acquired: 0, busy: 0, lost: 0 };
  eventGaps = 0;
  lostMessages = 0;
  readonly drained: Record<string, number> = {};
  private readonly unexpected = { count: 0, samples: [] as string[] };

  /** Times one client call to `peer`; failures are classified, then rethrown. */
  async time<T>(handler: string, peer: string, call: () => Promise<T>): Promise<T> {
    const started = performance.now();
    const stats = this.callStats(handler);
    stats.calls++;
    try {
      const result = await call();
      stats.latency.record(performance.now() - started);
      return result;
    } catch (err) {
      stats.errors++;
      this.failure(peer, err, performance.now() - started);
      throw err;
    }
  }

  /**
   * Classifies a failure: DisconnectedError by peer (expected only for a dead peer); an
   * AbortError is this node cancelling its own call (the run ended): not an error; anything
   * else is unexpected.
   */
  failure(peer: string, err: unknown, elapsedMs = 0): void {
    if (err instanceof AbortError) return;
    if (err instanceof DrainingError) {
      this.drained[peer] = (this.drained[peer] ?? 0) + 1;
      return;
    }
    if (err instanceof DisconnectedError) {
      let d = this.disconnected.get(peer);
      if (!d) this.disconnected.set(peer, (d = { count: 0, latency: new LatencyHistogram() }));
      d.count++;
      d.latency.record(elapsedMs);
      return;
    }
    this.unexpectedError(`${peer}: ${err instanceof Error ? err.message : String(err)}`);
  }

  unexpectedError(message: string): void {
    this.unexpected.count++;
    if (this.unexpected.samples.length < MAX_ERROR_SAMPLES) this.unexpected.samples.push(message);
  }

  serve(handler: string): void {
    this.served[handler] = (this.served[handler] ?? 0) + 1;
  }

  message(stream: string, n = 1): void {
    this.streamMessages[stream] = (this.streamMessages[stream] ?? 0) + n;
  }

  snapshot(): MetricsSnapshot {
    const calls: Record<string, CallStats> = {};
    for (const [name, s] of this.calls) calls[name] = { calls: s.calls, errors: s.errors, latency: s.latency.snapshot() };
    const disconnected: MetricsSnapshot["disconnected"] = {};
    for (const [peer, d] of this.disconnected) disconnected[peer] = { count: d.count, latency: d.latency.snapshot() };
    return {
      calls,
      served: { ...this.served },
      streamMessages: { ...this.streamMessages },
      eventGaps: this.eventGaps,
      locks: { ...this.locks },
      disconnected,
      drained: { ...this.drained },
      lostMessages: this.lostMessages,
      unexpected: { count: this.unexpected.count, samples: [...this.unexpected.samples] },
    };
  }

  private callStats(handler: string): { calls: number; errors: number; latency: LatencyHistogram } {
    let s = this.calls.get(handler);
    if (!s) this.calls.set(handler, (s = { calls: 0, errors: 0, latency: new LatencyHistogram() }));
    return s;
  }
}

/** Sums snapshots from several nodes. */
export function mergeSnapshots(snapshots: readonly MetricsSnapshot[]): MetricsSnapshot {
  const out: MetricsSnapshot = {
    calls: {},
    served: {},
    streamMessages: {},
    eventGaps: 0,
    locks: { acquired: 0, busy: 0, lost: 0 },
    disconnected: {},
    drained: {},
    lostMessages: 0,
    unexpected: { count: 0, samples: [] },
  };
  for (const s of snapshots) {
    for (const [name, c] of Object.entries(s.calls)) {
      const into = out.calls[name] ?? { calls: 0, errors: 0, latency: new LatencyHistogram().snapshot() };
      out.calls[name] = {
        calls: into.calls + c.calls,
        errors: into.errors + c.errors,
        latency: LatencyHistogram.from(into.latency).merge(c.latency).snapshot(),
      };
    }
    addCounts(out.served, s.served);
    addCounts(out.streamMessages, s.streamMessages);
    out.eventGaps += s.eventGaps;
    addCounts(out.drained, s.drained ?? {});
    out.lostMessages += s.lostMessages ?? 0;
    out.locks.acquired += s.locks.acquired;
    out.locks.busy += s.locks.busy;
    out.locks.lost += s.locks.lost;
    for (const [peer, d] of Object.entries(s.disconnected)) {
      const into = out.disconnected[peer] ?? { count: 0, latency: new LatencyHistogram().snapshot() };
      out.disconnected[peer] = { count: into.count + d.count, latency: LatencyHistogram.from(into.latency).merge(d.latency).snapshot() };
    }
    out.unexpected.count += s.unexpected.count;
    for (const m of s.unexpected.samples) if (out.unexpected.samples.length < MAX_ERROR_SAMPLES) out.unexpected.samples.push(m);
  }
  return out;
}

function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}
