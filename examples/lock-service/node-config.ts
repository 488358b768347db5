/**
 * The command line of one lock-service node (node.ts), parsed without side effects so that
 * tests, the Dockerfile and the Kubernetes manifests can be checked against it.
 *
 *   node node.js --hosts ws://a:7400/grid,ws://b:7400/grid,ws://c:7400/grid (--index 0 | --local ws://a:7400/grid)
 *                [--listen 0.0.0.0] [--health-port 8080] [--metrics-port 9101] [--ping-interval-ms N] [--ping-timeout-ms N]
 *                [--dial-timeout-ms N] [--tls-cert F --tls-key F --tls-ca F]
 *   TSGRID_SECRET=...  (required: the cluster's shared secret)
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

/** Every flag node.ts takes, with whether it needs a value. */
export const NODE_FLAGS = {
  index: "position of this node in --hosts (0-based); or give --local",
  local: "this node's own address, exactly as listed in --hosts; or give --index",
  hosts: "every node's address, comma-separated, identical on every node",
  listen: "interface to bind (default: the host of this node's address; 0.0.0.0 in containers)",
  "health-port": "serve GET /livez and /readyz on this port (0 or absent: none)",
  "metrics-port": "serve Prometheus metrics at GET /metrics on this port (absent: none)",
  "ping-interval-ms": "connection ping period (default 10000)",
  "ping-timeout-ms": "a link silent this long is dropped (default 20000)",
  "dial-timeout-ms": "bound of one dial attempt (default 10000)",
  "grace-ms": "grant no lock for this long after start (the demo sets it when it restarts a drained node)",
  "tls-cert": "PEM certificate file of this node (wss:// addresses: served and presented to peers)",
  "tls-key": "PEM private key file of this node",
  "tls-ca": "PEM file of the CA that signed every node's certificate (peers are verified against it, both ways)",
} as const;

export type NodeFlag = keyof typeof NODE_FLAGS;

export interface NodeConfig {
  local: string;
  hosts: string[];
  index: number;
  secret: string;
  listenHost: string | undefined;
  healthPort: number | undefined;
  metricsPort: number | undefined;
  graceMs: number | undefined;
  pingIntervalMs: number | undefined;
  pingTimeoutMs: number | undefined;
  dialTimeoutMs: number | undefined;
  tls: { cert: string; key: string; ca: string } | undefined;
}

export const USAGE =
  "usage: TSGRID_SECRET=... node node.js --hosts <ws://host:port/grid,...> (--index <i> | --local <address>) " +
  "[--listen <ip>] [--health-port <port>] [--metrics-port <port>] [--ping-interval-ms <ms>] [--ping-timeout-ms <ms>] [--dial-timeout-ms <ms>] " +
  "[--tls-cert <file> --tls-key <file> --tls-ca <file>]";

function optionalMs(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer (ms), got ${value}`);
  return n;
}

/** Parses node.ts's arguments and environment; throws an Error whose message says what is wrong. */
export function parseNodeArgs(argv: readonly string[], env: NodeJS.ProcessEnv, readFile: (path: string) => string = (p) => readFileSync(p, "utf8")): NodeConfig {
  const options = Object.fromEntries(Object.keys(NODE_FLAGS).map((k) => [k, { type: "string" as const }]));
  const { values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false });
  const v = values as Partial<Record<NodeFlag, string>>;
  const hosts = (v.hosts ?? "").split(",").map((h) => h.trim()).filter((h) => h.length > 0);
  if (hosts.length === 0) throw new Error("--hosts is required");
  let index: number;
  if (v.local !== undefined) {
    index = hosts.indexOf(v.local);
    if (index < 0) throw new Error(`--local ${v.local} is not in --hosts (it must match one entry exactly)`);
    if (v.index !== undefined && Number(v.index) !== index) throw new Error("--index and --local disagree");
  } else if (v.index !== undefined) {
    index = Number(v.index);
    if (!Number.isInteger(index) || index < 0 || index >= hosts.length) throw new Error(`--index must be 0..${hosts.length - 1}, got ${v.index}`);
  } else {
    throw new Error("--index or --local is required");
  }
  const secret = env["TSGRID_SECRET"];
  if (secret === undefined || secret.length === 0) throw new Error("the TSGRID_SECRET environment variable is required");
  let healthPort: number | undefined;
  if (v["health-port"] !== undefined) {
    healthPort = Number(v["health-port"]);
    if (!Number.isInteger(healthPort) || healthPort < 0 || healthPort > 65535) throw new Error(`--health-port must be 0..65535, got ${v["health-port"]}`);
    if (healthPort === 0) healthPort = undefined;
  }
  let metricsPort: number | undefined;
  if (v["metrics-port"] !== undefined) {
    metricsPort = Number(v["metrics-port"]);
    if (!Number.isInteger(metricsPort) || metricsPort < 0 || metricsPort > 65535) throw new Error(`--metrics-port must be 0..65535, got ${v["metrics-port"]}`);
  }
  const tlsFiles = [v["tls-cert"], v["tls-key"], v["tls-ca"]];
  let tls: NodeConfig["tls"];
  if (tlsFiles.some((f) => f !== undefined)) {
    if (tlsFiles.some((f) => f === undefined)) throw new Error("--tls-cert, --tls-key and --tls-ca go together");
    tls = { cert: readFile(v["tls-cert"]!), key: readFile(v["tls-key"]!), ca: readFile(v["tls-ca"]!) };
  }
  const local = hosts[index]!;
  const secure = local.startsWith("wss://");
  if (secure && tls === undefined) throw new Error(`${local} is a wss:// address: give --tls-cert, --tls-key and --tls-ca`);
  if (!secure && tls !== undefined) throw new Error("--tls-* given but this node's address is not wss://");
  return {
    local,
    hosts,
    index,
    secret,
    listenHost: v.listen,
    healthPort,
    metricsPort,
    graceMs: optionalMs("grace-ms", v["grace-ms"]),
    pingIntervalMs: optionalMs("ping-interval-ms", v["ping-interval-ms"]),
    pingTimeoutMs: optionalMs("ping-timeout-ms", v["ping-timeout-ms"]),
    dialTimeoutMs: optionalMs("dial-timeout-ms", v["dial-timeout-ms"]),
    tls,
  };
}
