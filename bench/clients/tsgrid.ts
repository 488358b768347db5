/**
 * tsgrid client rows over one Connection (no Manager): single requests with N in flight,
 * a server stream, a bidi echo stream; and the memory rows (10,000 calls in flight, idle
 * connections).
 */
import { shouldDial, type Connection } from "tsgrid";
import { BenchClient, NodeLoadCodec, NodeStatusCodec, StatusBatchCodec } from "../generated/bench.js";
import { sampleBatches, sampleLoads, sampleObjects } from "./codec.js";
import type { ClientContext, ClientModule, CustomResult } from "../lib/client-child.js";
import { settleGc, usageNow, type Usage } from "../lib/ipc.js";
import { now, type Phase } from "../lib/phase.js";
import { connectManager, connectTsgrid } from "../lib/tsgrid-connect.js";
import { gridAddress, startManager, type LinkOptions } from "../lib/tsgrid-cluster.js";
import { H, readU32, sourceRequest, TUNED_STREAM_CAPACITY } from "../lib/tsgrid-handlers.js";
import { SlowError } from "../lib/verdict.js";

/** Messages one server-stream phase asks for at most (the phase stops it earlier by time). */
const SOURCE_MESSAGES = 50_000_000;
/** How long the memory row waits for the server to hold every call, ms. */
const HOLD_WAIT_MS = 20_000;

/** How well frames were merged: frames per WebSocket message, both directions (whole run). */
function mergeStats(conn: Connection): Record<string, number> {
  const s = conn.stats;
  return {
    "frames per ws message out": s.messagesOut > 0 ? s.framesOut / s.messagesOut : 0,
    "frames per ws message in": s.messagesIn > 0 ? s.framesIn / s.messagesIn : 0,
  };
}

/** The link options the server child chose (TLS certificates, checksums, masking). */
function linkOf(info: Record<string, unknown> | undefined): LinkOptions {
  const tls = info?.["tls"] as LinkOptions["tls"];
  return {
    ...(tls ? { tls } : {}),
    ...(info?.["checksum"] === true ? { checksum: true } : {}),
    ...(info?.["maskFrames"] === false ? { maskFrames: false } : {}),
  };
}

/**
 * Connect time: one operation = a new client Manager (same name, new instance) connected to
 * the server's (dial or be dialled, TLS when on, WebSocket upgrade, handshake both ways),
 * then closed. Latency = time to connected.
 */
function connectRow(serverPort: number, clientPort: number, link: LinkOptions): ReturnType<ClientModule> {
  const secure = link.tls !== undefined;
  const server = gridAddress(serverPort, secure);
  const local = gridAddress(clientPort, secure);
  // The client must listen when the server is the side that dials.
  const listens = !shouldDial(local, server);
  return Promise.resolve({
    close: () => {},
    driver: async (phase: Phase) => {
      while (!phase.done) {
        const t0 = now();
        const manager = await startManager(local, [server, local], undefined, link, listens);
        await manager.connection(server).waitConnected({ signal: AbortSignal.timeout(10_000) });
        phase.hist.record((now() - t0) * 1000);
        phase.ops++;
        await manager.close();
      }
    },
  });
}

export const tsgridClient: ClientModule = async (ctx) => {
  const mode = ctx.str("mode");
  if (mode === "inflight-memory") return { close: () => {}, custom: () => inflightMemory(ctx) };
  if (mode === "idle-memory") return { close: () => {}, custom: () => idleMemory(ctx) };

  // Managers (with their handshake) when the server runs one; a bare Connection otherwise.
  const clientPort = ctx.serverInfo?.["clientPort"];
  let conn: Connection;
  let close: () => Promise<void> | void;
  const link = linkOf(ctx.serverInfo);
  if (mode === "connect" && typeof clientPort === "number") return connectRow(ctx.port, clientPort, link);
  if (typeof clientPort === "number") {
    const pair = await connectManager(ctx.port, clientPort, ctx.str("instrument", "none"), link);
    conn = pair.conn;
    close = pair.close;
  } else {
    const direct = await connectTsgrid(ctx.port);
    conn = direct;
    close = () => direct.close();
  }
  const size = ctx.num("payload", 32);
  const payload = new Uint8Array(size).fill(7);
  // Stream rows: the default-capacity handlers, or the tuned ones when the row says "cap32".
  const tuned = ctx.num("capacity", 0) === TUNED_STREAM_CAPACITY;

  if (mode === "single") {
    const inflight = ctx.num("inflight");
    // With `metadata`: every call carries a request id (36 characters, as a UUID).
    const opts = ctx.str("metadata", "") === "" ? undefined : { metadata: { "x-request-id": "0f8fad5b-d9cb-469f-a165-70867728950e" } };
    const worker = async (phase: Phase): Promise<void> => {
      // One clock read per call: a call's end is the next call's start (as in the raw ws ring).
      let t0 = now();
      while (!phase.done) {
        await conn.request(H.echo, payload, opts);
        const t1 = now();
        phase.hist.record((t1 - t0) * 1000);
        t0 = t1;
        phase.ops++;
      }
    };
    return {
      close,
      extra: () => mergeStats(conn),
      driver: async (phase) => {
        const workers: Promise<void>[] = [];
        for (let i = 0; i < inflight; i++) workers.push(worker(phase));
        await Promise.all(workers);
      },
    };
  }

  if (mode === "typed") {
    // The generated client: encode, request, decode and validate the answer. `message`: which
    // schema message (NodeLoad, 31 B; NodeStatus, 71-79 B; StatusBatch, about 1 KiB).
    const client = new BenchClient(conn);
    const inflight = ctx.num("inflight");
    const message = ctx.str("message", "status");
    const call: (i: number) => Promise<unknown> =
      message === "load"
        ? ((loads) => (i: number) => client.echoLoad(loads[i & 63]!))(sampleLoads(64))
        : message === "batch"
          ? ((batches) => (i: number) => client.echoBatch(batches[i & 63]!))(sampleBatches(64))
          : ((objects) => (i: number) => client.echoStatus(objects[i & 63]!))(sampleObjects(64));
    const encodedSize =
      message === "load"
        ? NodeLoadCodec.encode(sampleLoads(1)[0]!).byteLength
        : message === "batch"
          ? StatusBatchCodec.encode(sampleBatches(1)[0]!).byteLength
          : NodeStatusCodec.encode(sampleObjects(1)[0]!).byteLength;
    const worker = async (phase: Phase): Promise<void> => {
      let i = 0;
      let t0 = now();
      while (!phase.done) {
        await call(i++);
        const t1 = now();
        phase.hist.record((t1 - t0) * 1000);
        t0 = t1;
        phase.ops++;
      }
    };
    return {
      close,
      extra: () => ({ "payload bytes": encodedSize, ...mergeStats(conn) }),
      driver: async (phase) => {
        const workers: Promise<void>[] = [];
        for (let i = 0; i < inflight; i++) workers.push(worker(phase));
        await Promise.all(workers);
      },
    };
  }

  if (mode === "source") {
    return {
      close,
      extra: () => mergeStats(conn),
      driver: async (phase) => {
        const stream = await conn.newStream(tuned ? H.sourceTuned : H.source, sourceRequest(SOURCE_MESSAGES, size));
        for await (const _msg of stream.responses) {
          phase.ops++;
          if (phase.done) break; // leaving the loop cancels the stream
        }
        stream.cancel();
      },
    };
  }

  if (mode === "bidi") {
    return {
      close,
      extra: () => mergeStats(conn),
      driver: async (phase) => {
        const stream = await conn.newStream(tuned ? H.bidiEchoTuned : H.bidiEcho);
        const writer = stream.requests;
        if (writer === undefined) throw new Error("bidi stream has no input");
        const pump = (async () => {
          while (!phase.done) await writer.send(payload);
          writer.close();
        })();
        for await (const _msg of stream.responses) phase.ops++;
        await pump;
      },
    };
  }
  throw new Error(`tsgrid: unknown mode ${mode}`);
};

const MiB = 2 ** 20;
const KiB = 1024;
const memOf = (u: Usage): number => u.heapUsed + u.external;

/** 10,000 calls in flight at once: memory per call on both sides, and the return to baseline. */
async function inflightMemory(ctx: ClientContext): Promise<CustomResult> {
  const count = ctx.num("calls");
  const conn = await connectTsgrid(ctx.port);
  try {
    // Warm the path first so the baseline holds the code and the connection's steady state.
    for (let i = 0; i < 1000; i++) await conn.request(H.echo, new Uint8Array(32));
    await settleGc();
    const c0 = usageNow();
    const s0 = (await ctx.serverUsage(true))!;
    const t0 = now();
    const calls: Promise<Uint8Array>[] = [];
    const payload = new Uint8Array(32).fill(7);
    for (let i = 0; i < count; i++) calls.push(conn.request(H.hold, payload, { timeoutMs: 60_000 }));
    const waitUntil = now() + HOLD_WAIT_MS;
    let held = 0;
    while ((held = readU32(await conn.request(H.heldCount, payload))) < count && now() < waitUntil) {
      await new Promise((r) => setTimeout(r, 5));
    }
    if (held < count) {
      // Some held: the server is just slow (a busy machine); none: no progress at all.
      const msg = `server holds ${held} of ${count} calls after ${HOLD_WAIT_MS} ms`;
      throw held > 0 ? new SlowError(msg) : new Error(msg);
    }
    const sendAllMs = now() - t0;
    await settleGc();
    const c1 = usageNow();
    const s1 = (await ctx.serverUsage(true))!;
    await conn.request(H.release, payload);
    await Promise.all(calls);
    const elapsedMs = now() - t0;
    calls.length = 0;
    await settleGc();
    const c2 = usageNow();
    const s2 = (await ctx.serverUsage(true))!;
    return {
      ops: count,
      elapsedMs,
      latency: undefined,
      server: { cpuUs: 0, maxRss: s2.maxRss },
      extra: {
        "calls in flight": count,
        "time to put all in flight, ms": sendAllMs,
        "client bytes per in-flight call (heap+external)": (memOf(c1) - memOf(c0)) / count,
        "server bytes per in-flight call (heap+external)": (memOf(s1) - memOf(s0)) / count,
        "client RSS baseline / peak / after, MiB": `${(c0.rss / MiB).toFixed(1)} / ${(c1.rss / MiB).toFixed(1)} / ${(c2.rss / MiB).toFixed(1)}`,
        "server RSS baseline / peak / after, MiB": `${(s0.rss / MiB).toFixed(1)} / ${(s1.rss / MiB).toFixed(1)} / ${(s2.rss / MiB).toFixed(1)}`,
        "client heap+external after - baseline, KiB": (memOf(c2) - memOf(c0)) / KiB,
        "server heap+external after - baseline, KiB": (memOf(s2) - memOf(s0)) / KiB,
        "in-flight calls left (client)": conn.stats.inFlight,
      },
    };
  } finally {
    conn.close();
  }
}

/** Idle connections: memory per connection on each side (ws socket + Connection + mux). */
async function idleMemory(ctx: ClientContext): Promise<CustomResult> {
  const count = ctx.num("connections");
  const first = await connectTsgrid(ctx.port, "warm");
  await first.request(H.echo, new Uint8Array(32));
  await settleGc();
  const c0 = usageNow();
  const s0 = (await ctx.serverUsage(true))!;
  const t0 = now();
  const conns: Connection[] = [];
  try {
    for (let i = 0; i < count; i++) conns.push(await connectTsgrid(ctx.port, `idle-${i}`));
    // One round trip each so both sides have finished setting the connection up.
    await Promise.all(conns.map((c) => c.request(H.echo, new Uint8Array(32))));
    await settleGc();
    const c1 = usageNow();
    const s1 = (await ctx.serverUsage(true))!;
    return {
      ops: count,
      elapsedMs: now() - t0,
      latency: undefined,
      server: { cpuUs: 0, maxRss: s1.maxRss },
      extra: {
        "idle connections": count,
        "client KiB per idle connection (heap+external)": (memOf(c1) - memOf(c0)) / count / KiB,
        "server KiB per idle connection (heap+external)": (memOf(s1) - memOf(s0)) / count / KiB,
        "client KiB RSS per idle connection": (c1.rss - c0.rss) / count / KiB,
        "server KiB RSS per idle connection": (s1.rss - s0.rss) / count / KiB,
      },
    };
  } finally {
    for (const c of conns) c.close();
    first.close();
  }
}
