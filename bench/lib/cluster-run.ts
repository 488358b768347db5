/**
 * The many-node rows: N Manager processes (bench/servers/cluster-node.ts) forming one cluster
 * on loopback. Not pinned: N processes share the cores.
 *
 * - "load": every node calls random peers ("random"), or only its fixed partner ("pairs":
 *   node 2k with node 2k+1, all links of the cluster still up), with `inflight` requests in
 *   flight per node. CPU is summed over every process (each node is client and server).
 * - "connect": `setups` times, every node creates its Manager at once and reports when it is
 *   connected to every peer; one operation is one whole cluster set-up, its latency the time
 *   from the first `new Manager` to the last node connected to all its peers.
 */
import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import type { FromNode, ToNode } from "../servers/cluster-node.js";
import { nextMessage, spawnNode, stopChild } from "./child.js";
import { Histogram } from "./histogram.js";
import { makeBenchTls } from "./tls-certs.js";
import { gridAddress } from "./tsgrid-cluster.js";
import { SlowError } from "./verdict.js";

export interface ClusterRun {
  nodes: number;
  /** Requests in flight per node (load mode). */
  inflight: number;
  payload: number;
  warmupMs: number;
  durationMs: number;
  maxOps: number;
  nice: number;
  nodeArgs: (who: string) => string[];
  /**
   * Whom a node calls: any peer at random (default), one fixed partner ("pairs"), or in
   * "oneway" pairs node 2k calls 2k+1, which only answers (a client and a server).
   */
  topology?: "random" | "pairs" | "oneway";
  /** Mutual TLS (wss://) links. */
  tls?: boolean;
  mode?: "load" | "connect";
  /** Cluster set-ups measured in connect mode (one more first, unmeasured, when warmupMs > 0). */
  setups?: number;
}

export interface ClusterResult {
  ops: number;
  elapsedMs: number;
  p50Us: number;
  p99Us: number;
  /** CPU of all processes over the measured operations, µs. */
  cpuUs: number;
  maxRss: number;
  extra: Record<string, number>;
}

const START_TIMEOUT_MS = 30_000;

function pick<T extends FromNode["type"]>(type: T) {
  return (m: unknown): Extract<FromNode, { type: T }> | undefined => {
    const msg = m as FromNode;
    if (msg.type === "error") throw msg.slow === true ? new SlowError(`cluster node: ${msg.message}`) : new Error(`cluster node: ${msg.message}`);
    return msg.type === type ? (msg as Extract<FromNode, { type: T }>) : undefined;
  };
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export async function runCluster(distBench: string, run: ClusterRun): Promise<ClusterResult> {
  const children: ChildProcess[] = [];
  const topology = run.topology ?? "random";
  if (topology !== "random" && run.nodes % 2 !== 0) throw new Error(`${topology} topology needs an even number of nodes`);
  try {
    for (let i = 0; i < run.nodes; i++) {
      children.push(spawnNode(join(distBench, "servers", "cluster-node.js"), { nice: run.nice, nodeArgs: run.nodeArgs(`node${i}`) }));
    }
    const tls = run.tls ? makeBenchTls() : undefined;
    const ports = await Promise.all(children.map((c, i) => nextMessage(c, pick("listening"), START_TIMEOUT_MS, `cluster node ${i} start`)));
    const hosts = ports.map((p) => gridAddress(p.port, tls !== undefined));
    const setUp = async () => {
      const ready = children.map((c, i) => nextMessage(c, pick("ready"), START_TIMEOUT_MS, `cluster node ${i} connect`));
      children.forEach((c, i) => c.send({ type: "cluster", local: hosts[i]!, hosts, ...(tls ? { tls } : {}) } satisfies ToNode));
      const r = await Promise.all(ready);
      const first = Math.min(...r.map((x) => x.startedAt));
      const last = Math.max(...r.map((x) => x.connectedAt));
      return {
        clusterMs: last - first,
        nodeMs: r.map((x) => x.connectedAt - x.startedAt),
        cpuUs: r.reduce((s, x) => s + x.cpuUs, 0),
        failedDials: r.reduce((s, x) => s + x.failedDials, 0),
        waitedPeers: r.reduce((s, x) => s + x.waitedPeers, 0),
        waitedMs: r.reduce((s, x) => s + x.waitedMs, 0),
        redialWaitMs: r.reduce((s, x) => s + x.redialWaitMs, 0),
        redials: r.reduce((s, x) => s + x.redials, 0),
        // From the first new Manager to the last node listening: how staggered the start was.
        listenSpreadMs: Math.max(...r.map((x) => x.listeningAt)) - first,
      };
    };

    if (run.mode === "connect") {
      const reset = async () => {
        const closed = children.map((c, i) => nextMessage(c, pick("closed"), START_TIMEOUT_MS, `cluster node ${i} reset`));
        for (const c of children) c.send({ type: "reset" } satisfies ToNode);
        await Promise.all(closed);
      };
      if (run.warmupMs > 0) {
        await setUp();
        await reset();
      }
      const setups = Math.max(1, run.setups ?? 5);
      const clusterMs: number[] = [];
      const nodeMs: number[] = [];
      let cpuUs = 0;
      let failedDials = 0;
      let waitedPeers = 0;
      let waitedMs = 0;
      let redialWaitMs = 0;
      let redials = 0;
      let listenSpreadMs = 0;
      for (let k = 0; k < setups; k++) {
        const s = await setUp();
        clusterMs.push(s.clusterMs);
        nodeMs.push(...s.nodeMs);
        cpuUs += s.cpuUs;
        failedDials += s.failedDials;
        waitedPeers += s.waitedPeers;
        waitedMs += s.waitedMs;
        redialWaitMs += s.redialWaitMs;
        redials += s.redials;
        listenSpreadMs += s.listenSpreadMs;
        await reset();
      }
      const hist = new Histogram();
      for (const ms of clusterMs) hist.record(ms * 1000);
      const sortedCluster = [...clusterMs].sort((a, b) => a - b);
      const sortedNode = nodeMs.sort((a, b) => a - b);
      const links = (run.nodes * (run.nodes - 1)) / 2;
      return {
        ops: setups,
        elapsedMs: clusterMs.reduce((a, b) => a + b, 0),
        p50Us: quantile(sortedCluster, 0.5) * 1000,
        p99Us: quantile(sortedCluster, 0.99) * 1000,
        cpuUs,
        maxRss: 0,
        extra: {
          "cluster set-ups measured": setups,
          "cluster set-up ms: fastest": sortedCluster[0]!,
          "cluster set-up ms: median": quantile(sortedCluster, 0.5),
          "cluster set-up ms: slowest": sortedCluster[sortedCluster.length - 1]!,
          "one node's set-up ms (new Manager to all peers connected): p50": quantile(sortedNode, 0.5),
          "one node's set-up ms: p99": quantile(sortedNode, 0.99),
          "CPU ms per link set-up (both sides, all nodes' set-up CPU / links)": cpuUs / setups / links / 1000,
          "failed dial attempts per cluster set-up (peer not listening yet, ...)": failedDials / setups,
          "links whose first dial failed and waited for a redial, per cluster set-up": waitedPeers / setups,
          "ms from such a link's first failed dial to connected (mean)": waitedPeers > 0 ? waitedMs / waitedPeers : 0,
          "ms from a failed dial to the redial (mean: the backoff delay and timer lag)": redials > 0 ? redialWaitMs / redials : 0,
          "ms from the first new Manager to the last node listening (mean)": listenSpreadMs / setups,
        },
      };
    }

    await setUp();
    const phase = async (durationMs: number) => {
      const done = children.map((c, i) => nextMessage(c, pick("loaded"), durationMs + START_TIMEOUT_MS, `cluster node ${i} load`));
      children.forEach((c, i) =>
        c.send({
          type: "load",
          durationMs,
          inflight: topology === "oneway" && i % 2 === 1 ? 0 : run.inflight,
          payload: run.payload,
          maxOps: run.maxOps,
          ...(topology !== "random" ? { partner: hosts[i ^ 1]! } : {}),
        } satisfies ToNode),
      );
      return Promise.all(done);
    };
    if (run.warmupMs > 0) await phase(run.warmupMs);
    const results = await phase(run.durationMs);
    const hist = new Histogram();
    let ops = 0;
    let cpuUs = 0;
    let sysUs = 0;
    let maxRss = 0;
    let elapsedMs = 0;
    let messagesOut = 0;
    let framesOut = 0;
    let elu = 0;
    for (const r of results) {
      hist.merge(r.hist, r.sumUs, r.maxUs);
      ops += r.ops;
      cpuUs += r.cpuUs;
      sysUs += r.sysUs;
      maxRss = Math.max(maxRss, r.maxRss);
      elapsedMs = Math.max(elapsedMs, r.elapsedMs);
      messagesOut += r.messagesOut;
      framesOut += r.framesOut;
      elu += r.elu;
    }
    const links = topology === "random" ? run.nodes * (run.nodes - 1) : topology === "pairs" ? run.nodes : run.nodes / 2;
    const callers = topology === "oneway" ? run.nodes / 2 : run.nodes;
    return {
      ops,
      elapsedMs,
      p50Us: hist.percentile(0.5),
      p99Us: hist.percentile(0.99),
      cpuUs,
      maxRss,
      extra: {
        "requests in flight per directed link (per node / peers called)": (run.inflight * callers) / links,
        "frames per ws message out": messagesOut > 0 ? framesOut / messagesOut : 0,
        "ws messages out per call (both directions)": ops > 0 ? messagesOut / ops : 0,
        "event loop busy, mean over nodes": elu / results.length,
        "kernel share of the CPU": cpuUs > 0 ? sysUs / cpuUs : 0,
      },
    };
  } finally {
    await Promise.all(children.map((c) => stopChild(c)));
  }
}
