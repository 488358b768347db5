/**
 * One server of the many-node row: a Manager with the bench handlers that, on command, calls
 * random peers with N requests in flight. Driven by bench/lib/cluster-run.ts:
 *   -> listening {port}      <- cluster {local, hosts}    -> ready
 *   <- load {durationMs, inflight, payload}               -> loaded {ops, elapsedMs, hist, cpuUs, maxRss}
 *   <- stop
 */
import type { Connection, Manager } from "tsgrid";
import { Histogram } from "../lib/histogram.js";
import { usageNow } from "../lib/ipc.js";
import { Phase, now } from "../lib/phase.js";
import { freePort, startManager, waitConnected } from "../lib/tsgrid-cluster.js";
import { H } from "../lib/tsgrid-handlers.js";
import { failureKind } from "../lib/verdict.js";

export type ToNode =
  | { type: "cluster"; local: string; hosts: string[] }
  | { type: "load"; durationMs: number; inflight: number; payload: number; maxOps: number }
  | { type: "stop" };
export type FromNode =
  | { type: "listening"; port: number }
  | { type: "ready" }
  | { type: "loaded"; ops: number; elapsedMs: number; hist: Array<[number, number]>; sumUs: number; maxUs: number; cpuUs: number; maxRss: number }
  | { type: "error"; message: string; slow?: boolean };

let manager: Manager | undefined;

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

/** N workers, each calling a random peer per request, until the phase ends. */
async function load(conns: Connection[], phase: Phase, inflight: number, size: number): Promise<void> {
  const payload = new Uint8Array(size).fill(7);
  const worker = async (): Promise<void> => {
    let t0 = now();
    while (!phase.done) {
      const conn = conns[Math.floor(Math.random() * conns.length)]!;
      await conn.request(H.echo, payload);
      const t1 = now();
      phase.hist.record((t1 - t0) * 1000);
      t0 = t1;
      phase.ops++;
    }
  };
  const workers: Promise<void>[] = [];
  for (let i = 0; i < inflight; i++) workers.push(worker());
  await Promise.all(workers);
}

async function onMessage(msg: ToNode): Promise<void> {
  if (msg.type === "stop") return exit(0);
  if (msg.type === "cluster") {
    manager = await startManager(msg.local, msg.hosts);
    await waitConnected(manager);
    send({ type: "ready" });
    return;
  }
  if (msg.type === "load") {
    const m = manager;
    if (m === undefined) throw new Error("load before cluster");
    const conns = m.peers.map((p) => m.connection(p));
    const u0 = usageNow();
    const phase = new Phase(msg.durationMs, msg.maxOps);
    await load(conns, phase, msg.inflight, msg.payload);
    const elapsedMs = now() - phase.startedAt;
    const u1 = usageNow();
    const h: Histogram = phase.hist;
    send({
      type: "loaded",
      ops: phase.ops,
      elapsedMs,
      hist: h.buckets(),
      sumUs: h.sumUs,
      maxUs: h.maxUs,
      cpuUs: u1.userUs + u1.systemUs - u0.userUs - u0.systemUs,
      maxRss: u1.maxRss,
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
