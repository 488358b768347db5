/**
 * The many-node row: N Manager processes (bench/servers/cluster-node.ts) forming one cluster
 * on loopback, every node calling random peers. Not pinned: N processes share the cores.
 */
import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import type { FromNode, ToNode } from "../servers/cluster-node.js";
import { nextMessage, spawnNode, stopChild } from "./child.js";
import { Histogram } from "./histogram.js";
import { SlowError } from "./verdict.js";

export interface ClusterRun {
  nodes: number;
  inflight: number;
  payload: number;
  warmupMs: number;
  durationMs: number;
  maxOps: number;
  nice: number;
  nodeArgs: (who: string) => string[];
}

export interface ClusterResult {
  ops: number;
  elapsedMs: number;
  p50Us: number;
  p99Us: number;
  cpuUs: number;
  maxRss: number;
}

const START_TIMEOUT_MS = 20_000;

function pick<T extends FromNode["type"]>(type: T) {
  return (m: unknown): Extract<FromNode, { type: T }> | undefined => {
    const msg = m as FromNode;
    if (msg.type === "error") throw msg.slow === true ? new SlowError(`cluster node: ${msg.message}`) : new Error(`cluster node: ${msg.message}`);
    return msg.type === type ? (msg as Extract<FromNode, { type: T }>) : undefined;
  };
}

export async function runCluster(distBench: string, run: ClusterRun): Promise<ClusterResult> {
  const children: ChildProcess[] = [];
  try {
    for (let i = 0; i < run.nodes; i++) {
      children.push(spawnNode(join(distBench, "servers", "cluster-node.js"), { nice: run.nice, nodeArgs: run.nodeArgs(`node${i}`) }));
    }
    const ports = await Promise.all(children.map((c, i) => nextMessage(c, pick("listening"), START_TIMEOUT_MS, `cluster node ${i} start`)));
    const hosts = ports.map((p) => `ws://127.0.0.1:${p.port}/grid`);
    const ready = children.map((c, i) => nextMessage(c, pick("ready"), START_TIMEOUT_MS, `cluster node ${i} connect`));
    children.forEach((c, i) => c.send({ type: "cluster", local: hosts[i]!, hosts } satisfies ToNode));
    await Promise.all(ready);
    const phase = async (durationMs: number) => {
      const done = children.map((c, i) => nextMessage(c, pick("loaded"), durationMs + START_TIMEOUT_MS, `cluster node ${i} load`));
      for (const c of children) c.send({ type: "load", durationMs, inflight: run.inflight, payload: run.payload, maxOps: run.maxOps } satisfies ToNode);
      return Promise.all(done);
    };
    if (run.warmupMs > 0) await phase(run.warmupMs);
    const results = await phase(run.durationMs);
    const hist = new Histogram();
    let ops = 0;
    let cpuUs = 0;
    let maxRss = 0;
    let elapsedMs = 0;
    for (const r of results) {
      hist.merge(r.hist, r.sumUs, r.maxUs);
      ops += r.ops;
      cpuUs += r.cpuUs;
      maxRss = Math.max(maxRss, r.maxRss);
      elapsedMs = Math.max(elapsedMs, r.elapsedMs);
    }
    return { ops, elapsedMs, p50Us: hist.percentile(0.5), p99Us: hist.percentile(0.99), cpuUs, maxRss };
  } finally {
    await Promise.all(children.map((c) => stopChild(c)));
  }
}
