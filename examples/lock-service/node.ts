/**
 * One node of the lock service: the process entry point.
 *
 *   node dist/examples/lock-service/node.js --index 0 --hosts ws://127.0.0.1:9001/grid,ws://127.0.0.1:9002/grid [--metrics-port 9101]
 *
 * It serves its share of the locks to every other node over one tsgrid Manager (shared-secret
 * auth, secret from the TSGRID_SECRET environment variable), and, when started by the demo
 * orchestrator (main.ts, over the IPC channel), runs the workload and reports its metrics.
 * With --metrics-port it serves Prometheus metrics at http://<its host>:<port>/metrics.
 */
import { setMaxListeners } from "node:events";
import { parseArgs } from "node:util";
import { Manager, sharedSecretAuth } from "tsgrid";
import { registerLocker } from "../../generated/locks.js";
import { LockTable } from "./lock-table.js";
import { Metrics } from "./metrics.js";
import { metricsEndpoint } from "./metrics-endpoint.js";
import type { NodeMessage, OrchestratorMessage } from "./ipc.js";
import { LockService } from "./server.js";
import { Workload, type PeerInfo } from "./workload.js";

/** Demo timings: short, so that expiry and reconnects show within a few seconds. */
const LOCK_VALIDITY_MS = 3_000;
const EXPIRY_SWEEP_MS = 250;
const PROGRESS_MS = 250;
const CONNECT_TIMEOUT_MS = 15_000;

const { values } = parseArgs({
  options: {
    index: { type: "string" },
    hosts: { type: "string" },
    "metrics-port": { type: "string" },
    // Set by the demo when it restarts a drained node: grant no lock for this long (ms).
    "grace-ms": { type: "string" },
  },
});
const hosts = (values.hosts ?? "").split(",").filter((h) => h.length > 0);
const index = Number(values.index);
const local = hosts[index];
const secret = process.env["TSGRID_SECRET"];
if (local === undefined || !Number.isInteger(index) || secret === undefined || secret.length === 0) {
  console.error("usage: TSGRID_SECRET=... node node.js --index <i> --hosts <ws://host:port/grid,...>");
  process.exit(2);
}

const cluster: PeerInfo[] = hosts.map((host, i) => ({ host, label: `node${i + 1}` }));
const self = `node${index + 1}`;
const labelOf = new Map(cluster.map((p) => [p.host, p.label]));
const send = (msg: NodeMessage): void => void process.send?.(msg);

const table = new LockTable({ validityMs: LOCK_VALIDITY_MS });
const metrics = new Metrics();
const prometheus = values["metrics-port"] === undefined ? undefined : metricsEndpoint();

// #region lock-node
const manager = new Manager({
  local,
  hosts,
  auth: sharedSecretAuth(secret),
  reconnect: { initialDelayMs: 50, maxDelayMs: 500 }, // a restarted peer is back within 0.5 s
  interceptors: prometheus?.metrics.interceptors, // Prometheus series per handler (with --metrics-port)
});
const draining = new AbortController();
const graceMs = Number(values["grace-ms"] ?? 0);
registerLocker(manager, new LockService(table, { metrics, draining: draining.signal, grantNotBefore: graceMs > 0 ? Date.now() + graceMs : undefined }));
await manager.listen();
// #endregion lock-node
if (prometheus !== undefined) {
  prometheus.metrics.observe(manager); // per-peer series
  // A port still held (a restarted node whose predecessor has not released it yet) costs the
  // endpoint, not the node.
  await prometheus.listen(new URL(local).hostname, Number(values["metrics-port"])).catch((err: unknown) => {
    console.error(`${self}: no /metrics: ${err instanceof Error ? err.message : String(err)}`);
  });
}

const sweep = setInterval(() => table.expireStale(), EXPIRY_SWEEP_MS);
manager.onStateChange((peer, state) => send({ type: "peer", peer: labelOf.get(peer) ?? peer, state }));

let stopping = false;
async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  clearInterval(sweep);
  table.close();
  await manager.close();
  await prometheus?.close();
  process.exit(code);
}

process.on("message", (raw) => {
  const msg = raw as OrchestratorMessage;
  if (msg.type === "start") void start(msg.until);
  else if (msg.type === "exit") {
    send({ type: "final", metrics: metrics.snapshot() });
    void shutdown(0);
  } else if (msg.type === "drain") void drain(msg.timeoutMs);
});
// The orchestrator is gone: do not linger.
process.on("disconnect", () => void shutdown(0));
process.on("SIGTERM", () => void shutdown(0));

let current: Workload | undefined;
let running: Promise<void> | undefined;

/** A rolling restart: stop this node's own calls, end its subscriptions, drain, report, exit. */
async function drain(timeoutMs: number): Promise<void> {
  current?.stopNow();
  await running;
  draining.abort();
  await manager.drain({ timeoutMs });
  send({ type: "final", metrics: metrics.snapshot() });
  await shutdown(0);
}

function start(until: number): void {
  running = run(until);
}

async function run(until: number): Promise<void> {
  const workload = new Workload(self, manager, table, cluster, metrics);
  current = workload;
  const progress = setInterval(() => send({ type: "progress", metrics: metrics.snapshot(), sections: workload.drainSections() }), PROGRESS_MS);
  try {
    const ready = AbortSignal.timeout(CONNECT_TIMEOUT_MS);
    setMaxListeners(0, ready); // one listener per peer
    await Promise.all(manager.peers.map((peer) => manager.connection(peer).waitConnected({ signal: ready })));
    send({ type: "connected" });
    await workload.run(until);
  } catch (err) {
    metrics.unexpectedError(`${self}: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    clearInterval(progress);
  }
  send({ type: "done", metrics: metrics.snapshot(), sections: workload.drainSections() });
}

send({ type: "ready" });
