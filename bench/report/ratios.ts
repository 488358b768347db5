/**
 * The issue's targets as ratios between rows of ONE run (absolute numbers drift on shared
 * machines; ratios measured side by side do not, much).
 */
export interface RowResult {
  id: string;
  title: string;
  group: string;
  unit: string;
  params: Record<string, number | string | boolean>;
  /** Operations per second. */
  throughput: number;
  ops: number;
  elapsedMs: number;
  p50Us: number | undefined;
  p99Us: number | undefined;
  /** CPU µs per operation: client and server processes. */
  clientCpuPerOpUs: number;
  serverCpuPerOpUs: number | undefined;
  clientMaxRssMiB: number;
  serverMaxRssMiB: number | undefined;
  extra?: Record<string, number | string | boolean>;
  error?: string;
  /** What the error means (bench/lib/verdict.ts): a slow row warns in quick mode, a broken one fails. */
  errorKind?: "slow" | "broken";
  skipped?: string;
}

export interface RatioDef {
  name: string;
  /** Row whose metric is divided... */
  row: string;
  /** ...by this reference row's. */
  ref: string;
  /** throughput: ops/s; p50: median latency; cpu: CPU µs per operation, client + server. */
  metric: "throughput" | "p50" | "cpu";
  /** The issue's target for the ratio, when it sets one. */
  target?: number;
  /** Take the ratio from this `extra` number of `row` (measured within one process) when present. */
  fromExtra?: string;
  /** "higher": ratio >= target passes; "lower": ratio <= target passes. */
  better: "higher" | "lower";
  /** Where the target comes from (issue #12, or a round-1 goal kept); only with `target`. */
  goal?: string;
  /** A ratio without a target that the chart shows too (defaults against tuned...). */
  chart?: boolean;
}

export interface Ratio extends RatioDef {
  value: number | undefined;
  pass: boolean | undefined;
  /** Why there is no value: "row missing: <id>" (not in this run), "<id> failed", "<id> skipped". */
  missing?: string;
}

export const ISSUE12 = "#12";
export const ROUND1 = "round 1";

/**
 * Every ratio the report shows. A target whose row does not exist (yet) shows "row missing:
 * <id>", never a pass; docs/performance.md lists the row ids the #12 targets need.
 */
export const RATIO_DEFS: RatioDef[] = [
  // Issue #12's targets (round 2).
  { name: "single, 128 in flight, 32 B vs ws merged", row: "tsgrid.single.c128.b32", ref: "ws.merged.c128.b32", metric: "throughput", target: 0.6, better: "higher", goal: ISSUE12 },
  { name: "typed client vs raw bytes, 128 in flight, 32 B", row: "tsgrid.typed.c128.b32", ref: "tsgrid.single.c128.b32", metric: "throughput", target: 0.9, better: "higher", goal: ISSUE12 },
  { name: "typed client vs raw bytes, 128 in flight, 1 KiB", row: "tsgrid.typed.c128.b1024", ref: "tsgrid.single.c128.b1024", metric: "throughput", target: 0.9, better: "higher", goal: ISSUE12 },
  { name: "single, 128 in flight, 16 KiB vs ws unbatched", row: "tsgrid.single.c128.b16384", ref: "ws.echo.c128.b16384", metric: "throughput", target: 1, better: "higher", goal: ISSUE12 },
  { name: "single, 128 in flight, 64 KiB vs ws unbatched", row: "tsgrid.single.c128.b65536", ref: "ws.echo.c128.b65536", metric: "throughput", target: 1, better: "higher", goal: ISSUE12 },
  { name: "single, 16 in flight, 1 MiB vs ws unbatched", row: "tsgrid.single.c16.b1048576", ref: "ws.echo.c16.b1048576", metric: "throughput", target: 1, better: "higher", goal: ISSUE12 },
  { name: "bidi echo (default capacities), 32 B vs ws one-stream", row: "tsgrid.bidi.b32", ref: "ws.stream.b32", metric: "throughput", target: 3, better: "higher", goal: ISSUE12 },
  { name: "mesh: CPU per call, 8-node mesh vs one pair at the same in-flight per link", row: "tsgrid.mesh.n8", ref: "tsgrid.mesh.pair.c2", metric: "cpu", target: 1.5, better: "lower", goal: ISSUE12 },
  // Round 1's targets that still hold.
  { name: "single, 128 in flight, 32 B vs ws unbatched", row: "tsgrid.single.c128.b32", ref: "ws.echo.c128.b32", metric: "throughput", target: 4, better: "higher", goal: ROUND1 },
  { name: "single, 128 in flight, 32 B vs grpc-js unary", row: "tsgrid.single.c128.b32", ref: "grpc.unary.c128.b32", metric: "throughput", target: 100, better: "higher", goal: ROUND1 },
  { name: "single, 1 in flight, 32 B: p50 vs ws", row: "tsgrid.single.c1.b32", ref: "ws.echo.c1.b32", metric: "p50", target: 1.25, better: "lower", goal: ROUND1 },
  { name: "bidi echo (capacities 128, the default since #12), 32 B vs ws one-stream", row: "tsgrid.bidi.b32", ref: "ws.stream.b32", metric: "throughput", target: 2, better: "higher", goal: ROUND1 },
  { name: "bidi echo (capacities 128, the default since #12), 32 B vs grpc-js bidi", row: "tsgrid.bidi.b32", ref: "grpc.bidi.b32", metric: "throughput", target: 6, better: "higher", goal: ROUND1 },
  { name: "generated codec vs msgpackr", row: "codec.generated", ref: "codec.msgpackr", metric: "throughput", target: 1, better: "higher", fromExtra: "vs msgpackr, interleaved", goal: ROUND1 },
  // Context (no target): how the references and the other rows compare.
  { name: "typed client (NodeStatus, 71-79 B) vs raw bytes 32 B, 128 in flight", row: "tsgrid.typed.c128.status", ref: "tsgrid.single.c128.b32", metric: "throughput", better: "higher" },
  { name: "CPU per call: typed client vs raw bytes, 128 in flight, 32 B", row: "tsgrid.typed.c128.b32", ref: "tsgrid.single.c128.b32", metric: "cpu", better: "lower" },
  { name: "CPU per call: typed client vs raw bytes, 128 in flight, 1 KiB", row: "tsgrid.typed.c128.b1024", ref: "tsgrid.single.c128.b1024", metric: "cpu", better: "lower" },
  { name: "bidi echo (default capacities), 32 B vs grpc-js bidi", row: "tsgrid.bidi.b32", ref: "grpc.bidi.b32", metric: "throughput", better: "higher" },
  { name: "single, 128 in flight, 1 KiB vs ws unbatched", row: "tsgrid.single.c128.b1024", ref: "ws.echo.c128.b1024", metric: "throughput", better: "higher" },
  // The mesh (bench/lib/cluster-run.ts): the 8-node row carries ~2.3 requests in flight per
  // directed link; against a pair at 2 per link, and 8 processes as 4 fixed pairs.
  { name: "mesh: throughput, 8-node mesh vs one pair at the same in-flight per link", row: "tsgrid.mesh.n8", ref: "tsgrid.mesh.pair.c2", metric: "throughput", better: "higher", chart: true },
  { name: "8 Managers, random pairs vs one pair of processes (128 in flight)", row: "tsgrid.mesh.n8", ref: "tsgrid.single.c128.b32", metric: "throughput", better: "higher" },
  { name: "CPU per call: 8 Managers as 4 fixed pairs vs one pair (8 processes on the cores)", row: "tsgrid.mesh.pairs8.c2", ref: "tsgrid.mesh.pair.c2", metric: "cpu", better: "lower" },
  { name: "CPU per call: 8-node mesh vs 8 Managers as 4 fixed pairs (random peers)", row: "tsgrid.mesh.n8", ref: "tsgrid.mesh.pairs8.c2", metric: "cpu", better: "lower" },
  { name: "CPU per call: 16-node vs 2-node mesh, 128 in flight in total", row: "tsgrid.mesh.n16", ref: "tsgrid.mesh.n2", metric: "cpu", better: "lower" },
  { name: "TLS vs plain: 16-node cluster set-up (p50)", row: "tsgrid.connect.mesh16.tls", ref: "tsgrid.connect.mesh16.plain", metric: "p50", better: "lower" },
  { name: "bidi echo, 32 B: default capacities (128) vs tuned 32", row: "tsgrid.bidi.b32", ref: "tsgrid.bidi.cap32.b32", metric: "throughput", better: "higher", chart: true },
  { name: "server stream, 32 B: default capacity (128) vs tuned 32", row: "tsgrid.source.b32", ref: "tsgrid.source.cap32.b32", metric: "throughput", better: "higher", chart: true },
  { name: "server stream vs bidi echo, 32 B", row: "tsgrid.source.b32", ref: "tsgrid.bidi.b32", metric: "throughput", better: "higher" },
  { name: "CPU per call: single, 128 in flight vs ws unbatched", row: "tsgrid.single.c128.b32", ref: "ws.echo.c128.b32", metric: "cpu", better: "lower" },
  { name: "CPU per call: single, 128 in flight vs ws merged", row: "tsgrid.single.c128.b32", ref: "ws.merged.c128.b32", metric: "cpu", better: "lower" },
  { name: "CPU per message: bidi echo vs ws one-stream", row: "tsgrid.bidi.b32", ref: "ws.stream.b32", metric: "cpu", better: "lower" },
  { name: "TLS vs plain: single, 1 in flight, 32 B (p50)", row: "tsgrid.tls.single.c1.b32", ref: "tsgrid.single.c1.b32", metric: "p50", better: "lower" },
  { name: "TLS vs plain: single, 128 in flight, 32 B", row: "tsgrid.tls.single.c128.b32", ref: "tsgrid.single.c128.b32", metric: "throughput", better: "higher" },
  { name: "TLS vs plain: single, 16 in flight, 64 KiB", row: "tsgrid.tls.single.c16.b65536", ref: "tsgrid.single.c16.b65536", metric: "throughput", better: "higher" },
  { name: "TLS vs plain: connect time (p50)", row: "tsgrid.connect.tls", ref: "tsgrid.connect.plain", metric: "p50", better: "lower" },
  { name: "frame checksums vs none: single, 128 in flight, 32 B", row: "tsgrid.crc.single.c128.b32", ref: "tsgrid.single.c128.b32", metric: "throughput", better: "higher" },
  { name: "frame checksums vs none: single, 16 in flight, 64 KiB", row: "tsgrid.crc.single.c16.b65536", ref: "tsgrid.single.c16.b65536", metric: "throughput", better: "higher" },
  { name: "metadata (request id) vs plain, single, 128 in flight, 32 B", row: "tsgrid.metadata.c128.b32", ref: "tsgrid.single.c128.b32", metric: "throughput", better: "higher" },
  { name: "one interceptor per side vs plain, single, 128 in flight, 32 B", row: "tsgrid.interceptor.c128.b32", ref: "tsgrid.single.c128.b32", metric: "throughput", better: "higher" },
  { name: "OpenTelemetry spans vs plain, single, 1 in flight, 32 B", row: "tsgrid.otel.c1.b32", ref: "tsgrid.single.c1.b32", metric: "throughput", better: "higher" },
  { name: "OpenTelemetry spans vs plain, single, 128 in flight, 32 B", row: "tsgrid.otel.c128.b32", ref: "tsgrid.single.c128.b32", metric: "throughput", better: "higher" },
  { name: "OpenTelemetry 1% sampled vs plain, single, 1 in flight, 32 B", row: "tsgrid.otel-sampled.c1.b32", ref: "tsgrid.single.c1.b32", metric: "throughput", better: "higher" },
  { name: "OpenTelemetry 1% sampled vs plain, single, 128 in flight, 32 B", row: "tsgrid.otel-sampled.c128.b32", ref: "tsgrid.single.c128.b32", metric: "throughput", better: "higher" },
  { name: "Prometheus metrics vs plain, single, 1 in flight, 32 B", row: "tsgrid.metrics.c1.b32", ref: "tsgrid.single.c1.b32", metric: "throughput", better: "higher" },
  { name: "Prometheus metrics vs plain, single, 128 in flight, 32 B", row: "tsgrid.metrics.c128.b32", ref: "tsgrid.single.c128.b32", metric: "throughput", better: "higher" },
  { name: "OpenTelemetry + Prometheus vs plain, single, 128 in flight, 32 B", row: "tsgrid.otel-metrics.c128.b32", ref: "tsgrid.single.c128.b32", metric: "throughput", better: "higher" },
  { name: "CPU per call: metadata vs plain, 128 in flight", row: "tsgrid.metadata.c128.b32", ref: "tsgrid.single.c128.b32", metric: "cpu", better: "lower" },
  { name: "CPU per call: one interceptor per side vs plain, 128 in flight", row: "tsgrid.interceptor.c128.b32", ref: "tsgrid.single.c128.b32", metric: "cpu", better: "lower" },
  { name: "CPU per call: OpenTelemetry vs plain, 128 in flight", row: "tsgrid.otel.c128.b32", ref: "tsgrid.single.c128.b32", metric: "cpu", better: "lower" },
  { name: "CPU per call: OpenTelemetry 1% sampled vs plain, 128 in flight", row: "tsgrid.otel-sampled.c128.b32", ref: "tsgrid.single.c128.b32", metric: "cpu", better: "lower" },
  { name: "CPU per call: Prometheus vs plain, 128 in flight", row: "tsgrid.metrics.c128.b32", ref: "tsgrid.single.c128.b32", metric: "cpu", better: "lower" },
  { name: "CPU per call: OpenTelemetry + Prometheus vs plain, 128 in flight", row: "tsgrid.otel-metrics.c128.b32", ref: "tsgrid.single.c128.b32", metric: "cpu", better: "lower" },
  { name: "ws merged vs ws unbatched (128, 32 B)", row: "ws.merged.c128.b32", ref: "ws.echo.c128.b32", metric: "throughput", better: "higher" },
  { name: "@msgpack/msgpack vs msgpackr", row: "codec.msgpack", ref: "codec.msgpackr", metric: "throughput", better: "higher", fromExtra: "vs msgpackr, interleaved" },
  { name: "JSON vs msgpackr", row: "codec.json", ref: "codec.msgpackr", metric: "throughput", better: "higher", fromExtra: "vs msgpackr, interleaved" },
];

/** Why a ratio has no value: which of its two rows is missing, failed or skipped. */
function whyMissing(id: string, all: Map<string, RowResult>): string | undefined {
  const r = all.get(id);
  if (r === undefined) return `row missing: ${id}`;
  if (r.error !== undefined) return `${id} failed`;
  if (r.skipped !== undefined) return `${id} skipped`;
  return undefined;
}

export function computeRatios(rows: RowResult[]): Ratio[] {
  const all = new Map(rows.map((r) => [r.id, r]));
  const byId = new Map(rows.filter((r) => r.error === undefined && r.skipped === undefined).map((r) => [r.id, r]));
  return RATIO_DEFS.map((def) => {
    const a = byId.get(def.row);
    const b = byId.get(def.ref);
    let value: number | undefined;
    const fromExtra = def.fromExtra !== undefined ? a?.extra?.[def.fromExtra] : undefined;
    if (typeof fromExtra === "number") value = fromExtra;
    else if (a && b) {
      if (def.metric === "throughput" && b.throughput > 0) value = a.throughput / b.throughput;
      if (def.metric === "p50" && a.p50Us !== undefined && b.p50Us !== undefined && b.p50Us > 0) value = a.p50Us / b.p50Us;
      if (def.metric === "cpu") {
        const cpu = (r: RowResult): number => r.clientCpuPerOpUs + (r.serverCpuPerOpUs ?? 0);
        if (cpu(b) > 0 && cpu(a) > 0) value = cpu(a) / cpu(b);
      }
    }
    // A ratio without a value never passes: its verdict is undefined and it says what is missing.
    const pass =
      value === undefined || def.target === undefined ? undefined : def.better === "higher" ? value >= def.target : value <= def.target;
    if (value !== undefined) return { ...def, value, pass };
    const missing = [whyMissing(def.row, all), whyMissing(def.ref, all)]
      .filter((w): w is string => w !== undefined)
      .join(", ");
    return { ...def, value, pass, missing: missing || "no value (a zero or absent measurement)" };
  });
}
