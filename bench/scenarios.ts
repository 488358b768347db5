/**
 * Every row of the benchmark: which server child, which client module, which parameters.
 * Rows marked `quick` form the ~30 s smoke run.
 */
import { GENERATED_CODEC_AVAILABLE } from "./clients/generated-codec.js";
export interface Row {
  id: string;
  group: "reference" | "tsgrid" | "codec" | "memory";
  title: string;
  /** Server entry under dist/bench/servers/, with argv; none for in-process rows (codecs). */
  server?: { script: string; args?: string[] };
  client: string;
  params: Record<string, number | string | boolean>;
  /** What one operation is. */
  unit: "round trips" | "messages" | "encode+decode";
  quick: boolean;
  /** A many-node row: this many Manager processes, every one calling random peers. */
  cluster?: number;
  /** Skip reason when the row cannot run in this checkout (e.g. no gridgen output yet). */
  unavailable?: string;
}

const KIB = 1024;
/**
 * Warm-up of every stream row, references included (param `minWarmupMs`; a full run's
 * `--warmup` below it is raised to it, `--quick` keeps its own). A stream row's steady state
 * comes late for tsgrid: its per-WebSocket-message code (socket writes, ws, the event loop's
 * turns) runs once per ~25 stream messages, so V8 optimizes it 1-3 s after the stream starts,
 * while the raw-ws reference runs the same code once per message and is at its steady rate in
 * its first 250 ms (docs/performance.md, stream capacities).
 */
const STREAM_WARMUP_MS = 2500;
export const PAYLOADS = [32, KIB, 64 * KIB] as const;
export const INFLIGHTS = [1, 16, 128] as const;
/**
 * The feature-cost rows at 128 in flight: at least 20,000 warm-up calls, within 5 s more
 * (bench/lib/client-child.ts), bounded and expected accordingly (bench/lib/bounds.ts).
 */
const FEATURE_WARMUP = { warmupOps: 20_000, warmupExtraMs: 5_000, extraTimeMs: 5_000, expectedExtraMs: 500 } as const;
/**
 * Large payloads beyond PAYLOADS (in flight, bytes): 16 KiB and 1 MiB (16 in flight is 16 MiB
 * queued, above the default maxQueuedBytes of 8 MiB, so tsgrid's calls also wait for room).
 * A 1 MiB row does ~50-150 round trips a second: it expects at least 20 per phase (`minOps`).
 */
export const LARGE: readonly (readonly [number, number])[] = [
  [128, 16 * KIB],
  [16, KIB * KIB],
];

/**
 * Warm-up of the single-call rows of 16 KiB and more, raw ws's included (`minWarmupMs`, as the
 * stream rows). At a few hundred to a few thousand round trips a second, 300 ms is a few hundred
 * calls: tsgrid's per-call code is still being optimized in the measured second while raw ws's
 * (one `send`, the masking loop) is hot. Measured (load 1-2, the bench's client module and
 * server child, 64 KiB, 128 in flight): 525-572 us of client CPU per round trip after 300 ms,
 * 344-414 after 3 s, which is what a harness measures after 1,500 calls (351-354).
 */
const LARGE_WARMUP_MS = 3000;

/** A row of `payload` bytes: its minimum operations per phase and warm-up, when not the usual. */
function minOps(payload: number): { minOps?: number; minWarmupMs?: number } {
  if (payload >= KIB * KIB) return { minOps: 20, minWarmupMs: LARGE_WARMUP_MS };
  return payload >= 16 * KIB ? { minWarmupMs: LARGE_WARMUP_MS } : {};
}

export function sizeLabel(bytes: number): string {
  if (bytes >= KIB * KIB) return `${bytes / (KIB * KIB)} MiB`;
  return bytes >= KIB ? `${bytes / KIB} KiB` : `${bytes} B`;
}

/** Why the tsgrid rows cannot run in this build, if they cannot. */
export interface Availability {
  tsgrid?: string;
  /** Why the TLS rows cannot run (no openssl to make certificates). */
  tls?: string;
}

export function buildRows(avail: Availability = {}): Row[] {
  const rows: Row[] = [];
  const wsServer = (mode: string) => ({ script: "servers/raw-ws-server.js", args: [mode] });
  const grpcServer = { script: "servers/grpc-server.js" };

  // --- references: raw ws ---
  const grid = PAYLOADS.flatMap((payload) => INFLIGHTS.map((inflight) => [inflight, payload] as const));
  for (const [inflight, payload] of [...grid, ...LARGE]) {
    rows.push({
      id: `ws.echo.c${inflight}.b${payload}`,
      group: "reference",
      title: `raw ws echo, ${inflight} in flight, ${sizeLabel(payload)}`,
      server: wsServer("echo"),
      client: "raw-ws",
      params: { mode: "echo", payload, inflight, ...minOps(payload) },
      unit: "round trips",
      quick: payload === 32 && inflight !== 16,
    });
  }
  for (const payload of [32, KIB]) {
    rows.push({
      id: `ws.merged.c128.b${payload}`,
      group: "reference",
      title: `raw ws echo, 128 merged per frame, ${sizeLabel(payload)}`,
      server: wsServer("merged"),
      client: "raw-ws",
      params: { mode: "merged", payload, inflight: 128 },
      unit: "round trips",
      quick: payload === 32,
    });
    rows.push({
      id: `ws.stream.b${payload}`,
      group: "reference",
      title: `raw ws one-stream echo, backpressure, ${sizeLabel(payload)}`,
      server: wsServer("stream"),
      client: "raw-ws",
      params: { mode: "stream", payload, minWarmupMs: STREAM_WARMUP_MS },
      unit: "messages",
      quick: payload === 32,
    });
  }

  // --- references: grpc-js ---
  for (const inflight of INFLIGHTS) {
    rows.push({
      id: `grpc.unary.c${inflight}.b32`,
      group: "reference",
      title: `grpc-js unary, ${inflight} in flight, 32 B`,
      server: grpcServer,
      client: "grpc",
      params: { mode: "unary", payload: 32, inflight },
      unit: "round trips",
      quick: inflight === 128,
    });
  }
  for (const payload of [KIB, 64 * KIB]) {
    rows.push({
      id: `grpc.unary.c128.b${payload}`,
      group: "reference",
      title: `grpc-js unary, 128 in flight, ${sizeLabel(payload)}`,
      server: grpcServer,
      client: "grpc",
      params: { mode: "unary", payload, inflight: 128 },
      unit: "round trips",
      quick: false,
    });
  }
  for (const payload of [32, KIB]) {
    rows.push({
      id: `grpc.bidi.b${payload}`,
      group: "reference",
      title: `grpc-js bidi echo (retry buffer 0), ${sizeLabel(payload)}`,
      server: grpcServer,
      client: "grpc",
      params: { mode: "bidi", payload, minWarmupMs: STREAM_WARMUP_MS },
      unit: "messages",
      quick: payload === 32,
    });
  }

  // --- tsgrid: two Managers (one per process) with sharedSecretAuth and default options;
  // a row that tunes an option says so in its id and title, beside its defaults row.
  // The memory rows open many connections from one client: bare Connections. ---
  const tsgridServer = { script: "servers/tsgrid-server.js", args: ["manager"] };
  const directServer = { script: "servers/tsgrid-server.js", args: ["direct"] };
  for (const [inflight, payload] of [...grid, ...LARGE]) {
    rows.push({
      id: `tsgrid.single.c${inflight}.b${payload}`,
      group: "tsgrid",
      title: `tsgrid single request, ${inflight} in flight, ${sizeLabel(payload)}`,
      server: tsgridServer,
      client: "tsgrid",
      params: { mode: "single", payload, inflight, ...minOps(payload) },
      unit: "round trips",
      quick: payload === 32 && inflight !== 16,
      ...(avail.tsgrid ? { unavailable: avail.tsgrid } : {}),
    });
  }
  // TLS against plain, and frame checksums (CRC32) on a plain link: the same Managers.
  const variants = [
    { key: "tls", what: "mutual TLS (wss://)", server: { script: "servers/tsgrid-server.js", args: ["manager-tls"] }, skip: avail.tsgrid ?? avail.tls },
    { key: "crc", what: "frame checksums (ws://)", server: { script: "servers/tsgrid-server.js", args: ["manager-crc"] }, skip: avail.tsgrid },
  ];
  for (const v of variants) {
    for (const [inflight, payload] of [
      [1, 32],
      [128, 32],
      [16, 64 * KIB],
    ] as const) {
      rows.push({
        id: `tsgrid.${v.key}.single.c${inflight}.b${payload}`,
        group: "tsgrid",
        title: `tsgrid single request, ${v.what}, ${inflight} in flight, ${sizeLabel(payload)}`,
        server: v.server,
        client: "tsgrid",
        params: { mode: "single", payload, inflight, ...minOps(payload) },
        unit: "round trips",
        quick: v.key === "tls" && inflight === 128,
        ...(v.skip ? { unavailable: v.skip } : {}),
      });
    }
  }
  // Tuned: maskFrames false (all-zero WebSocket masking keys, no masking pass or copy on the
  // dialling side), beside the defaults rows of the same sizes.
  for (const [inflight, payload] of [[16, 64 * KIB], [16, KIB * KIB]] as const) {
    rows.push({
      id: `tsgrid.nomask.single.c${inflight}.b${payload}`,
      group: "tsgrid",
      title: `tsgrid single request, tuned: maskFrames false, ${inflight} in flight, ${sizeLabel(payload)}`,
      server: { script: "servers/tsgrid-server.js", args: ["manager-nomask"] },
      client: "tsgrid",
      params: { mode: "single", payload, inflight, ...minOps(payload) },
      unit: "round trips",
      quick: false,
      ...(avail.tsgrid ? { unavailable: avail.tsgrid } : {}),
    });
  }
  for (const [key, what, server, skip] of [
    ["plain", "ws://", tsgridServer, avail.tsgrid],
    ["tls", "mutual TLS (wss://)", variants[0]!.server, avail.tsgrid ?? avail.tls],
  ] as const) {
    rows.push({
      id: `tsgrid.connect.${key}`,
      group: "tsgrid",
      title: `tsgrid connect time (new Manager to connected: dial, ${what}, upgrade, handshake)`,
      server,
      client: "tsgrid",
      params: { mode: "connect" },
      unit: "round trips",
      quick: true,
      ...(skip ? { unavailable: skip } : {}),
    });
  }
  // Per-call metadata, one interceptor, and the observability integrations (tsgrid/otel,
  // tsgrid/metrics) on both sides, against the plain rows above: what each costs per call.
  // At 128 in flight each warms up for at least 20,000 calls (as many as the plain row does in
  // its 300 ms on a quiet machine; at most 5 s more): the SDK's code is cold after 300 ms at a
  // few thousand calls a second (docs/performance.md, feature costs).
  for (const inflight of [1, 128] as const) {
    rows.push({
      id: `tsgrid.metadata.c${inflight}.b32`,
      group: "tsgrid",
      title: `tsgrid single request with metadata (a 36-char request id), ${inflight} in flight, 32 B`,
      server: tsgridServer,
      client: "tsgrid",
      params: { mode: "single", payload: 32, inflight, metadata: "request-id", ...(inflight === 128 ? FEATURE_WARMUP : {}) },
      unit: "round trips",
      quick: false,
      ...(avail.tsgrid ? { unavailable: avail.tsgrid } : {}),
    });
  }
  for (const instrumentKind of ["interceptor", "otel", "otel-sampled", "metrics", "otel+metrics"] as const) {
    for (const inflight of [1, 128] as const) {
      const what = {
        interceptor: "one pass-through interceptor per side",
        otel: "OpenTelemetry spans (every call sampled)",
        "otel-sampled": "OpenTelemetry spans (1% of traces sampled)",
        metrics: "Prometheus metrics",
        "otel+metrics": "OpenTelemetry (all sampled) + Prometheus",
      }[instrumentKind];
      rows.push({
        id: `tsgrid.${instrumentKind.replace("+", "-")}.c${inflight}.b32`,
        group: "tsgrid",
        title: `tsgrid single request with ${what}, ${inflight} in flight, 32 B`,
        server: { script: "servers/tsgrid-server.js", args: ["manager", instrumentKind] },
        client: "tsgrid",
        params: { mode: "single", payload: 32, inflight, instrument: instrumentKind, ...(inflight === 128 ? FEATURE_WARMUP : {}) },
        unit: "round trips",
        quick: false,
        ...(avail.tsgrid ? { unavailable: avail.tsgrid } : {}),
      });
    }
  }
  // The generated client (encode, request, decode with validation, both sides), beside the raw
  // rows of the same size: NodeLoad (31 B, 3 values) vs 32 B, StatusBatch (13 NodeStatus,
  // 1,028-1,044 B, 92 values) vs 1 KiB; and NodeStatus (71-79 B, 7 values) as before.
  for (const [tag, message, what, quick] of [
    ["b32", "load", "NodeLoad (31 B)", true],
    ["b1024", "batch", "StatusBatch (13 NodeStatus, 1,028-1,044 B)", false],
    ["status", "status", "NodeStatus (71-79 B)", false],
  ] as const) {
    rows.push({
      id: `tsgrid.typed.c128.${tag}`,
      group: "tsgrid",
      title: `tsgrid typed client (generated, validating), 128 in flight, ${what}`,
      server: tsgridServer,
      client: "tsgrid",
      params: { mode: "typed", inflight: 128, message },
      unit: "round trips",
      quick,
      ...(avail.tsgrid ? { unavailable: avail.tsgrid } : {}),
    });
  }
  // Streams with the default capacities (128 credits each way) and, beside them, tuned down to
  // 32 (a quarter of the memory per stalled stream; the default before #12).
  for (const payload of [32, KIB]) {
    for (const capacity of [undefined, 32] as const) {
      const tag = capacity === undefined ? "" : `.cap${capacity}`;
      const how = capacity === undefined ? "default capacities" : `tuned: capacities ${capacity}`;
      rows.push({
        id: `tsgrid.source${tag}.b${payload}`,
        group: "tsgrid",
        title: `tsgrid server stream (${how}), ${sizeLabel(payload)}`,
        server: tsgridServer,
        client: "tsgrid",
        params: { mode: "source", payload, minWarmupMs: STREAM_WARMUP_MS, ...(capacity !== undefined ? { capacity } : {}) },
        unit: "messages",
        quick: payload === 32 && capacity === undefined,
        ...(avail.tsgrid ? { unavailable: avail.tsgrid } : {}),
      });
      rows.push({
        id: `tsgrid.bidi${tag}.b${payload}`,
        group: "tsgrid",
        title: `tsgrid bidi stream echo (${how}), ${sizeLabel(payload)}`,
        server: tsgridServer,
        client: "tsgrid",
        params: { mode: "bidi", payload, minWarmupMs: STREAM_WARMUP_MS, ...(capacity !== undefined ? { capacity } : {}) },
        unit: "messages",
        quick: payload === 32,
        ...(avail.tsgrid ? { unavailable: avail.tsgrid } : {}),
      });
    }
  }
  // The mesh: N Manager processes (not pinned, they share the cores), every node calling
  // random peers; the same 128 requests in flight in total whatever N, so each link carries
  // fewer as N grows (128 / (N(N-1)) per directed link). Beside them, at the in-flight per
  // link of the 8-node row (~2): one pair calling each other, and 8 Managers as 4 fixed pairs
  // (the same per-link load, the process count of the 8-node row).
  const MESH_TOTAL = 128;
  for (const nodes of [2, 4, 8, 16] as const) {
    rows.push({
      id: `tsgrid.mesh.n${nodes}`,
      group: "tsgrid",
      title: `tsgrid mesh: ${nodes} Managers, random pairs, ${MESH_TOTAL} in flight in total (${MESH_TOTAL / nodes} per node), 32 B`,
      cluster: nodes,
      client: "cluster",
      params: { inflight: MESH_TOTAL / nodes, payload: 32 },
      unit: "round trips",
      quick: nodes === 8,
      ...(avail.tsgrid ? { unavailable: avail.tsgrid } : {}),
    });
  }
  rows.push({
    id: "tsgrid.mesh.pair.c2",
    group: "tsgrid",
    title: "tsgrid mesh reference: 2 Managers calling each other, 2 in flight per node, 32 B",
    cluster: 2,
    client: "cluster",
    params: { inflight: 2, payload: 32 },
    unit: "round trips",
    quick: false,
    ...(avail.tsgrid ? { unavailable: avail.tsgrid } : {}),
  });
  rows.push({
    id: "tsgrid.mesh.pairs8.c2",
    group: "tsgrid",
    title: "tsgrid mesh reference: 8 Managers as 4 fixed pairs, 2 in flight per node, 32 B",
    cluster: 8,
    client: "cluster",
    params: { inflight: 2, payload: 32, topology: "pairs" },
    unit: "round trips",
    quick: false,
    ...(avail.tsgrid ? { unavailable: avail.tsgrid } : {}),
  });
  // Set-up of a whole cluster: from the first `new Manager` to the last node connected to
  // every peer (120 links for 16 nodes), several set-ups over the same processes.
  for (const [key, what, skip] of [
    ["plain", "ws://", avail.tsgrid],
    ["tls", "mutual TLS (wss://)", avail.tsgrid ?? avail.tls],
  ] as const) {
    rows.push({
      id: `tsgrid.connect.mesh16.${key}`,
      group: "tsgrid",
      title: `tsgrid cluster set-up: 16 Managers, ${what}, new Manager to every peer connected (one op = the whole cluster)`,
      cluster: 16,
      client: "cluster",
      params: { mode: "connect", setups: 5, ...(key === "tls" ? { tls: true } : {}) },
      unit: "round trips",
      quick: false,
      ...(skip ? { unavailable: skip } : {}),
    });
  }
  rows.push({
    id: "tsgrid.memory.inflight",
    group: "memory",
    title: "tsgrid, 10,000 requests in flight (bare Connection, tuned: maxIncomingCalls 100,000)",
    server: directServer,
    client: "tsgrid",
    params: { mode: "inflight-memory", calls: 10_000, extraTimeMs: 30_000 },
    unit: "round trips",
    quick: true,
    ...(avail.tsgrid ? { unavailable: avail.tsgrid } : {}),
  });
  rows.push({
    id: "tsgrid.memory.idle",
    group: "memory",
    title: "tsgrid, 100 idle connections (bare Connections, no handshake)",
    server: directServer,
    client: "tsgrid",
    params: { mode: "idle-memory", connections: 100, extraTimeMs: 30_000 },
    unit: "round trips",
    quick: true,
    ...(avail.tsgrid ? { unavailable: avail.tsgrid } : {}),
  });

  // --- codecs ---
  for (const codec of ["msgpackr", "msgpack", "json", "generated"] as const) {
    const titles = {
      msgpackr: "msgpackr (useRecords: false)",
      msgpack: "@msgpack/msgpack",
      json: "JSON",
      generated: "gridgen validating codec",
    };
    rows.push({
      id: `codec.${codec}`,
      group: "codec",
      title: `codec: ${titles[codec]}`,
      client: "codec",
      params: { codec },
      unit: "encode+decode",
      quick: codec !== "json",
      ...(codec === "generated" && !GENERATED_CODEC_AVAILABLE ? { unavailable: "no gridgen output yet" } : {}),
    });
  }
  return rows;
}
