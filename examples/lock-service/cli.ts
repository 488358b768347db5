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
  /** SIGKILL one node mid-run, then restart it. */
  chaos: boolean;
  /** Port of node 1's Prometheus endpoint (node i serves /metrics on metricsPort + i - 1); 0 picks free ports. */
  metricsPort: number;
}

export const DEFAULT_NODES = 3;
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
        { flags: "-d, --duration <s>", text: `seconds of workload [default: ${DEFAULT_DURATION_S}]` },
        { flags: "-p, --base-port <port>", text: "port of the first node, node i gets base+i; 0 = free ports [default: 0]" },
        { flags: "--host <address>", text: "address the nodes listen on [default: 127.0.0.1]" },
        { flags: "--chaos", text: "SIGKILL one node mid-run, show quorum holding and the reconnect" },
        { flags: "-h, --help", text: "show this help" },
      ],
    },
    helpWidth(columns),
  );
}

export function parseDemoArgs(argv: readonly string[]): DemoOptions {
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(demoHelp(process.stdout.isTTY ? process.stdout.columns : undefined));
    process.exit(0);
  }
  const args = yargs([...argv])
    .scriptName("npm start --")
    .option("nodes", { alias: "n", type: "number", default: DEFAULT_NODES, describe: "number of nodes (2..16)" })
    .option("duration", { alias: "d", type: "number", default: DEFAULT_DURATION_S, describe: "seconds of workload" })
    .option("base-port", { alias: "p", type: "number", default: 0, describe: "port of the first node, node i gets base+i; 0 = free ports" })
    .option("host", { type: "string", default: "127.0.0.1", describe: "address the nodes listen on" })
    .option("metrics-port", { type: "number", default: 0, describe: "port of node1's /metrics (Prometheus), node i gets base+i-1; 0 = free ports" })
    .option("chaos", { type: "boolean", default: false, describe: "SIGKILL one node mid-run, show quorum holding and the reconnect" })
    .check((a) => {
      if (!Number.isInteger(a.nodes) || a.nodes < 2 || a.nodes > 16) throw new Error("--nodes must be an integer from 2 to 16");
      if (a.chaos && a.nodes < 3) throw new Error("--chaos needs at least 3 nodes, so that a quorum survives one kill");
      if (!(a.duration > 0) || a.duration > 3600) throw new Error("--duration must be between 0 and 3600 seconds");
      if (a.chaos && a.duration < 4) throw new Error("--chaos needs --duration of at least 4 seconds");
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
    durationMs: Math.round(args.duration * 1000),
    basePort: args["base-port"],
    host: args.host,
    chaos: args.chaos,
    metricsPort: args["metrics-port"],
  };
}
