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
  /** Fault injected into one node mid-run: none, SIGKILL then restart, or a network partition then heal. */
  chaos: ChaosKind | undefined;
  /** Where the nodes run: processes on this host, or one network namespace ("host") each. */
  hosts: HostsKind;
  /** Port of node 1's Prometheus endpoint (node i serves /metrics on metricsPort + i - 1); 0 picks free ports. */
  metricsPort: number;
}

export type ChaosKind = "kill" | "partition";
export type HostsKind = "local" | "netns";

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
        { flags: "--hosts <local|netns>", text: "local: every node on --host; netns: each node on its own Linux network namespace (198.18.0.0/24, no route out; needs root and iproute2) [default: local]" },
        { flags: "--chaos [kill|partition]", text: "fault one node mid-run and show quorum holding, the detection and the reconnect: kill = SIGKILL then restart (a bare --chaos); partition = cut its network link (no RST), then heal it (needs --hosts netns)" },
        { flags: "--metrics-port <port>", text: "port of node1's Prometheus /metrics, node i gets base+i-1; 0 = free ports [default: 0]" },
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
    .option("chaos", {
      type: "string",
      describe:
        "inject a fault into one node mid-run and show quorum holding, the detection and the reconnect: " +
        "kill (SIGKILL, then restart; the default of a bare --chaos) or partition (its network link is cut, no RST, then healed; needs --hosts netns)",
    })
    .option("hosts", {
      type: "string",
      default: "local",
      choices: ["local", "netns"],
      describe: "local: every node on --host; netns: each node on its own network namespace (198.18.0.0/24, needs root and iproute2)",
    })
    .check((a) => {
      if (a.chaos !== undefined && !["", "kill", "partition"].includes(a.chaos)) throw new Error("--chaos must be kill or partition");
      if (a.chaos === "partition" && a.hosts !== "netns") throw new Error("--chaos partition needs --hosts netns (a partition is cut in the network)");
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
    durationMs: Math.round(args.duration * 1000),
    basePort: args["base-port"],
    host: args.host,
    chaos: args.chaos === undefined ? undefined : args.chaos === "partition" ? "partition" : "kill",
    hosts: args.hosts === "netns" ? "netns" : "local",
    metricsPort: args["metrics-port"],
  };
}
