/** The Markdown table of one run (bench/results/latest.md, and the README section). */
import { beforeAfterSummary, beforeAfterTable, type BaselineInfo, type BeforeAfter } from "./before-after.js";
import type { Ratio, RowResult } from "./ratios.js";

export interface RunMeta {
  date: string;
  mode: "full" | "quick";
  machine: { cpu: string; cores: number; node: string; os: string; pinned: boolean; nice: number };
  /** 1-minute load average at the start and the end of the run (other work on the machine). */
  loadAvg: [number, number];
  durationMs: number;
  warmupMs: number;
  rounds: number;
}

const fmtInt = (n: number): string => Math.round(n).toLocaleString("en-US");
function fmtNum(n: number | undefined, digits = 1): string {
  if (n === undefined || !Number.isFinite(n)) return "–";
  if (Math.abs(n) >= 1000) return fmtInt(n);
  return n.toFixed(digits);
}
export function fmtRatio(v: number | undefined): string {
  if (v === undefined) return "–";
  return v >= 10 ? `${v.toFixed(0)}×` : `${v.toFixed(2)}×`;
}

export function machineLine(meta: RunMeta): string {
  const m = meta.machine;
  return `${meta.date} · ${m.cpu}, ${m.cores} cores · Node ${m.node} · ${m.os} · ${m.pinned ? "server and client pinned to one core each" : "not pinned"}${m.nice !== 0 ? ` at nice ${m.nice}` : ""} · load average ${meta.loadAvg[0].toFixed(1)} → ${meta.loadAvg[1].toFixed(1)} · ${meta.mode} run, best of ${meta.rounds} × ${meta.durationMs} ms per row`;
}

/** A ratio's verdict cell: met, missed, or why there is no value (never blank for a target). */
function verdictCell(r: Ratio): string {
  if (r.value === undefined) return r.missing ?? "not run";
  if (r.pass === undefined) return "";
  return r.pass ? "✅" : "❌";
}

/** The targets (issue #12's first, then round 1's kept), each with its goal and verdict. */
export function targetsTable(ratios: Ratio[]): string {
  const lines = ["| target | from | ratio | goal | |", "|---|---|---:|---:|:---|"];
  for (const r of ratios.filter((x) => x.target !== undefined)) {
    const goal = `${r.better === "higher" ? "≥" : "≤"} ${r.target}×`;
    lines.push(`| ${r.name} | ${r.goal ?? ""} | ${fmtRatio(r.value)} | ${goal} | ${verdictCell(r)} |`);
  }
  return lines.join("\n");
}

/** The ratios without a target: context (defaults vs tuned, the cost of each feature...). */
export function contextTable(ratios: Ratio[]): string {
  const lines = ["| ratio | value |", "|---|---:|"];
  for (const r of ratios.filter((x) => x.target === undefined)) {
    lines.push(`| ${r.name} | ${r.value === undefined ? (r.missing ?? "–") : fmtRatio(r.value)} |`);
  }
  return lines.join("\n");
}

/** Both ratio tables (kept under its old name for callers). */
export function ratiosTable(ratios: Ratio[]): string {
  return `${targetsTable(ratios)}\n\nOther ratios in this run (no target):\n\n${contextTable(ratios)}`;
}

export function rowsTable(rows: RowResult[]): string {
  const lines = [
    "| row | ops/s | p50 µs | p99 µs | CPU µs/op client + server | peak RSS MiB client / server |",
    "|---|---:|---:|---:|---:|---:|",
  ];
  for (const r of rows) {
    if (r.skipped !== undefined) {
      lines.push(`| ${r.title} | skipped: ${r.skipped} | | | | |`);
      continue;
    }
    if (r.error !== undefined) {
      lines.push(`| ${r.title} | error: ${r.error.split("\n")[0]!.slice(0, 80)} | | | | |`);
      continue;
    }
    if (r.group === "memory") {
      lines.push(`| ${r.title} | see the measurements below | | | | ${fmtNum(r.clientMaxRssMiB, 0)} / ${fmtNum(r.serverMaxRssMiB, 0)} |`);
      continue;
    }
    const cpu = r.serverCpuPerOpUs === undefined ? fmtNum(r.clientCpuPerOpUs, 2) : `${fmtNum(r.clientCpuPerOpUs, 2)} + ${fmtNum(r.serverCpuPerOpUs, 2)}`;
    const rss = r.serverMaxRssMiB === undefined ? fmtNum(r.clientMaxRssMiB, 0) : `${fmtNum(r.clientMaxRssMiB, 0)} / ${fmtNum(r.serverMaxRssMiB, 0)}`;
    lines.push(`| ${r.title} | ${fmtInt(r.throughput)} ${r.unit === "messages" ? "msgs" : ""} | ${fmtNum(r.p50Us)} | ${fmtNum(r.p99Us)} | ${cpu} | ${rss} |`);
  }
  return lines.join("\n");
}

/** The defaults row a tuned row sits beside: its id without the `.cap<N>` segment. */
export function defaultsRowOf(id: string): string | undefined {
  const d = id.replace(/\.cap\d+(?=\.|$)/, "");
  return d === id ? undefined : d;
}

/**
 * What a user gets against a tuned set-up: every tuned row (`.cap<N>` in its id) beside its
 * defaults row, with both throughputs and their ratio. Empty when the run has no such pair.
 */
export function defaultsVsTunedTable(rows: RowResult[]): string {
  const ok = new Map(rows.filter((r) => r.error === undefined && r.skipped === undefined).map((r) => [r.id, r]));
  const lines = ["| row | defaults | tuned | defaults / tuned |", "|---|---:|---:|---:|"];
  for (const tuned of rows) {
    const defId = defaultsRowOf(tuned.id);
    if (defId === undefined) continue;
    const d = ok.get(defId);
    const t = ok.get(tuned.id);
    const unit = tuned.unit === "messages" ? " msgs/s" : " ops/s";
    const fmtT = (r: RowResult | undefined): string => (r === undefined ? "–" : `${fmtInt(r.throughput)}${unit}`);
    const ratio = d !== undefined && t !== undefined && t.throughput > 0 ? fmtRatio(d.throughput / t.throughput) : "–";
    lines.push(`| ${tuned.title} | ${fmtT(d)} | ${fmtT(t)} | ${ratio} |`);
  }
  return lines.length > 2 ? lines.join("\n") : "";
}

export function extrasTable(rows: RowResult[], only?: RowResult["group"]): string {
  const withExtra = rows.filter(
    (r) => r.extra !== undefined && r.error === undefined && r.skipped === undefined && (only === undefined || r.group === only),
  );
  if (withExtra.length === 0) return "";
  const lines = ["| row | measurement | value |", "|---|---|---:|"];
  for (const r of withExtra) {
    for (const [k, v] of Object.entries(r.extra!)) lines.push(`| ${r.title} | ${k} | ${typeof v === "number" ? fmtNum(v) : String(v)} |`);
  }
  return lines.join("\n");
}

/** The before/after part of a `--baseline` run. */
export interface BeforeAfterPart {
  info: BaselineInfo;
  comparison: readonly BeforeAfter[];
}

export function renderMarkdown(
  meta: RunMeta,
  rows: RowResult[],
  ratios: Ratio[],
  chartPath: string | undefined,
  extrasOf?: RowResult["group"],
  beforeAfter: readonly BeforeAfterPart[] = [],
  /** Only a summary per baseline (the README), not every row (latest.md). */
  beforeAfterSummaryOnly = false,
): string {
  const parts = [
    `### Benchmark: ${meta.date}`,
    "",
    machineLine(meta),
    "",
    "Targets (issue #12's, then round 1's that still hold), as ratios measured in this run (only ratios within one run are meaningful on a shared machine); a target whose row is missing, failed or skipped says so and does not pass:",
    "",
    targetsTable(ratios),
    "",
  ];
  if (chartPath !== undefined) parts.push(`![tsgrid ratios against the references](${chartPath})`, "");
  const dvt = defaultsVsTunedTable(rows);
  if (dvt) parts.push("What a user gets (default options) beside the same row tuned:", "", dvt, "");
  parts.push(
    "Every row: the tsgrid rows run two Managers with `sharedSecretAuth` and default options (what a user gets); a row that tunes an option says so (\"tuned: ...\") and sits beside its defaults row.",
    "",
    rowsTable(rows),
    "",
    "Other ratios in this run (no target):",
    "",
    contextTable(ratios),
    "",
  );
  for (const b of beforeAfter) {
    // The README gets a summary per baseline (the tables are long); latest.md every row.
    parts.push(beforeAfterSummaryOnly ? beforeAfterSummary(b.comparison, b.info, "`bench/results/latest.md`") : beforeAfterTable(b.comparison, b.info), "");
  }
  const extras = extrasTable(rows, extrasOf);
  if (extras) parts.push(extras, "");
  return parts.join("\n");
}

/** The README's section (between the bench markers): how to run, then the latest run. */
export function readmeSection(meta: RunMeta, rows: RowResult[], ratios: Ratio[], chartPath: string, beforeAfter: readonly BeforeAfterPart[] = []): string {
  return [
    "## Performance",
    "",
    "`npm run bench` runs tsgrid and its references (raw `ws`, `@grpc/grpc-js`, msgpack codecs) side by side,",
    "each server and each client in its own process (pinned to one core each when the machine is quiet), over loopback;",
    "`npm run bench -- --quick` is the smoke run (under a minute), and `npm run bench -- --baseline <git-ref>` also measures",
    "every tsgrid row with that ref's runtime, interleaved, for a before/after table. Absolute numbers drift on shared",
    "machines: compare ratios from one run (each row is the best of interleaved rounds; codec ratios alternate 20 ms",
    "slices in one process). The JSON of every full run is kept in `bench/results/`; `bench/results/latest.md` has every",
    "measurement (frames per WebSocket message, codec slices...); below: the memory rows only. How to run and read",
    "it: [docs/performance.md](docs/performance.md).",
    "",
    renderMarkdown(meta, rows, ratios, chartPath, "memory", beforeAfter, true),
  ].join("\n");
}
