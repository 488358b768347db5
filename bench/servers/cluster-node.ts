/**
 * One server of the many-node rows: a Manager with the bench handlers that, on command, calls
 * random peers (or one fixed partner) with N requests in flight. Driven by
 * bench/lib/cluster-run.ts:
 *   -> listening {port}
 *   <- cluster {local, hosts, tls?}   -> ready {startedAt, connectedAt, cpuUs}   (new Manager .. every peer connected)
 *   <- load {durationMs, inflight, payload, partner?}    -> loaded {ops, elapsedMs, hist, cpuUs, maxRss, ...}
 *   <- reset                          -> closed          (the Manager closed; `cluster` may follow again)
 *   <- stop
 */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { Connection, Manager } from "tsgrid";
import { Histogram } from "../lib/histogram.js";
import { usageNow } from "../lib/ipc.js";
import { Phase, now } from "../lib/phase.js";
import type { BenchTls } from "../lib/tls-certs.js";
import { freePort, startManager, waitConnected } from "../lib/tsgrid-cluster.js";
import { H } from "../lib/tsgrid-handlers.js";
import { failureKind } from "../lib/verdict.js";

export type ToNode =
  | { type: "cluster"; local: string; hosts: string[]; tls?: BenchTls }
  | { type: "load"; durationMs: number; inflight: number; payload: number; maxOps: number; partner?: string }
  | { type: "reset" }
  | { type: "stop" };
export type FromNode =
  | { type: "listening"; port: number }
  /** Times in ms since the epoch (performance.timeOrigin-based: comparable across processes). */
  | {
      type: "ready";
      startedAt: number;
      connectedAt: number;
      cpuUs: number;
      /** Dial attempts of this node that failed during the set-up (e.g. the peer did not listen yet). */
      failedDials: number;
      /** When this node was listening (ms since the epoch). */
      listeningAt: number;
      /** Peers whose first dial failed, so that they waited for a redial. */
      waitedPeers: number;
      /** Of those, ms from each one's first failed dial to connected, summed. */
      waitedMs: number;
      /** Ms from each failed dial to the next dial of that peer (the redial delay), summed. */
      redialWaitMs: number;
      /** Redials counted in redialWaitMs. */
      redials: number;
    }
  | {
      type: "loaded";
      ops: number;
      elapsedMs: number;
      hist: Array<[number, number]>;
      sumUs: number;
      maxUs: number;
      cpuUs: number;
      /** Of cpuUs, in the kernel. */
      sysUs: number;
      maxRss: number;
      /** WebSocket messages written and frames in them, over all links (this node's side). */
      messagesOut: number;
      framesOut: number;
      /** Fraction of the phase the event loop was busy. */
      elu: number;
    }
  | { type: "closed" }
  | { type: "error"; message: string; slow?: boolean };

let manager: Manager | undefined;

/**
 * BENCH_PHASE_PROFILE=<dir>: a CPU profile of each cluster set-up and each load phase (not the
 * process start-up), written as <dir>/<pid>.phase<k>.cpuprofile (k counts both kinds).
 */
const PHASE_PROFILE_DIR = process.env["BENCH_PHASE_PROFILE"];
let phaseCount = 0;

async function profiled<T>(fn: () => Promise<T>): Promise<T> {
  if (PHASE_PROFILE_DIR === undefined) return fn();
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.start");
  try {
    return await fn();
  } finally {
    const { profile } = await session.post("Profiler.stop");
    const name = `${process.pid}.phase${++phaseCount}.cpuprofile`;
    writeFileSync(join(PHASE_PROFILE_DIR, name), JSON.stringify(profile));
    session.disconnect();
  }
}

function send(msg: FromNode): void {
  if (process.connected) process.send?.(msg);
}

async function exit(code: number): Promise<void> {
  setTimeout(() => process.exit(code), 1000).unref();
  try {
    await manager?.close();
  } finally {
    process.exit(code);
  }
}

const epochMs = (): number => performance.timeOrigin + performance.now();

/** N workers, each calling a random connection of `conns` per request, until the phase ends. */
async function load(conns: Connection[], phase: Phase, inflight: number, size: number): Promise<void> {
  const payload = new Uint8Array(size).fill(7);
  const worker = async (): Promise<void> => {
    let t0 = now();
    while (!phase.done) {
      const conn = conns.length === 1 ? conns[0]! : conns[Math.floor(Math.random() * conns.length)]!;
      await conn.request(H.echo, payload);
      const t1 = now();
      phase.hist.record((t1 - t0) * 1000);
      t0 = t1;
      phase.ops++;
    }
  };
  const workers: Promise<void>[] = [];
  // A node that only answers ("oneway" pairs) is measured over the same phase.
  if (inflight === 0) workers.push(new Promise((resolve) => setTimeout(resolve, phase.remainingMs)));
  for (let i = 0; i < inflight; i++) workers.push(worker());
  await Promise.all(workers);
}

function linkCounters(m: Manager): { messagesOut: number; framesOut: number } {
  let messagesOut = 0;
  let framesOut = 0;
  for (const p of m.peers) {
    const s = m.connection(p).stats;
    messagesOut += s.messagesOut;
    framesOut += s.framesOut;
  }
  return { messagesOut, framesOut };
}

async function onMessage(msg: ToNode): Promise<void> {
  if (msg.type === "stop") return exit(0);
  if (msg.type === "cluster") {
    if (manager !== undefined) throw new Error("cluster while a Manager runs (reset first)");
    const startedAt = epochMs();
    const u0 = process.cpuUsage();
    let failedDials = 0;
    let listeningAt = 0;
    let waitedMs = 0;
    const firstFailure = new Map<string, number>();
    const lastFailure = new Map<string, number>();
    let redialWaitMs = 0;
    let redials = 0;
    await profiled(async () => {
      manager = await startManager(msg.local, msg.hosts, undefined, msg.tls ? { tls: msg.tls } : {}, true, (m) =>
        m.onStateChange((peer, state, previous) => {
          if (state === "disconnected" && previous === "connecting") {
            failedDials++;
            const t = epochMs();
            if (!firstFailure.has(peer)) firstFailure.set(peer, t);
            lastFailure.set(peer, t);
          } else if (state === "connecting" && lastFailure.has(peer)) {
            redialWaitMs += epochMs() - lastFailure.get(peer)!;
            redials++;
            lastFailure.delete(peer);
          } else if (state === "connected" && firstFailure.has(peer)) {
            waitedMs += epochMs() - firstFailure.get(peer)!;
          }
        }),
      );
      listeningAt = epochMs();
      await waitConnected(manager);
    });
    const connectedAt = epochMs();
    const u1 = process.cpuUsage(u0);
    send({
      type: "ready",
      startedAt,
      connectedAt,
      cpuUs: u1.user + u1.system,
      failedDials,
      listeningAt,
      waitedPeers: firstFailure.size,
      waitedMs,
      redialWaitMs,
      redials,
    });
    return;
  }
  if (msg.type === "reset") {
    const m = manager;
    manager = undefined;
    await m?.close();
    send({ type: "closed" });
    return;
  }
  if (msg.type === "load") {
    const m = manager;
    if (m === undefined) throw new Error("load before cluster");
    const conns = msg.partner !== undefined ? [m.connection(msg.partner)] : m.peers.map((p) => m.connection(p));
    const c0 = linkCounters(m);
    const elu0 = performance.eventLoopUtilization();
    const u0 = usageNow();
    const phase = new Phase(msg.durationMs, msg.maxOps);
    await profiled(() => load(conns, phase, msg.inflight, msg.payload));
    const elapsedMs = now() - phase.startedAt;
    const u1 = usageNow();
    const elu = performance.eventLoopUtilization(elu0).utilization;
    const c1 = linkCounters(m);
    const h: Histogram = phase.hist;
    send({
      type: "loaded",
      ops: phase.ops,
      elapsedMs,
      hist: h.buckets(),
      sumUs: h.sumUs,
      maxUs: h.maxUs,
      cpuUs: u1.userUs + u1.systemUs - u0.userUs - u0.systemUs,
      sysUs: u1.systemUs - u0.systemUs,
      maxRss: u1.maxRss,
      messagesOut: c1.messagesOut - c0.messagesOut,
      framesOut: c1.framesOut - c0.framesOut,
      elu,
    });
  }
}

process.on("disconnect", () => void exit(0));
// The orchestrator may be gone before this module loaded: then "disconnect" never fires.
if (!process.connected) void exit(0);
process.on("message", (raw: unknown) => {
  onMessage(raw as ToNode).catch((err: unknown) => {
    send({ type: "error", message: String((err as Error)?.stack ?? err), slow: failureKind(err) === "slow" });
    void exit(1);
  });
});
freePort().then(
  (port) => send({ type: "listening", port }),
  (err: unknown) => {
    send({ type: "error", message: String(err) });
    void exit(1);
  },
);
