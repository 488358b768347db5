/**
 * `npm start`: the lock-service demo. Starts one process per node on 127.0.0.1 (or each on
 * its own network namespace with --hosts netns), lets them connect (shared-secret auth), has
 * every node run the workload against every other node, optionally kills one node mid-run
 * and restarts it (--chaos) or cuts its network link and heals it (--chaos partition), then
 * prints a summary and exits 0 when everything held (1 otherwise).
 *
 *   npm start -- --nodes 5 --chaos
 *   sudo npm start -- --hosts netns --chaos partition
 */
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { hideBin } from "yargs/helpers";
import { freePorts } from "../free-ports.js";
import { parseDemoArgs, type DemoOptions } from "./cli.js";
import type { NodeMessage, OrchestratorMessage } from "./ipc.js";
import { mergeSnapshots, type MetricsSnapshot } from "./metrics.js";
import { checkMutualExclusion, type CriticalSection } from "./mutual-exclusion.js";
import { NetnsHosts, netnsSupport } from "./netns-hosts.js";
import { formatProgress, formatSummary, verdict, type ChaosReport, type RollingReport } from "./summary.js";

// Compiled, nodes run dist/.../node.js; from the sources (tests, with a TS loader in execArgv), node.ts.
const NODE_SCRIPT = fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? "./node.ts" : "./node.js", import.meta.url));
/** How long a node may take to start listening, and to finish after the run. */
const STARTUP_TIMEOUT_MS = 60_000;
const SHUTDOWN_TIMEOUT_MS = 20_000;
/** Lines of each node's output kept to show when the run fails. */
const LOG_LINES_KEPT = 40;
/** Chaos timeline, as fractions of the run. */
const KILL_AT = 0.3;
/** --chaos rolling: how long each node's drain may take before its links are closed anyway. */
const DRAIN_TIMEOUT_MS = 10_000;
/** --chaos rolling: a restarted node grants no lock for the nodes' lock validity (node.ts). */
const RESTART_GRACE_MS = 3_000;
const RESTART_AT = 0.55;
/** Shortest cut of --chaos partition: the ping timeout (1 s) + a check, with room for a loaded machine. */
const MIN_PARTITION_MS = 3_000;
/** Port of every node with --hosts netns (each has its own address). */
const NETNS_PORT = 7400;
/** Port of every node's /metrics with --hosts netns (unless --metrics-port). */
const NETNS_METRICS_PORT = 9100;
/**
 * Link timings with --hosts netns: a cut link (no RST) is only seen by pings, so they are
 * short enough to show within the demo: dropped within 1 s + one 250 ms check, redialled
 * within 1 s of dial timeout + 0.5 s of backoff.
 */
const NETNS_TIMINGS = ["--ping-interval-ms", "250", "--ping-timeout-ms", "1000", "--dial-timeout-ms", "1000"];

type Spawner = (index: number, command: string, args: readonly string[], options: SpawnOptions) => ChildProcess;

/** One node process (one incarnation: a restarted node is a new NodeProcess). */
class NodeProcess {
  readonly child: ChildProcess;
  latest: MetricsSnapshot | undefined;
  done = false;
  /** Peers this node currently sees connected. */
  readonly connectedPeers = new Set<string>();
  readonly log: string[] = [];
  /** Every critical section this process reported. */
  readonly sections: CriticalSection[] = [];
  private readonly waiters: { type: NodeMessage["type"]; resolve: () => void }[] = [];
  private exited = false;
  readonly exit: Promise<void>;

  constructor(
    readonly label: string,
    index: number,
    hosts: readonly string[],
    secret: string,
    metricsPort: number,
    private readonly onPeer: (node: NodeProcess, peer: string, state: string) => void,
    spawner: Spawner,
    extraArgs: readonly string[] = [],
  ) {
    this.child = spawner(index, process.execPath, [...process.execArgv, NODE_SCRIPT, "--index", String(index), "--hosts", hosts.join(","), "--metrics-port", String(metricsPort), ...extraArgs], {
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      env: { ...process.env, TSGRID_SECRET: secret },
    });
    for (const out of [this.child.stdout, this.child.stderr]) {
      out?.setEncoding("utf8");
      out?.on("data", (text: string) => {
        for (const line of text.split("\n")) if (line.trim()) this.log.push(line);
        if (this.log.length > LOG_LINES_KEPT) this.log.splice(0, this.log.length - LOG_LINES_KEPT);
      });
    }
    this.child.on("message", (raw) => this.handle(raw as NodeMessage));
    this.exit = new Promise((resolve) => this.child.once("exit", () => resolve()));
    void this.exit.then(() => {
      this.exited = true;
      this.connectedPeers.clear();
    });
  }

  get alive(): boolean {
    return !this.exited;
  }

  send(msg: OrchestratorMessage): void {
    if (this.child.connected) this.child.send(msg);
  }

  /** Resolves on the next message of that type; rejects when the process exits first or after `timeoutMs`. */
  when(type: NodeMessage["type"], timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.label}: no "${type}" within ${timeoutMs} ms`)), timeoutMs);
      const waiter = {
        type,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      this.waiters.push(waiter);
      void this.exit.then(() => {
        clearTimeout(timer);
        reject(new Error(`${this.label} exited before "${type}"`));
      });
    });
  }

  private handle(msg: NodeMessage): void {
    if (msg.type === "progress" || msg.type === "done" || msg.type === "final") this.latest = msg.metrics;
    if (msg.type === "progress" || msg.type === "done") for (const s of msg.sections) this.sections.push(s);
    if (msg.type === "done") this.done = true;
    if (msg.type === "peer") {
      if (msg.state === "connected") this.connectedPeers.add(msg.peer);
      else this.connectedPeers.delete(msg.peer);
      this.onPeer(this, msg.peer, msg.state);
    }
    for (const w of this.waiters.filter((w) => w.type === msg.type)) {
      this.waiters.splice(this.waiters.indexOf(w), 1);
      w.resolve();
    }
  }
}

export async function main(options: DemoOptions): Promise<number> {
  let rig: NetnsHosts | undefined;
  let hosts: string[];
  let metricsPorts: number[];
  let spawner: Spawner = (_i, command, args, opts) => spawn(command, args, opts);
  if (options.hosts === "netns") {
    const support = netnsSupport();
    if (!support.ok) {
      console.error(`--hosts netns is not possible here: ${support.why}`);
      return 1;
    }
    const made = NetnsHosts.create(options.nodes);
    rig = made;
    hosts = made.hosts.map((h) => `ws://${h.address}:${NETNS_PORT}/grid`);
    // Each node has its own address: the same port everywhere.
    metricsPorts = hosts.map(() => (options.metricsPort > 0 ? options.metricsPort : NETNS_METRICS_PORT));
    spawner = (i, command, args, opts) => made.spawnIn(i, command, args, opts);
  } else {
    // Free ports for the grid and the /metrics endpoints in one call, so the two sets differ.
    const free = await freePorts(2 * options.nodes, options.host);
    const ports = options.basePort > 0 ? Array.from({ length: options.nodes }, (_, i) => options.basePort + i) : free.slice(0, options.nodes);
    hosts = ports.map((port) => `ws://${options.host}:${port}/grid`);
    metricsPorts = options.metricsPort > 0 ? ports.map((_, i) => options.metricsPort + i) : free.slice(options.nodes);
  }
  const netnsArgs = rig ? NETNS_TIMINGS : [];
  const labels = hosts.map((_, i) => `node${i + 1}`);
  const secret = randomBytes(32).toString("base64url");
  const tty = process.stdout.isTTY === true;

  console.log(
    `tsgrid lock service: starting ${options.nodes} nodes on ${hosts.join(" ")}` +
      (rig ? `\n  each on its own network namespace (${rig.runId}-h1..h${options.nodes}, one switch; pings 250 ms, dropped after 1 s of silence)` : ""),
  );
  console.log(`metrics (Prometheus): ${hosts.map((h, i) => `http://${new URL(h).hostname}:${metricsPorts[i]}/metrics`).join(" ")}${rig ? " (inside the namespaces)" : ""}`);
  const chaosVictim = options.chaos === "kill" || options.chaos === "partition" ? labels[labels.length - 1] : undefined;
  let chaos: ChaosReport | undefined;
  let rolling: RollingReport | undefined;
  /** Reset when the workload starts: the chaos timeline is relative to it. */
  let runStart = Date.now();
  const since = (): number => Date.now() - runStart;

  const onPeer = (): void => {
    if (!chaos) return;
    // Detected: no other node sees the victim connected any more.
    if (chaos.detectedAtMs === undefined && chaos.restartedAtMs === undefined) {
      const others = [...current.values()].filter((n) => n.label !== chaos!.node);
      if (others.every((n) => !n.connectedPeers.has(chaos!.node))) chaos.detectedAtMs = since();
    }
    // Reconnected: every survivor and the new incarnation see each other again.
    if (chaos.restartedAtMs === undefined || chaos.reconnectedAtMs !== undefined) return;
    const victim = current.get(chaos.node);
    if (!victim?.alive || victim.connectedPeers.size < options.nodes - 1) return;
    const survivors = [...current.values()].filter((n) => n !== victim);
    if (survivors.every((n) => n.connectedPeers.has(chaos!.node))) chaos.reconnectedAtMs = since();
  };

  const spawnNode = (i: number, extra: readonly string[] = []): NodeProcess =>
    new NodeProcess(labels[i] ?? `node${i + 1}`, i, hosts, secret, metricsPorts[i]!, onPeer, spawner, [...netnsArgs, ...extra]);
  const current = new Map<string, NodeProcess>();
  const all: NodeProcess[] = [];
  for (let i = 0; i < options.nodes; i++) {
    const node = spawnNode(i);
    current.set(node.label, node);
    all.push(node);
  }
  const killAll = (): void => {
    all.forEach((n) => n.alive && n.child.kill("SIGKILL"));
    rig?.destroy();
  };
  process.once("SIGINT", () => {
    killAll();
    process.exit(130);
  });

  let progressTimer: NodeJS.Timeout | undefined;
  try {
    await Promise.all(all.map((n) => n.when("ready", STARTUP_TIMEOUT_MS)));
    runStart = Date.now();
    const until = runStart + options.durationMs;
    const connected = all.map((n) => n.when("connected", STARTUP_TIMEOUT_MS));
    all.forEach((n) => n.send({ type: "start", until }));
    await Promise.all(connected);
    const fate = options.chaos === "partition" ? "cut off the network, then healed" : "killed";
    console.log(`all ${options.nodes} nodes connected to each other in ${Date.now() - runStart} ms; running for ${options.durationMs / 1000} s${chaosVictim !== undefined ? ` (chaos: ${chaosVictim} will be ${fate})` : ""}${options.chaos === "rolling" ? " (chaos: every node will be drained and restarted in turn)" : ""}`);

    const progress = (): string =>
      formatProgress(
        Date.now() - runStart,
        options.durationMs,
        [...current.values()].filter((n) => n.alive).length,
        options.nodes,
        mergeSnapshots(all.map((n) => n.latest).filter((m) => m !== undefined)),
      );
    let lastPrinted = 0;
    progressTimer = setInterval(() => {
      if (tty) process.stdout.write(`\r${progress()}\x1b[K`);
      else if (Date.now() - lastPrinted >= 2_000) {
        lastPrinted = Date.now();
        console.log(progress());
      }
    }, 250);

    if (chaosVictim !== undefined) {
      const acquiredBySurvivors = (): number =>
        [...current.values()].filter((n) => n.label !== chaosVictim).reduce((sum, n) => sum + (n.latest?.locks.acquired ?? 0), 0);
      await sleepUntil(runStart + options.durationMs * KILL_AT);
      const victimIndex = labels.indexOf(chaosVictim);
      const victim = current.get(chaosVictim);
      const before = acquiredBySurvivors();
      if (options.chaos === "partition" && rig) {
        chaos = { node: chaosVictim, kind: "partition", killedAtMs: since(), locksWhileDown: 0 };
        rig.partition(victimIndex);
        note(tty, `chaos: cut ${chaosVictim} off the network (its link is down: no RST, packets vanish)`);
        // Long enough for the pings to notice (1.25 s, more on a loaded machine) before healing.
        await sleepUntil(Math.max(runStart + options.durationMs * RESTART_AT, Date.now() + MIN_PARTITION_MS));
        chaos.locksWhileDown = acquiredBySurvivors() - before;
        rig.heal(victimIndex);
        chaos.restartedAtMs = since();
        chaos.listeningAtMs = chaos.restartedAtMs;
        note(tty, `chaos: healed ${chaosVictim}'s link`);
        await waitFor(() => chaos?.reconnectedAtMs !== undefined, STARTUP_TIMEOUT_MS);
        note(tty, `chaos: ${chaosVictim} is connected again`);
      } else {
        chaos = { node: chaosVictim, kind: "kill", killedAtMs: since(), locksWhileDown: 0 };
        victim?.child.kill("SIGKILL");
        await victim?.exit;
        note(tty, `chaos: killed ${chaosVictim} (SIGKILL)`);
        await sleepUntil(runStart + options.durationMs * RESTART_AT);
        chaos.locksWhileDown = acquiredBySurvivors() - before;
        const reborn = spawnNode(victimIndex);
        current.set(chaosVictim, reborn);
        all.push(reborn);
        chaos.restartedAtMs = since();
        await reborn.when("ready", STARTUP_TIMEOUT_MS);
        chaos.listeningAtMs = since();
        const rebornConnected = reborn.when("connected", STARTUP_TIMEOUT_MS);
        reborn.send({ type: "start", until });
        await rebornConnected;
        onPeer();
        note(tty, `chaos: restarted ${chaosVictim}; it is connected again`);
      }
    }

    if (options.chaos === "rolling") {
      rolling = { restarts: [] };
      // Evenly over the run, leaving its last part to show the cluster whole again.
      const slot = options.durationMs / (options.nodes + 1);
      for (const [i, label] of labels.entries()) {
        await sleepUntil(runStart + slot * (i + 0.5));
        const node = current.get(label)!;
        const drainStarted = since();
        const final = node.when("final", DRAIN_TIMEOUT_MS + SHUTDOWN_TIMEOUT_MS);
        node.send({ type: "drain", timeoutMs: DRAIN_TIMEOUT_MS });
        await final;
        await node.exit;
        const drainedAt = since();
        const reborn = spawnNode(i, ["--grace-ms", String(RESTART_GRACE_MS)]);
        current.set(label, reborn);
        all.push(reborn);
        await reborn.when("ready", STARTUP_TIMEOUT_MS);
        const rebornConnected = reborn.when("connected", STARTUP_TIMEOUT_MS);
        reborn.send({ type: "start", until });
        await rebornConnected;
        rolling.restarts.push({ node: label, drainStartedAtMs: drainStarted, drainMs: drainedAt - drainStarted, downMs: since() - drainedAt });
        note(tty, `rolling: ${label} drained in ${drainedAt - drainStarted} ms, restarted and connected again ${since() - drainedAt} ms later`);
      }
    }

    const live = [...current.values()];
    await Promise.all(live.map((n) => (n.done ? undefined : n.when("done", options.durationMs + SHUTDOWN_TIMEOUT_MS))));
    clearInterval(progressTimer);
    if (tty) process.stdout.write("\r\x1b[K");
    console.log(progress());
    const finals = live.map((n) => n.when("final", SHUTDOWN_TIMEOUT_MS));
    live.forEach((n) => n.send({ type: "exit" }));
    await Promise.all(finals);
    await Promise.race([Promise.all(live.map((n) => n.exit)), sleep(SHUTDOWN_TIMEOUT_MS)]);

    const input = {
      nodes: options.nodes,
      elapsedMs: Date.now() - runStart,
      metrics: mergeSnapshots(all.map((n) => n.latest).filter((m) => m !== undefined)),
      othersMetrics: mergeSnapshots(all.filter((n) => n.label !== chaosVictim).map((n) => n.latest).filter((m) => m !== undefined)),
      chaos,
      rolling,
      exclusion: checkMutualExclusion(all.flatMap((n) => n.sections)),
    };
    console.log("");
    console.log(formatSummary(input));
    const ok = verdict(input).ok;
    if (!ok) printLogs(all);
    return ok ? 0 : 1;
  } catch (err) {
    clearInterval(progressTimer);
    console.error(`\ndemo failed: ${err instanceof Error ? err.message : String(err)}`);
    printLogs(all);
    return 1;
  } finally {
    killAll();
  }
}

function note(tty: boolean, text: string): void {
  console.log(tty ? `\r${text}\x1b[K` : text);
}

function printLogs(nodes: readonly NodeProcess[]): void {
  for (const n of nodes) {
    if (n.log.length === 0) continue;
    console.error(`--- last output of ${n.label} (pid ${n.child.pid}) ---`);
    console.error(n.log.join("\n"));
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** Polls `condition` every 20 ms; rejects after `timeoutMs`. */
async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not reconnected within ${timeoutMs} ms`);
    await sleep(20);
  }
}

function sleepUntil(at: number): Promise<void> {
  return sleep(Math.max(0, at - Date.now()));
}

process.exitCode = await main(parseDemoArgs(hideBin(process.argv)));
