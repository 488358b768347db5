/**
 * The multi-host test rig: N hosts as network namespaces on one switch (see
 * examples/lock-service/netns-hosts.ts), one node process (node.ts) per host, driven over
 * stdio. `netnsSkipReason()` is the one line a suite prints when it cannot run here.
 */
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { NetnsHosts, netnsSupport } from "../../examples/lock-service/netns-hosts.js";
import type { NodeCommand, NodeConfig } from "./node.js";

export { NetnsHosts };

const LOADER = fileURLToPath(new URL("../cluster/fixtures/register-ts.mjs", import.meta.url));
const NODE = fileURLToPath(new URL("./node.ts", import.meta.url));
const PORT = 7400;

/** Undefined when the rig can run; else why not, in one line. */
export function netnsSkipReason(): string | undefined {
  const s = netnsSupport();
  return s.ok ? undefined : `network-namespace suite skipped: ${s.why}`;
}

export type NodeEvent = { t: number; event?: string; id?: number; [key: string]: unknown };

/** Distributes an Omit over a union (so each command keeps its own fields). */
type WithoutId<T> = T extends unknown ? Omit<T, "id"> : never;

export class RigNode {
  readonly events: NodeEvent[] = [];
  private readonly watchers = new Set<() => void>();
  private nextId = 1;
  readonly exited: Promise<void>;

  constructor(
    readonly address: string,
    readonly child: ChildProcess,
  ) {
    let buffered = "";
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        try {
          this.events.push(JSON.parse(line) as NodeEvent);
        } catch {
          this.events.push({ t: Date.now(), event: "stdout", line });
        }
      }
      for (const w of [...this.watchers]) w();
    });
    this.exited = new Promise((resolve) => child.once("exit", () => resolve()));
    void this.exited.then(() => {
      for (const w of [...this.watchers]) w();
    });
  }

  /** Resolves with the first event (at or after index `from`) matching `pred`. */
  waitEvent(pred: (e: NodeEvent) => boolean, timeoutMs: number, what = "event", from = 0): Promise<NodeEvent> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const e = this.events.slice(from).find(pred);
        if (e !== undefined) done(() => resolve(e));
        else if (this.child.exitCode !== null || this.child.signalCode !== null) done(() => reject(new Error(`${this.address} exited before ${what}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`${this.address}: no ${what} within ${timeoutMs} ms`))), timeoutMs);
      const done = (fn: () => void): void => {
        clearTimeout(timer);
        this.watchers.delete(check);
        fn();
      };
      this.watchers.add(check);
      check();
    });
  }

  /** Sends a command; resolves with its reply. */
  command(cmd: WithoutId<NodeCommand>, timeoutMs = 30_000): Promise<NodeEvent> {
    const id = this.nextId++;
    this.child.stdin!.write(`${JSON.stringify({ ...cmd, id })}\n`);
    return this.waitEvent((e) => e.id === id, timeoutMs, `reply to ${cmd.op}`);
  }

  /** The latest state event of this node about `peer` at or before `t`... or any. */
  stateEvents(peer: string): NodeEvent[] {
    return this.events.filter((e) => e.event === "state" && e.peer === peer);
  }

  freeze(): void {
    this.child.kill("SIGSTOP");
  }

  thaw(): void {
    this.child.kill("SIGCONT");
  }
}

export interface RigCluster {
  hosts: NetnsHosts;
  nodes: RigNode[];
  config: Omit<NodeConfig, "local">;
  destroy(): void;
}

/** Builds `count` hosts, starts a node on each, waits until every pair is connected. */
export async function startCluster(count: number, timing: Pick<NodeConfig, "pingIntervalMs" | "pingTimeoutMs" | "dialTimeoutMs" | "reconnectMaxMs">): Promise<RigCluster> {
  const hosts = NetnsHosts.create(count);
  try {
    const addresses = hosts.hosts.map((h) => `ws://${h.address}:${PORT}/grid`);
    const config = { hosts: addresses, secret: randomBytes(24).toString("base64url"), ...timing };
    const nodes = hosts.hosts.map((h, i) => {
      const child = hosts.spawnIn(i, process.execPath, ["--import", LOADER, NODE, JSON.stringify({ ...config, local: addresses[i] })], {
        stdio: ["pipe", "pipe", "inherit"],
      });
      return new RigNode(addresses[i]!, child);
    });
    // Generous: each node transpiles the sources at start, slow on a loaded machine.
    await Promise.all(nodes.map((n) => n.waitEvent((e) => e.event === "ready", 75_000, "ready")));
    await waitAllConnected(nodes, 15_000);
    return { hosts, nodes, config, destroy: () => hosts.destroy() };
  } catch (err) {
    hosts.destroy();
    throw err;
  }
}

/** Whether `node` currently sees `peer` connected (its latest state event). */
export function sees(node: RigNode, peer: string): boolean {
  const last = node.stateEvents(peer).at(-1);
  return last?.state === "connected";
}

/** Waits until every node sees every other connected; resolves with the time it happened. */
export async function waitAllConnected(nodes: readonly RigNode[], timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = nodes.every((n) => nodes.every((p) => p === n || sees(n, p.address)));
    if (ok) {
      // When the last "connected" event happened.
      let last = 0;
      for (const n of nodes) for (const p of nodes) if (p !== n) last = Math.max(last, n.stateEvents(p.address).at(-1)!.t);
      return last;
    }
    if (Date.now() > deadline) {
      const missing = nodes.flatMap((n) => nodes.filter((p) => p !== n && !sees(n, p.address)).map((p) => `${n.address}->${p.address}`));
      throw new Error(`not all pairs connected within ${timeoutMs} ms: ${missing.join(", ")}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** First time at or after `since` that `node` saw `peer` leave "connected". */
export function lostAt(node: RigNode, peer: string, since: number): number | undefined {
  return node.stateEvents(peer).find((e) => e.t >= since && e.state !== "connected" && e.state !== "connecting")?.t;
}
