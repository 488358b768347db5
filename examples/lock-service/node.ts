/**
 * One node of the lock service: the process entry point (also the container image's).
 *
 *   TSGRID_SECRET=... node dist/examples/lock-service/node.js --index 0 --hosts ws://127.0.0.1:9001/grid,ws://127.0.0.1:9002/grid [--metrics-port 9101]
 *
 * Flags: see node-config.ts (`--local`, `--listen`, `--health-port`, ping and dial timings,
 * `--tls-cert/--tls-key/--tls-ca` for wss:// clusters). It serves its share of the locks to
 * every other node over one tsgrid Manager (shared-secret auth, secret from the TSGRID_SECRET
 * environment variable). Started by the demo orchestrator (main.ts, over the IPC channel), it
 * also runs the workload and reports its metrics; started alone (a container), it serves
 * until SIGTERM, with GET /livez and /readyz on `--health-port` (ready = connected to enough
 * peers for a write quorum). With --metrics-port it serves Prometheus metrics at
 * http://<its host>:<port>/metrics.
 */
import { setMaxListeners } from "node:events";
import { createServer } from "node:http";
import { Manager, createTcpDialer, sharedSecretAuth } from "tsgrid";
import { registerLocker } from "../../generated/locks.js";
import { LockTable } from "./lock-table.js";
import { Metrics } from "./metrics.js";
import { metricsEndpoint } from "./metrics-endpoint.js";
import type { NodeMessage, OrchestratorMessage } from "./ipc.js";
import { parseNodeArgs, USAGE, type NodeConfig } from "./node-config.js";
import { quorumOf } from "./quorum-mutex.js";
import { LockService } from "./server.js";
import { Workload, type PeerInfo } from "./workload.js";

/** Demo timings: short, so that expiry and reconnects show within a few seconds. */
const LOCK_VALIDITY_MS = 3_000;
const EXPIRY_SWEEP_MS = 250;
const PROGRESS_MS = 250;
const CONNECT_TIMEOUT_MS = 15_000;
/** Bound of the drain on SIGTERM. */
const DRAIN_TIMEOUT_MS = 8_000;

let config: NodeConfig;
try {
  config = parseNodeArgs(process.argv.slice(2), process.env);
} catch (err) {
  console.error(`node.js: ${err instanceof Error ? err.message : String(err)}`);
  console.error(USAGE);
  process.exit(2);
}
const { hosts, index, local, secret } = config;

const cluster: PeerInfo[] = hosts.map((host, i) => ({ host, label: `node${i + 1}` }));
const self = `node${index + 1}`;
const labelOf = new Map(cluster.map((p) => [p.host, p.label]));
const send = (msg: NodeMessage): void => void process.send?.(msg);

const table = new LockTable({ validityMs: LOCK_VALIDITY_MS });
const metrics = new Metrics();
const prometheus = config.metricsPort === undefined ? undefined : metricsEndpoint();

// Timings and TLS from the command line (node-config.ts); all optional.
const networkOptions = {
  pingIntervalMs: config.pingIntervalMs,
  pingTimeoutMs: config.pingTimeoutMs,
  dialTimeoutMs: config.dialTimeoutMs,
  // wss:// clusters: present this node's certificate and verify the peer's against the CA.
  dialer: config.tls ? createTcpDialer({ tls: config.tls }) : undefined,
};
const listenOptions = {
  host: config.listenHost,
  // Serve this node's certificate; ask every peer for one signed by the CA, refuse others.
  tls: config.tls ? { ...config.tls, requestCert: true, rejectUnauthorized: true } : undefined,
};

// #region lock-node
const manager = new Manager({
  local,
  hosts,
  auth: sharedSecretAuth(secret),
  reconnect: { initialDelayMs: 50, maxDelayMs: 500 }, // a restarted peer is back within 0.5 s
  interceptors: prometheus?.metrics.interceptors, // Prometheus series per handler (with --metrics-port)
  ...networkOptions,
});
const draining = new AbortController();
const graceMs = config.graceMs ?? 0;
registerLocker(manager, new LockService(table, { metrics, draining: draining.signal, grantNotBefore: graceMs > 0 ? Date.now() + graceMs : undefined }));
await manager.listen(listenOptions);
// #endregion lock-node
if (prometheus !== undefined) {
  prometheus.metrics.observe(manager); // per-peer series
  // A port still held (a restarted node whose predecessor has not released it yet) costs the
  // endpoint, not the node.
  await prometheus.listen(config.listenHost ?? new URL(local).hostname, config.metricsPort!).catch((err: unknown) => {
    console.error(`${self}: no /metrics: ${err instanceof Error ? err.message : String(err)}`);
  });
}

// Health: live while the process runs; ready once connected to enough peers for a write
// quorum (n/2+1 nodes counting this one), so a load balancer or Kubernetes only sends work
// to a node that can take locks.
const connectedPeers = new Set<string>();
manager.onStateChange((peer, state) => {
  if (state === "connected") connectedPeers.add(peer);
  else connectedPeers.delete(peer);
});
const health =
  config.healthPort === undefined
    ? undefined
    : createServer((req, res) => {
        const needed = quorumOf(hosts.length, true) - 1;
        const ready = connectedPeers.size >= needed;
        const body = JSON.stringify({ local, connected: connectedPeers.size, peers: manager.peers.length, needed });
        const status = req.url === "/livez" ? 200 : req.url === "/readyz" ? (ready ? 200 : 503) : 404;
        res.writeHead(status, { "content-type": "application/json" }).end(body);
      }).listen(config.healthPort, config.listenHost);

const sweep = setInterval(() => table.expireStale(), EXPIRY_SWEEP_MS);
manager.onStateChange((peer, state) => send({ type: "peer", peer: labelOf.get(peer) ?? peer, state }));

let stopping = false;
async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  clearInterval(sweep);
  table.close();
  health?.close();
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
// SIGTERM (docker stop, a pod deleted, a rolling restart): drain first, so calls in flight
// finish and peers stop sending new ones at once, then close. Within the grace periods of
// deploy/ (10 s compose, 15 s Kubernetes).
process.on("SIGTERM", () => {
  if (!stopping) void drain(DRAIN_TIMEOUT_MS).catch(() => shutdown(0));
});

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
