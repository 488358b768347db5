/** The demo's command line (`npm start -- --help`). */
import yargs from "yargs";
import { formatHelp, helpWidth } from "../../codegen/help.js";

export interface DemoOptions {
  /** Number of node processes. */
  nodes: number;
  /** How long the workload runs, in ms. */
  durationMs: number;
  /** Port of the first node (node i listens on basePort + i); 0 picks free ports. */
  basePort: number;
  /** Interface the nodes listen on. */
  host: string;
  /** Fault injected mid-run: one node SIGKILLed then restarted, every node drained and restarted in turn, or one node's network cut then healed. */
  chaos: ChaosKind | undefined;
  /** Where the nodes run: processes on this host, or one network namespace ("host") each. */
  hosts: HostsKind;
  /** Port of node 1's Prometheus endpoint (node i serves /metrics on metricsPort + i - 1); 0 picks free ports. */
  metricsPort: number;
}

export type ChaosKind = "kill" | "rolling" | "partition";
export type HostsKind = "local" | "netns";

export const DEFAULT_NODES = 3;
/** Seconds of workload per node that --chaos rolling needs (drain, restart, reconnect). */
export const ROLLING_S_PER_NODE = 3;
export const DEFAULT_DURATION_S = 8;

/** `npm start -- --help`, laid out for a terminal `columns` wide (words are never cut). */
export function demoHelp(columns: number | undefined): string {
  return formatHelp(
    {
      usage: "npm start -- [options]",
      description:
        "Runs a distributed lock service (MinIO dsync style) on a local tsgrid cluster: " +
        "one process per node, one WebSocket per pair of nodes, shared-secret auth. Every node takes " +
        "locks by quorum across all nodes, follows their lock events (server stream) and refreshes its " +
        "leases in batches (bidirectional stream). Prints a summary and exits 0 when all went well.",
      options: [
        { flags: "-n, --nodes <n>", text: `number of nodes (2..16) [default: ${DEFAULT_NODES}]` },
        { flags: "-d, --duration <s>", text: `seconds of workload [default: ${DEFAULT_DURATION_S}; --chaos rolling: ${ROLLING_S_PER_NODE} per node + 4]` },
        { flags: "-p, --base-port <port>", text: "port of the first node, node i gets base+i; 0 = free ports [default: 0]" },
        { flags: "--host <address>", text: "address the nodes listen on [default: 127.0.0.1]" },
        { flags: "--hosts <local|netns>", text: "local: every node on --host; netns: each node on its own Linux network namespace (198.18.0.0/24, no route out; needs root and iproute2) [default: local]" },
        { flags: "--chaos [kill|rolling|partition]", text: "kill (the default): SIGKILL one node mid-run, show quorum holding and the reconnect (a DisconnectedError for its calls) - rolling: drain and restart every node in turn (a rolling upgrade), show no call failing but with DrainingError - partition: cut one node's network link (no RST), then heal it, show the detection and the reconnect (needs --hosts netns)" },
        { flags: "--metrics-port <port>", text: "port of node1's /metrics (Prometheus), node i gets base+i-1; 0 = free ports [default: 0]" },
        { flags: "-h, --help", text: "show this help" },
      ],
    },
    helpWidth(columns),
  );
}

/** The default --duration: 8 s, or enough for a rolling restart of every node with time to spare. */
function defaultDuration(chaos: string | undefined, nodes: number): number {
  return chaos === "rolling" ? Math.max(DEFAULT_DURATION_S, ROLLING_S_PER_NODE * nodes + 4) : DEFAULT_DURATION_S;
}

export function parseDemoArgs(argv: readonly string[]): DemoOptions {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(demoHelp(process.stdout.isTTY ? process.stdout.columns : undefined));
    process.exit(0);
  }
  const args = yargs([...argv])
    .scriptName("npm start --")
    .option("nodes", { alias: "n", type: "number", default: DEFAULT_NODES, describe: "number of nodes (2..16)" })
    .option("duration", { alias: "d", type: "number", describe: "seconds of workload" })
    .option("base-port", { alias: "p", type: "number", default: 0, describe: "port of the first node, node i gets base+i; 0 = free ports" })
    .option("host", { type: "string", default: "127.0.0.1", describe: "address the nodes listen on" })
    .option("metrics-port", { type: "number", default: 0, describe: "port of node1's /metrics (Prometheus), node i gets base+i-1; 0 = free ports" })
    .option("chaos", { type: "string", describe: "kill (the default of a bare --chaos) or rolling" })
    .option("hosts", {
      type: "string",
      default: "local",
      choices: ["local", "netns"],
      describe: "local: every node on --host; netns: each node on its own network namespace (198.18.0.0/24, needs root and iproute2)",
    })
    .check((raw) => {
      const a = { ...raw, duration: raw.duration ?? defaultDuration(raw.chaos, raw.nodes) };
      if (a.chaos !== undefined && !["", "kill", "rolling", "partition"].includes(a.chaos)) throw new Error("--chaos must be kill, rolling or partition");
      if (a.chaos === "partition" && a.hosts !== "netns") throw new Error("--chaos partition needs --hosts netns (a partition is cut in the network)");
      if (a.chaos === "rolling" && a.duration < ROLLING_S_PER_NODE * a.nodes) {
        throw new Error(`--chaos rolling needs --duration of at least ${ROLLING_S_PER_NODE} s per node (${ROLLING_S_PER_NODE * a.nodes} s here)`);
      }
      if (!Number.isInteger(a.nodes) || a.nodes < 2 || a.nodes > 16) throw new Error("--nodes must be an integer from 2 to 16");
      if (a.chaos !== undefined && a.nodes < 3) throw new Error("--chaos needs at least 3 nodes, so that a quorum survives one kill");
      if (!(a.duration > 0) || a.duration > 3600) throw new Error("--duration must be between 0 and 3600 seconds");
      if (a.chaos !== undefined && a.duration < 4) throw new Error("--chaos needs --duration of at least 4 seconds");
      if (a.chaos === "partition" && a.duration < 6) throw new Error("--chaos partition needs --duration of at least 6 seconds (the cut lasts 3 s at least)");
      if (!Number.isInteger(a["base-port"]) || a["base-port"] < 0 || a["base-port"] + a.nodes > 65536) throw new Error("--base-port out of range");
      if (!Number.isInteger(a["metrics-port"]) || a["metrics-port"] < 0 || a["metrics-port"] + a.nodes > 65536) throw new Error("--metrics-port out of range");
      return true;
    })
    .strict()
    .help(false)
    .version(false)
    .parseSync();
  return {
    nodes: args.nodes,
    durationMs: Math.round((args.duration ?? defaultDuration(args.chaos, args.nodes)) * 1000),
    basePort: args["base-port"],
    host: args.host,
    chaos: args.chaos === undefined ? undefined : args.chaos === "rolling" ? "rolling" : args.chaos === "partition" ? "partition" : "kill",
    hosts: args.hosts === "netns" ? "netns" : "local",
    metricsPort: args["metrics-port"],
  };
}
