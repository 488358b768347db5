/**
 * Watching a cluster (docs/operations.md quotes this file): state events, per-connection
 * stats and the trace hook, on two servers that make a few calls and then lose each other.
 *   npm run build && node dist/examples/operations/observability.js
 */
import { fileURLToPath } from "node:url";
import { Manager, silentLogger, type CallTrace, type ConnectionStats, type HandlerID } from "tsgrid";
import { freePorts } from "../free-ports.js";

const ECHO = 1;
const FAIL = 2;
const COUNT = 3; // a stream: yields 0..n-1

/** A stand-in for a metrics client (Prometheus, StatsD, OpenTelemetry...). */
class Metrics {
  readonly gauges = new Map<string, number>();
  gauge(name: string, value: number, labels: { peer: string }): void {
    this.gauges.set(`${name}{peer="${labels.peer}"}`, value);
  }
}

export interface ObservabilityRun {
  hosts: string[];
  /** Gauges set by the state listener, e.g. `grid_peer_up{peer="ws://..."}`. */
  gauges: Map<string, number>;
  /** Lines the state listener logged. */
  warnings: string[];
  /** States seen by the per-connection listener of the first server. */
  states: string[];
  /** Per handler and direction, from the trace hook of both servers. */
  calls: Map<string, HandlerCalls>;
  /** Every record the trace hook received. */
  records: CallTrace[];
  /** The first server's connection stats after connecting and after the calls. */
  statsBefore: ConnectionStats;
  statsAfter: ConnectionStats;
}

// #region trace
export interface HandlerCalls {
  count: number;
  errors: number;
  totalMs: number;
  bytesIn: number;
  bytesOut: number;
}

/** Totals per handler and direction ("out 1": handler 1 called by this side), for a metrics endpoint to read. */
export function callTotals(): { calls: Map<string, HandlerCalls>; trace: (record: CallTrace) => void } {
  const calls = new Map<string, HandlerCalls>();
  const trace = (record: CallTrace): void => {
    const key = `${record.direction} ${record.handler}`;
    let entry = calls.get(key);
    if (entry === undefined) calls.set(key, (entry = { count: 0, errors: 0, totalMs: 0, bytesIn: 0, bytesOut: 0 }));
    entry.count++;
    if (record.error !== undefined) entry.errors++;
    entry.totalMs += record.durationMs;
    entry.bytesIn += record.bytesIn;
    entry.bytesOut += record.bytesOut;
  };
  return { calls, trace };
}
// #endregion trace

export async function main(): Promise<ObservabilityRun> {
  const hosts = (await freePorts(2)).map((port) => `ws://127.0.0.1:${port}/grid`);
  const metrics = new Metrics();
  const warnings: string[] = [];
  const log = { warn: (line: string) => warnings.push(line) };
  const records: CallTrace[] = [];

  const { calls, trace } = callTotals();

  const managers: Manager[] = [];
  try {
    for (const local of hosts) {
      const manager = new Manager({
        local,
        hosts,
        logger: silentLogger,
        trace: (record) => {
          records.push(record);
          trace(record);
        },
      });
      manager.registerSingle(ECHO, (payload) => payload);
      manager.registerSingle(FAIL, () => {
        throw new Error("disk full");
      });
      manager.registerStream(COUNT, async function* (payload) {
        for (let i = 0; i < (payload?.[0] ?? 0); i++) yield new Uint8Array([i]);
      });
      managers.push(manager);
    }
    const [manager, other] = managers as [Manager, Manager];
    const host = other.local;
    const states: string[] = [];

    // #region state-events
    const off = manager.onStateChange((peer, state, previous, reason) => {
      metrics.gauge("grid_peer_up", state === "connected" ? 1 : 0, { peer });
      if (reason) log.warn(`${peer}: ${previous} -> ${state}: ${reason.message}`);
    });
    // or per connection:
    manager.connection(host).onStateChange((state, previous) => states.push(`${previous} -> ${state}`));
    // #endregion state-events

    await Promise.all(managers.map((m) => m.listen()));
    const conn = manager.connection(host);
    await conn.waitConnected({ signal: AbortSignal.timeout(5_000) });
    const statsBefore = conn.stats;

    for (let i = 0; i < 3; i++) await conn.request(ECHO, new Uint8Array(100));
    await conn.request(FAIL, new Uint8Array(0)).catch(() => {});
    const stream = await conn.newStream(COUNT, new Uint8Array([5]));
    for await (const _ of stream.responses);
    const statsAfter = conn.stats;

    // The peer goes away: the listener sees the link drop, with the reason.
    await other.close();
    await waitFor(() => conn.state !== "connected");
    off();
    return { hosts, gauges: metrics.gauges, warnings, states, calls, records, statsBefore, statsAfter };
  } finally {
    await Promise.all(managers.map((m) => m.close()));
  }
}

async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** One line per handler and direction, like a metrics dashboard would show. */
export function summary(calls: Map<string, HandlerCalls>): string[] {
  const names: Record<HandlerID, string> = { [ECHO]: "echo", [FAIL]: "fail", [COUNT]: "count" };
  return [...calls].map(([key, c]) => {
    const [direction, id] = key.split(" ") as [string, string];
    return `${direction} ${names[Number(id)] ?? id}: ${c.count} calls, ${c.errors} errors, ${c.bytesOut} B out, ${c.bytesIn} B in`;
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const run = await main();
  for (const line of [...summary(run.calls), ...run.warnings]) console.log(line);
}
