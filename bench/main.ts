/**
 * `npm run bench`: runs tsgrid and its references side by side, each server in its own child
 * process and each client in another (pinned to one core each when `taskset` works), and
 * writes the JSON results, a Markdown table and an SVG chart of the ratios.
 *
 *   npm run bench                      full run (~9 min; --list: rows, bounds): results/<date>.json, latest.md,
 *                                      ratios.svg, and the README section between the markers
 *   npm run bench -- --quick           ~30 s smoke run (CI); writes under bench/results/quick/
 *   npm run bench -- --only tsgrid.single,ws.echo   rows whose id starts with one of these
 *   npm run bench -- --baseline d9569e5 [--baseline-dir /work/baseline-d9569e5]
 *                                      also runs every tsgrid row against that ref's runtime,
 *                                      interleaved, and reports after/before (bench/lib/baseline.ts)
 */
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, platform, release } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { hideBin } from "yargs/helpers";
import { parseBenchArgs } from "./lib/args.js";
import { canPin, nextMessage, spawnNode, stopChild } from "./lib/child.js";
import { runCluster } from "./lib/cluster-run.js";
import type { ClientResult, FromClient, FromServer, ScenarioSpec, ToClient, ToServer } from "./lib/ipc.js";
import { machineLine, readmeSection, renderMarkdown, type RunMeta } from "./report/markdown.js";
import { computeRatios, RATIO_DEFS, type RowResult } from "./report/ratios.js";
import { renderSvg } from "./report/svg.js";
import { buildRows, type Availability, type Row } from "./scenarios.js";
import { baselineUnavailable, comparedInBaseline, defaultBaselineDir, NA_IN_BASELINE, prepareBaseline, type PreparedBaseline } from "./lib/baseline.js";
import { defaultBudgetMs, rowBounds, rowWarmupMs, runBounds, SLACK_MS, START_TIMEOUT_MS, type Timing } from "./lib/bounds.js";
import { compareRuns, type BaselineInfo, type RunSample } from "./report/before-after.js";
import { tlsUnavailable } from "./lib/tls-certs.js";
import { BUDGET_SPENT, judgeRun, rowFailure, SlowError, verdictLines } from "./lib/verdict.js";

const distBench = dirname(fileURLToPath(import.meta.url)); // dist/bench
const repoRoot = resolve(distBench, "../..");
const benchSrc = join(repoRoot, "bench");

/** Cores the server and the client are pinned to. */
const SERVER_CORE = 0;
const CLIENT_CORE = 1;
/** Safety cap on operations of one measured phase. */
const MAX_OPS = 50_000_000;

const argv = ((): ReturnType<typeof parseBenchArgs> => {
  try {
    return parseBenchArgs(hideBin(process.argv), { exitOnHelp: true });
  } catch (err) {
    console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(2);
  }
})();
const { quick, partial, durationMs, rounds, warmupMs } = argv;
const timing: Timing = { warmupMs, durationMs, rounds, quick };
const pin = canPin() && (argv.pin === "yes" || (argv.pin === "auto" && loadavg()[0]! < cpus().length / 2));
const outDir = partial ? join(benchSrc, "results", "quick") : join(benchSrc, "results");
const profileDir = join(benchSrc, "results", "profiles");

function selectRows(all: Row[]): Row[] {
  let rows = quick ? all.filter((r) => r.quick) : all;
  if (argv.onlyPrefixes.length > 0) rows = rows.filter((r) => argv.onlyPrefixes.some((p) => r.id.startsWith(p)));
  return rows;
}

/** Where a run of a row takes its compiled harness from: this checkout, or a baseline's. */
interface Side {
  distBench: string;
  /** Suffix of profile names ("" or ".baseline"). */
  tag: string;
}
const CURRENT: Side = { distBench, tag: "" };

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

async function runRow(row: Row, side: Side = CURRENT): Promise<RowResult> {
  const base = { id: row.id, title: row.title, group: row.group, unit: row.unit, params: row.params };
  if (row.unavailable !== undefined) return skippedRow(row, row.unavailable);
  if (row.cluster !== undefined) return runClusterRow(row, row.cluster, side);
  const distBench = side.distBench;
  const children: ChildProcess[] = [];
  let progressOps: number | undefined;
  let probeError: unknown;
  const profiling = argv.profile;
  const nodeArgs = (who: string): string[] =>
    profiling ? ["--expose-gc", "--cpu-prof", `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${row.id}${side.tag}.${who}.cpuprofile`] : ["--expose-gc"];
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
    const rowWarmup = rowWarmupMs(row, timing);
    const spec: ScenarioSpec = { id: row.id, client: row.client, params: row.params, warmupMs: rowWarmup, durationMs, maxOps: MAX_OPS };
    const resultPromise = nextMessage(
      client,
      (m) => {
        const msg = m as FromClient;
        if (msg.type === "error") throw msg.slow === true ? new SlowError(msg.message) : new Error(msg.message);
        return msg.type === "result" ? msg.result : undefined;
      },
      rowWarmup + durationMs + SLACK_MS + Number(row.params["extraTimeMs"] ?? 0),
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

async function runClusterRow(row: Row, nodes: number, side: Side): Promise<RowResult> {
  const profiling = argv.profile;
  try {
    const r = await runCluster(side.distBench, {
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
        profiling ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${row.id}${side.tag}.${who}.cpuprofile`] : [],
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

const fmtS = (ms: number): string => (ms >= 120_000 ? `${(ms / 60_000).toFixed(1)} min` : `${Math.round(ms / 1000)} s`);

/** Whether a row is measured with the baselines too (`--baseline-only` narrows the default set). */
const isCompared = (r: Row): boolean =>
  comparedInBaseline(r) && (argv.baselineOnly.length === 0 || argv.baselineOnly.some((p) => r.id.startsWith(p)));

/** `--list`: every row, its bound, and the run's expected length (and what each baseline cannot run). */
function listRows(rows: Row[], baselines: PreparedBaseline[]): void {
  for (const r of rows) {
    const b = rowBounds(r, timing);
    const na = isCompared(r) ? baselines.map((base) => baselineUnavailable(base, r.id)).filter((w) => w !== undefined) : [];
    const notes = [r.unavailable ? `skipped: ${r.unavailable}` : "", ...na].filter(Boolean).join("; ");
    console.log(`${r.id.padEnd(34)} ~${fmtS(b.expectedMs).padStart(5)} (max ${fmtS(b.maxMs)}) × ${b.runs}  ${r.title}${notes ? `  (${notes})` : ""}`);
  }
  // Targets whose rows this checkout does not define: they will show "row missing".
  const defined = new Set(buildRows().map((r) => r.id));
  for (const d of RATIO_DEFS.filter((x) => x.target !== undefined)) {
    const absent = [d.row, d.ref].filter((id) => !defined.has(id));
    if (absent.length > 0) console.log(`target without its row(s): ${d.name}: ${absent.join(", ")}`);
  }
  const total = runBounds(rows, timing);
  console.log(`\n${rows.length} rows, ${rounds} round(s): expected ${fmtS(total.expectedMs)} on a quiet machine, bounded by ${fmtS(total.maxMs)}`);
  if (baselines.length > 0) {
    const compared = rows.filter(isCompared);
    const withBase = runBounds(rows, timing, baselines.flatMap(() => compared));
    console.log(`with the baseline(s) ${baselines.map((b) => b.ref).join(", ")} (${compared.length} rows measured before and after): expected ${fmtS(withBase.expectedMs)}`);
  }
}

/** One baseline of the run: where its harness is, and its best result of every compared row. */
interface BaselineSide extends Side {
  baseline: PreparedBaseline;
  best: Map<string, RowResult>;
}

/** `--report`: the Markdown, chart (and README section) of a saved run, with the current targets. */
function rerender(jsonPath: string): void {
  const saved = JSON.parse(readFileSync(jsonPath, "utf8")) as {
    meta: RunMeta;
    rows: RowResult[];
    baselines?: { ref: string; commit: string; stubbed: Record<string, string[]>; typeErrors: number; notes: string[]; rows: RowResult[] }[];
  };
  const ratios = computeRatios(saved.rows);
  const beforeAfter = (saved.baselines ?? []).map((b) => ({
    info: { ref: b.ref, commit: b.commit, stubbed: b.stubbed, typeErrors: b.typeErrors, notes: b.notes },
    comparison: compareRuns(saved.rows, b.rows),
  }));
  const dir = dirname(resolve(jsonPath));
  writeFileSync(join(dir, "ratios.svg"), renderSvg(ratios, machineLine(saved.meta)));
  writeFileSync(join(dir, "latest.md"), renderMarkdown(saved.meta, saved.rows, ratios, "ratios.svg", undefined, beforeAfter));
  console.log(`re-rendered ${relative(repoRoot, join(dir, "latest.md"))} and ratios.svg from ${relative(repoRoot, resolve(jsonPath))}`);
  if (argv.readme === true && updateReadme(readmeSection(saved.meta, saved.rows, ratios, relative(repoRoot, join(dir, "ratios.svg")), beforeAfter))) {
    console.log("updated the README section");
  }
}

async function main(): Promise<void> {
  if (argv.report !== undefined) {
    rerender(argv.report);
    return;
  }
  const rows = selectRows(buildRows(await availability()));
  const baselines: PreparedBaseline[] = [];
  for (const want of argv.baselines) {
    const dir = want.dir ?? defaultBaselineDir(repoRoot, want.ref!);
    const b = await prepareBaseline(repoRoot, want.ref, dir);
    console.log(`baseline: ${b.ref} (${b.commit.slice(0, 9)}) ready in ${b.dir}; ${b.typeErrors.length} type error(s) of the current bench/ against it`);
    baselines.push(b);
  }
  if (argv.list) {
    listRows(rows, baselines);
    return;
  }
  const sides: BaselineSide[] = baselines.map((b) => ({ distBench: b.distBench, tag: `.baseline-${b.ref.replace(/[^\w.-]+/g, "_")}`, baseline: b, best: new Map() }));
  const compared = new Set(sides.length === 0 ? [] : rows.filter(isCompared).map((r) => r.id));
  const expected = runBounds(rows, timing, sides.flatMap(() => rows.filter((r) => compared.has(r.id))));
  const budgetMs = argv.budgetMs ?? defaultBudgetMs(expected.expectedMs, quick);
  const pinned = pin;
  console.log(
    `bench: ${rows.length} rows${sides.length > 0 ? ` (${compared.size} also with the runtime of ${baselines.map((b) => b.ref).join(", ")})` : ""}, ${durationMs} ms each (+${warmupMs} ms warm-up${quick || warmupMs <= 0 ? "" : ", stream rows at least 2.5 s"})${pinned ? ", server/client pinned to cores 0/1" : ""}; expected ${fmtS(expected.expectedMs)}, budget ${fmtS(budgetMs)}`,
  );
  if (argv.profile) mkdirSync(profileDir, { recursive: true });
  const started = Date.now();
  const loadStart = loadavg()[0]!;
  const best = new Map<string, RowResult>();
  let currentRound = 1;
  /** Every successful round of a row, per side (keyed by that side's best-results map). */
  const samples = new Map<Map<string, RowResult>, Map<string, RunSample[]>>();
  const samplesOf = (side: Map<string, RowResult>): Map<string, RunSample[]> => {
    let m = samples.get(side);
    if (m === undefined) samples.set(side, (m = new Map()));
    return m;
  };
  /** One run of a row on one side, kept when it beats that side's best so far. */
  const runOnce = async (row: Row, side: Side, into: Map<string, RowResult>, label: string, baseline?: PreparedBaseline): Promise<void> => {
    const prev = into.get(row.id);
    if (prev?.skipped !== undefined || prev?.error !== undefined) return;
    if (prev !== undefined && row.group === "memory") return; // measured once
    const na = baseline === undefined ? undefined : baselineUnavailable(baseline, row.id);
    if (na !== undefined) {
      into.set(row.id, skippedRow(row, na));
      return;
    }
    if (row.unavailable === undefined && Date.now() - started > budgetMs) {
      if (prev === undefined) {
        into.set(row.id, skippedRow(row, BUDGET_SPENT));
        console.log(`  ${label.padEnd(30)} skipped (${BUDGET_SPENT})`);
      }
      return;
    }
    const t0 = Date.now();
    let r = await runRow(row, side);
    // The baseline lacks what the row calls (a stub threw): not measurable there, not a failure.
    if (baseline !== undefined && r.error !== undefined && r.error.includes(NA_IN_BASELINE)) {
      r = skippedRow(row, r.error.slice(r.error.indexOf(NA_IN_BASELINE)).split("\n")[0]!);
    }
    if (prev === undefined || isBetter(r, prev)) into.set(row.id, r);
    if (r.error === undefined && r.skipped === undefined && r.group !== "memory") {
      const list = samplesOf(into).get(row.id) ?? [];
      list.push({ round: currentRound, throughput: r.throughput, cpu: r.clientCpuPerOpUs + (r.serverCpuPerOpUs ?? 0) });
      samplesOf(into).set(row.id, list);
    }
    const what = r.skipped ? `skipped (${r.skipped})` : r.error ? `${r.errorKind === "slow" ? "SLOW" : "ERROR"} ${r.error.split("\n")[0]}` : `${Math.round(r.throughput).toLocaleString("en-US")} ops/s${r.p50Us !== undefined ? `, p50 ${r.p50Us.toFixed(1)} µs, p99 ${r.p99Us!.toFixed(1)} µs` : ""}`;
    console.log(`  ${label.padEnd(30)} ${what}  [${((Date.now() - t0) / 1000).toFixed(1)} s]`);
  };
  for (let round = 1; round <= rounds; round++) {
    currentRound = round;
    if (rounds > 1) console.log(`round ${round} of ${rounds}`);
    for (const row of rows) {
      if (!compared.has(row.id)) {
        await runOnce(row, CURRENT, best, row.id);
        continue;
      }
      // The current runtime and each baseline back to back, the order rotating by round
      // (A B, then B A; with two baselines A B C, B C A, C A B): no side always runs first.
      const runs: (() => Promise<void>)[] = [
        () => runOnce(row, CURRENT, best, row.id),
        ...sides.map((side) => () => runOnce(row, side, side.best, `${row.id} (${side.baseline.ref})`, side.baseline)),
      ];
      for (let i = 0; i < runs.length; i++) await runs[(i + round - 1) % runs.length]!();
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
  const befores = sides.map((side) => {
    const b = side.baseline;
    const beforeRows = rows.filter((r) => compared.has(r.id)).map((r) => side.best.get(r.id)!);
    const info: BaselineInfo = { ref: b.ref, commit: b.commit, stubbed: b.stubbed, typeErrors: b.typeErrors.length, notes: b.notes };
    const comparison = compareRuns(results, beforeRows, { after: samplesOf(best), before: samplesOf(side.best) });
    return { info, comparison, rows: beforeRows, typeErrorLines: b.typeErrors, unavailable: b.unavailable };
  });
  mkdirSync(outDir, { recursive: true });
  const day = now.toISOString().slice(0, 10);
  const jsonPath = join(outDir, partial ? "latest.json" : `${day}.json`);
  const baselinesJson = befores.map((b) => ({ ...b.info, typeErrorLines: b.typeErrorLines, unavailable: b.unavailable, comparison: b.comparison, rows: b.rows }));
  writeFileSync(jsonPath, JSON.stringify({ meta, ratios, rows: results, ...(befores.length > 0 ? { baselines: baselinesJson } : {}) }, null, 2) + "\n");
  const svgPath = join(outDir, "ratios.svg");
  writeFileSync(svgPath, renderSvg(ratios, machineLine(meta)));
  const mdPath = join(outDir, "latest.md");
  const beforeAfter = befores.map((b) => ({ info: b.info, comparison: b.comparison }));
  writeFileSync(mdPath, renderMarkdown(meta, results, ratios, "ratios.svg", undefined, beforeAfter));
  console.log(`\nratios:`);
  for (const r of ratios) {
    if (r.value === undefined) {
      if (r.target !== undefined) console.log(`  ${r.name.padEnd(52)} –     (goal ${r.better === "higher" ? ">=" : "<="} ${r.target}: MISSING, ${r.missing})`);
      continue;
    }
    const goal = r.target === undefined ? "" : `  (goal ${r.better === "higher" ? ">=" : "<="} ${r.target}: ${r.pass ? "met" : "MISSED"})`;
    console.log(`  ${r.name.padEnd(52)} ${r.value.toFixed(2)}${goal}`);
  }
  for (const before of befores) {
    console.log(`\nafter/before (${before.info.ref}): throughput, CPU µs/op`);
    for (const c of before.comparison) {
      console.log(`  ${c.id.padEnd(34)} ${c.na !== undefined ? c.na : `${c.throughput?.toFixed(2) ?? "–"}  ${c.cpu?.toFixed(2) ?? "–"}`}`);
    }
  }
  console.log(`\nwrote ${relative(repoRoot, jsonPath)}, ${relative(repoRoot, mdPath)}, ${relative(repoRoot, svgPath)} in ${fmtS(Date.now() - started)}`);
  if (argv.readme ?? !partial) {
    const md = readmeSection(meta, results, ratios, relative(repoRoot, svgPath), beforeAfter);
    if (updateReadme(md)) console.log("updated the README section");
  }
  // Quick (smoke) runs fail only on broken rows; slow ones are warnings (bench/lib/verdict.ts).
  // The baseline's rows are not judged: an old runtime's failure is a finding, not this run's.
  const verdict = judgeRun(results, { quick });
  const lines = verdictLines(verdict);
  if (lines.out.length > 0) console.log("");
  for (const line of lines.out) console.log(line);
  for (const line of lines.err) console.error(line);
  // A baseline's failed rows do not fail the run (an old runtime's failure is a finding), but
  // a harness that no longer runs on the old runtime must not go unnoticed.
  for (const before of befores) {
    for (const r of before.rows.filter((x) => x.error !== undefined)) {
      console.log(`WARNING baseline ${before.info.ref}: ${r.id} failed (not measured before/after): ${r.error!.split("\n")[0]}`);
    }
  }
  if (verdict.exitCode !== 0) process.exitCode = verdict.exitCode;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
