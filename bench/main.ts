/**
 * `npm run bench`: runs tsgrid and its references side by side, each server in its own child
 * process and each client in another (pinned to one core each when `taskset` works), and
 * writes the JSON results, a Markdown table and an SVG chart of the ratios.
 *
 *   npm run bench                      full run (< 5 min): bench/results/<date>.json, latest.md,
 *                                      ratios.svg, and the README section between the markers
 *   npm run bench -- --quick           ~30 s smoke run (CI); writes under bench/results/quick/
 *   npm run bench -- --only tsgrid.single,ws.echo   rows whose id starts with one of these
 */
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, platform, release } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { canPin, nextMessage, spawnNode, stopChild } from "./lib/child.js";
import { runCluster } from "./lib/cluster-run.js";
import type { ClientResult, FromClient, FromServer, ScenarioSpec, ToClient, ToServer } from "./lib/ipc.js";
import { machineLine, readmeSection, renderMarkdown, type RunMeta } from "./report/markdown.js";
import { computeRatios, type RowResult } from "./report/ratios.js";
import { renderSvg } from "./report/svg.js";
import { buildRows, type Availability, type Row } from "./scenarios.js";
import { tlsUnavailable } from "./lib/tls-certs.js";
import { BUDGET_SPENT, judgeRun, rowFailure, SlowError, verdictLines } from "./lib/verdict.js";

const distBench = dirname(fileURLToPath(import.meta.url)); // dist/bench
const repoRoot = resolve(distBench, "../..");
const benchSrc = join(repoRoot, "bench");

/** Cores the server and the client are pinned to. */
const SERVER_CORE = 0;
const CLIENT_CORE = 1;
/** How long a child may take to start listening / to answer beyond its phases, ms. */
const START_TIMEOUT_MS = 15_000;
const SLACK_MS = 30_000;
/** Safety cap on operations of one measured phase. */
const MAX_OPS = 50_000_000;

const argv = yargs(hideBin(process.argv))
  .scriptName("bench")
  .option("quick", { type: "boolean", default: false, describe: "~30 s smoke run of a subset of rows" })
  .option("only", { type: "string", describe: "comma-separated row id prefixes to run" })
  .option("duration", { type: "number", describe: "measured ms per row (default 1000, quick 400)" })
  .option("warmup", { type: "number", describe: "warm-up ms per row (default 300, quick 150)" })
  .option("rounds", { type: "number", describe: "runs of every row, interleaved; the best is kept (default 2, quick 1)" })
  .option("budget", { type: "number", describe: "total time budget in s; rows past it are skipped (default 280, quick 60)" })
  .option("readme", { type: "boolean", describe: "update README.md between the bench markers (default: on for full runs)" })
  .option("profile", { type: "boolean", default: false, describe: "run the children with --cpu-prof (bench/results/profiles/; see bench/profile.ts)" })
  .option("pin", {
    type: "string",
    choices: ["auto", "yes", "no"],
    default: "auto",
    describe: "pin server and client to one core each (taskset); auto: only when the machine is quiet (load average < cores/2), since on a busy machine a pinned process waits for its core while the other is free",
  })
  .option("nice", { type: "number", default: 0, describe: "run the children at this nice level (e.g. -10, as root) on a busy machine" })
  .option("list", { type: "boolean", default: false, describe: "list the rows and exit" })
  .strict()
  .parseSync();

const quick = argv.quick;
const partial = quick || argv.only !== undefined;
const durationMs = argv.duration ?? (quick ? 400 : 1000);
// Shared machines only ever slow a row down, so the best of interleaved rounds is the least
// noisy estimate; interleaving keeps a row and its reference close in time.
const rounds = Math.max(1, Math.floor(argv.rounds ?? (quick ? 1 : 2)));
const warmupMs = argv.warmup ?? (quick ? 150 : 300);
const budgetMs = (argv.budget ?? (quick ? 60 : 280)) * 1000;
const pin = canPin() && (argv.pin === "yes" || (argv.pin === "auto" && loadavg()[0]! < cpus().length / 2));
const outDir = partial ? join(benchSrc, "results", "quick") : join(benchSrc, "results");
const profileDir = join(benchSrc, "results", "profiles");

function selectRows(all: Row[]): Row[] {
  let rows = quick ? all.filter((r) => r.quick) : all;
  if (argv.only !== undefined) {
    const prefixes = argv.only.split(",").map((s) => s.trim()).filter(Boolean);
    rows = rows.filter((r) => prefixes.some((p) => r.id.startsWith(p)));
  }
  return rows;
}

function skippedRow(row: Row, why: string): RowResult {
  return {
    id: row.id, title: row.title, group: row.group, unit: row.unit, params: row.params,
    throughput: 0, ops: 0, elapsedMs: 0, p50Us: undefined, p99Us: undefined,
    clientCpuPerOpUs: 0, serverCpuPerOpUs: undefined, clientMaxRssMiB: 0, serverMaxRssMiB: undefined,
    skipped: why,
  };
}

/** The better of two runs of a row: an error loses; then the higher throughput wins. */
function isBetter(a: RowResult, b: RowResult): boolean {
  if (a.error !== undefined) return false;
  if (b.error !== undefined) return true;
  if (a.group === "memory") return false; // memory rows are measured once
  return a.throughput > b.throughput;
}

async function runRow(row: Row): Promise<RowResult> {
  const base = { id: row.id, title: row.title, group: row.group, unit: row.unit, params: row.params };
  if (row.unavailable !== undefined) return skippedRow(row, row.unavailable);
  if (row.cluster !== undefined) return runClusterRow(row, row.cluster);
  const children: ChildProcess[] = [];
  let progressOps: number | undefined;
  let probeError: unknown;
  const profiling = argv.profile;
  const nodeArgs = (who: string): string[] =>
    profiling ? ["--expose-gc", "--cpu-prof", `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${row.id}.${who}.cpuprofile`] : ["--expose-gc"];
  try {
    let server: ChildProcess | undefined;
    let port = 0;
    let serverInfo: Record<string, unknown> | undefined;
    // Both children start at once (the client waits for its "run" message): halves the start-up.
    const client = spawnNode(join(distBench, "client.js"), { ...(pin ? { core: CLIENT_CORE } : {}), nice: argv.nice, nodeArgs: nodeArgs("client") });
    children.push(client);
    if (row.server !== undefined) {
      server = spawnNode(join(distBench, row.server.script), { ...(pin ? { core: SERVER_CORE } : {}), nice: argv.nice, nodeArgs: nodeArgs("server"), args: row.server.args ?? [] });
      children.push(server);
      const listening = await nextMessage(
        server,
        (m) => {
          const msg = m as FromServer;
          if (msg.type === "error") throw new Error(`server: ${msg.message}`);
          return msg.type === "listening" ? msg : undefined;
        },
        START_TIMEOUT_MS,
        `${row.id} server start`,
      );
      port = listening.port;
      serverInfo = listening.info;
    }
    // Operations the client reported so far (undefined: none reported): a timeout after zero is a hang.
    client.on("message", (m: unknown) => {
      const msg = m as FromClient;
      if (msg.type === "progress") progressOps = msg.ops;
    });
    // Proxy the client's probes of the server's usage.
    let probeId = 1;
    client.on("message", (m: unknown) => {
      const msg = m as FromClient;
      if (msg.type !== "server-usage" || server === undefined) return;
      const id = probeId++;
      nextMessage(server, (r) => ((r as FromServer).type === "usage" && (r as { id: number }).id === id ? (r as Extract<FromServer, { type: "usage" }>) : undefined), START_TIMEOUT_MS, `${row.id} server usage`)
        .then((r) => client.send({ type: "server-usage", id: msg.id, usage: r.usage } satisfies ToClient))
        .catch((err: unknown) => {
          probeError = err;
          client.kill("SIGKILL");
        });
      server.send({ type: "usage", id, gc: msg.gc } satisfies ToServer);
    });
    const spec: ScenarioSpec = { id: row.id, client: row.client, params: row.params, warmupMs, durationMs, maxOps: MAX_OPS };
    const resultPromise = nextMessage(
      client,
      (m) => {
        const msg = m as FromClient;
        if (msg.type === "error") throw msg.slow === true ? new SlowError(msg.message) : new Error(msg.message);
        return msg.type === "result" ? msg.result : undefined;
      },
      warmupMs + durationMs + SLACK_MS + Number(row.params["extraTimeMs"] ?? 0),
      `${row.id} client`,
    );
    client.send({ type: "run", scenario: spec, port, ...(serverInfo ? { serverInfo } : {}) } satisfies ToClient);
    const r: ClientResult = await resultPromise;
    const perOp = (cpuUs: number): number => (r.ops > 0 ? cpuUs / r.ops : 0);
    return {
      ...base,
      throughput: r.elapsedMs > 0 ? (r.ops * 1000) / r.elapsedMs : 0,
      ops: r.ops,
      elapsedMs: r.elapsedMs,
      p50Us: r.latency?.p50Us,
      p99Us: r.latency?.p99Us,
      clientCpuPerOpUs: perOp(r.client.cpuUs),
      serverCpuPerOpUs: r.server ? perOp(r.server.cpuUs) : undefined,
      clientMaxRssMiB: r.client.maxRss / 2 ** 20,
      serverMaxRssMiB: r.server ? r.server.maxRss / 2 ** 20 : undefined,
      ...(r.extra ? { extra: r.extra } : {}),
    };
  } catch (err) {
    // A failed usage probe kills the client: its cause, not the kill, is the row's failure.
    return { ...skippedRow(row, ""), skipped: undefined, ...rowFailure(probeError ?? err, progressOps) };
  } finally {
    await Promise.all(children.map((c) => stopChild(c)));
  }
}

/** Which parts of tsgrid this build has (rows of missing parts are skipped, not failed). */
async function availability(): Promise<Availability> {
  const needed = ["Connection", "HandlerRegistry", "wsTransport"];
  try {
    const runtime = (await import(pathToFileURL(join(repoRoot, "dist", "runtime", "index.js")).href)) as Record<string, unknown>;
    const missing = needed.filter((name) => typeof runtime[name] !== "function");
    const tls = tlsUnavailable();
    return { ...(missing.length > 0 ? { tsgrid: `runtime does not export ${missing.join(", ")} yet` } : {}), ...(tls ? { tls } : {}) };
  } catch (err) {
    return { tsgrid: `runtime not built (${err instanceof Error ? err.message.split("\n")[0] : String(err)})` };
  }
}

async function runClusterRow(row: Row, nodes: number): Promise<RowResult> {
  const profiling = argv.profile;
  try {
    const r = await runCluster(distBench, {
      nodes,
      inflight: Number(row.params["inflight"]),
      payload: Number(row.params["payload"]),
      warmupMs,
      durationMs,
      maxOps: MAX_OPS,
      nice: argv.nice,
      topology: row.params["topology"] === "pairs" || row.params["topology"] === "oneway" ? row.params["topology"] : "random",
      tls: row.params["tls"] === true,
      mode: row.params["mode"] === "connect" ? "connect" : "load",
      setups: Number(row.params["setups"] ?? 5),
      nodeArgs: (who) =>
        profiling ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${row.id}.${who}.cpuprofile`] : [],
    });
    return {
      ...skippedRow(row, ""),
      skipped: undefined,
      throughput: r.elapsedMs > 0 ? (r.ops * 1000) / r.elapsedMs : 0,
      ops: r.ops,
      elapsedMs: r.elapsedMs,
      p50Us: r.p50Us,
      p99Us: r.p99Us,
      // Every node is client and server at once: all CPU is on the "client" side.
      clientCpuPerOpUs: r.ops > 0 ? r.cpuUs / r.ops : 0,
      clientMaxRssMiB: r.maxRss / 2 ** 20,
      extra: r.extra,
    };
  } catch (err) {
    return { ...skippedRow(row, ""), skipped: undefined, ...rowFailure(err) };
  }
}

function updateReadme(markdown: string): boolean {
  const path = join(repoRoot, "README.md");
  if (!existsSync(path)) return false;
  const text = readFileSync(path, "utf8");
  const start = "<!-- bench:start -->";
  const end = "<!-- bench:end -->";
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i < 0 || j < i) return false;
  writeFileSync(path, `${text.slice(0, i + start.length)}\n${markdown}\n${text.slice(j)}`);
  return true;
}

async function main(): Promise<void> {
  const rows = selectRows(buildRows(await availability()));
  if (argv.list) {
    for (const r of rows) console.log(`${r.id.padEnd(32)} ${r.title}${r.unavailable ? `  (skipped: ${r.unavailable})` : ""}`);
    return;
  }
  const pinned = pin;
  console.log(`bench: ${rows.length} rows, ${durationMs} ms each (+${warmupMs} ms warm-up)${pinned ? ", server/client pinned to cores 0/1" : ""}`);
  if (argv.profile) mkdirSync(profileDir, { recursive: true });
  const started = Date.now();
  const loadStart = loadavg()[0]!;
  const best = new Map<string, RowResult>();
  for (let round = 1; round <= rounds; round++) {
    if (rounds > 1) console.log(`round ${round} of ${rounds}`);
    for (const row of rows) {
      const prev = best.get(row.id);
      if (prev?.skipped !== undefined || prev?.error !== undefined) continue;
      if (prev !== undefined && row.group === "memory") continue; // measured once
      if (row.unavailable === undefined && Date.now() - started > budgetMs) {
        if (prev === undefined) {
          best.set(row.id, skippedRow(row, BUDGET_SPENT));
          console.log(`  ${row.id.padEnd(30)} skipped (${BUDGET_SPENT})`);
        }
        continue;
      }
      const t0 = Date.now();
      const r = await runRow(row);
      if (prev === undefined || isBetter(r, prev)) best.set(row.id, r);
      const what = r.skipped ? `skipped (${r.skipped})` : r.error ? `${r.errorKind === "slow" ? "SLOW" : "ERROR"} ${r.error.split("\n")[0]}` : `${Math.round(r.throughput).toLocaleString("en-US")} ops/s${r.p50Us !== undefined ? `, p50 ${r.p50Us.toFixed(1)} µs, p99 ${r.p99Us!.toFixed(1)} µs` : ""}`;
      console.log(`  ${row.id.padEnd(30)} ${what}  [${((Date.now() - t0) / 1000).toFixed(1)} s]`);
    }
  }
  const results = rows.map((r) => best.get(r.id)!);
  const ratios = computeRatios(results);
  const now = new Date();
  const meta: RunMeta = {
    date: now.toISOString().slice(0, 16).replace("T", " ") + " UTC",
    mode: quick ? "quick" : "full",
    machine: { cpu: cpus()[0]?.model.trim() ?? "unknown CPU", cores: cpus().length, node: process.version, os: `${platform()} ${release()}`, pinned, nice: argv.nice },
    loadAvg: [loadStart, loadavg()[0]!],
    durationMs,
    warmupMs,
    rounds,
  };
  mkdirSync(outDir, { recursive: true });
  const day = now.toISOString().slice(0, 10);
  const jsonPath = join(outDir, partial ? "latest.json" : `${day}.json`);
  writeFileSync(jsonPath, JSON.stringify({ meta, ratios, rows: results }, null, 2) + "\n");
  const svgPath = join(outDir, "ratios.svg");
  writeFileSync(svgPath, renderSvg(ratios, machineLine(meta)));
  const mdPath = join(outDir, "latest.md");
  writeFileSync(mdPath, renderMarkdown(meta, results, ratios, "ratios.svg"));
  console.log(`\nratios:`);
  for (const r of ratios) {
    if (r.value === undefined) continue;
    const goal = r.target === undefined ? "" : `  (goal ${r.better === "higher" ? ">=" : "<="} ${r.target}: ${r.pass ? "met" : "MISSED"})`;
    console.log(`  ${r.name.padEnd(52)} ${r.value.toFixed(2)}${goal}`);
  }
  console.log(`\nwrote ${relative(repoRoot, jsonPath)}, ${relative(repoRoot, mdPath)}, ${relative(repoRoot, svgPath)}`);
  if (argv.readme ?? !partial) {
    const md = readmeSection(meta, results, ratios, relative(repoRoot, svgPath));
    if (updateReadme(md)) console.log("updated the README section");
  }
  // Quick (smoke) runs fail only on broken rows; slow ones are warnings (bench/lib/verdict.ts).
  const verdict = judgeRun(results, { quick });
  const lines = verdictLines(verdict);
  if (lines.out.length > 0) console.log("");
  for (const line of lines.out) console.log(line);
  for (const line of lines.err) console.error(line);
  if (verdict.exitCode !== 0) process.exitCode = verdict.exitCode;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
