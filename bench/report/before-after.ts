/**
 * The before/after table of a `--baseline` run: every compared row measured with the current
 * runtime (after) and the baseline's (before), interleaved in one run.
 */
import type { RowResult } from "./ratios.js";

export interface BeforeAfter {
  id: string;
  title: string;
  /** Throughput after / before (higher is better); undefined when either side has no number. */
  throughput: number | undefined;
  /** CPU µs per operation (client + server) after / before (lower is better). */
  cpu: number | undefined;
  /** p50 latency after / before (lower is better), when the row measures latency. */
  p50: number | undefined;
  /** Why there is no comparison: the baseline cannot run the row, or a side failed. */
  na?: string;
  /** Lowest and highest after/before ratio of the rounds, paired by round (when every round was kept). */
  throughputRange?: [number, number];
  cpuRange?: [number, number];
}

/** One measured run of a row on one side: what the rounds' spread is computed from. */
export interface RunSample {
  /** The round it was measured in (1, 2...): after and before are paired by it. */
  round: number;
  throughput: number;
  /** CPU µs per operation, client + server. */
  cpu: number;
}

/** What the JSON and the report say about the baseline of a run. */
export interface BaselineInfo {
  ref: string;
  commit: string;
  /** Names the current runtime exports and the baseline's does not, per entry point (stubbed). */
  stubbed: Record<string, string[]>;
  typeErrors: number;
  notes: string[];
}

const cpuOf = (r: RowResult): number => r.clientCpuPerOpUs + (r.serverCpuPerOpUs ?? 0);

function problem(r: RowResult | undefined, side: string): string | undefined {
  if (r === undefined) return `not run (${side})`;
  if (r.skipped !== undefined) return side === "before" ? r.skipped : `${side}: skipped (${r.skipped})`;
  if (r.error !== undefined) return `${side}: ${r.errorKind === "slow" ? "slow" : "error"}: ${r.error.split("\n")[0]!.slice(0, 100)}`;
  return undefined;
}

const range = (xs: number[]): [number, number] | undefined => (xs.length < 2 ? undefined : [Math.min(...xs), Math.max(...xs)]);

/**
 * One comparison per baseline row, in the baseline rows' order. Throughput: the best round of
 * each side; CPU per operation: the lowest round of each side (other work on the machine only
 * adds to it) when `samples` has the rounds, else the best-throughput round's. With samples,
 * the spread of the per-round ratios (round i after / round i before) too.
 */
export function compareRuns(
  after: readonly RowResult[],
  before: readonly RowResult[],
  samples?: { after: ReadonlyMap<string, readonly RunSample[]>; before: ReadonlyMap<string, readonly RunSample[]> },
): BeforeAfter[] {
  const byId = new Map(after.map((r) => [r.id, r]));
  return before.map((b) => {
    const a = byId.get(b.id);
    const base = { id: b.id, title: a?.title ?? b.title };
    const na = problem(b, "before") ?? problem(a, "after");
    if (na !== undefined || a === undefined) return { ...base, throughput: undefined, cpu: undefined, p50: undefined, na: na ?? "not run" };
    if (b.group === "memory") return { ...base, throughput: undefined, cpu: undefined, p50: undefined, na: "memory row: see the measurements" };
    const sa = samples?.after.get(b.id) ?? [];
    const sb = samples?.before.get(b.id) ?? [];
    const minCpu = (xs: readonly RunSample[]): number => Math.min(...xs.map((x) => x.cpu).filter((c) => c > 0));
    const cpuA = sa.length > 0 ? minCpu(sa) : cpuOf(a);
    const cpuB = sb.length > 0 ? minCpu(sb) : cpuOf(b);
    const pairs = sa.flatMap((x) => sb.filter((y) => y.round === x.round).map((y) => [x, y] as const));
    const throughputRange = range(pairs.filter(([, y]) => y.throughput > 0).map(([x, y]) => x.throughput / y.throughput));
    const cpuRange = range(pairs.filter(([x, y]) => x.cpu > 0 && y.cpu > 0).map(([x, y]) => x.cpu / y.cpu));
    return {
      ...base,
      throughput: b.throughput > 0 ? a.throughput / b.throughput : undefined,
      cpu: Number.isFinite(cpuA) && Number.isFinite(cpuB) && cpuB > 0 && cpuA > 0 ? cpuA / cpuB : undefined,
      p50: a.p50Us !== undefined && b.p50Us !== undefined && b.p50Us > 0 ? a.p50Us / b.p50Us : undefined,
      ...(throughputRange ? { throughputRange } : {}),
      ...(cpuRange ? { cpuRange } : {}),
    };
  });
}

const fmt = (v: number | undefined): string => (v === undefined ? "–" : `${v.toFixed(2)}×`);
const fmtWithRange = (v: number | undefined, r: [number, number] | undefined): string =>
  r === undefined ? fmt(v) : `${fmt(v)} (${r[0].toFixed(2)}–${r[1].toFixed(2)})`;

/**
 * A compared row regressed when its throughput fell or its CPU per operation rose by more than
 * `tolerance` (shared machines are noisy: a few percent is not a finding).
 */
export function regressed(c: BeforeAfter, tolerance = 0.1): boolean {
  return (c.throughput !== undefined && c.throughput < 1 - tolerance) || (c.cpu !== undefined && c.cpu > 1 + tolerance);
}

export function beforeAfterTable(cmp: readonly BeforeAfter[], info: BaselineInfo): string {
  const lines = [
    `Before/after: every tsgrid row with the baseline runtime (${info.ref}, ${info.commit.slice(0, 9)}) and the current one, interleaved in this run (the current bench/ drives both).`,
    "Throughput after/before above 1 and CPU after/before below 1 are improvements; a ⚠ marks a change beyond ±10%. Throughput: the best round of each side; CPU: the lowest round of each side; in brackets: the lowest and highest ratio of the rounds taken one by one (their spread).",
    "",
    "| row | throughput after/before | CPU µs/op after/before | p50 after/before | |",
    "|---|---:|---:|---:|:---|",
  ];
  for (const c of cmp) {
    if (c.na !== undefined) {
      lines.push(`| ${c.title} | | | | ${c.na} |`);
      continue;
    }
    lines.push(`| ${c.title} | ${fmtWithRange(c.throughput, c.throughputRange)} | ${fmtWithRange(c.cpu, c.cpuRange)} | ${fmt(c.p50)} | ${regressed(c) ? "⚠" : ""} |`);
  }
  const stubbed = Object.entries(info.stubbed).filter(([, names]) => names.length > 0);
  if (stubbed.length > 0 || info.notes.length > 0 || info.typeErrors > 0) {
    lines.push("");
    for (const [entry, names] of stubbed) lines.push(`- not in ${info.ref}'s \`${entry === "." ? "tsgrid" : `tsgrid/${entry.slice(2)}`}\` (stubbed: a row that calls one is n/a): ${names.join(", ")}`);
    if (info.typeErrors > 0) lines.push(`- the current bench/ has ${info.typeErrors} type error(s) against ${info.ref}'s runtime (tsc emits anyway; see the JSON)`);
    for (const n of info.notes) lines.push(`- ${n}`);
  }
  return lines.join("\n");
}

const median = (xs: number[]): number | undefined => {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * A few lines for the README: how many rows were compared, the median ratios, which rows got
 * worse beyond the tolerance (named, with their ratios), and how many the baseline could not run.
 */
export function beforeAfterSummary(cmp: readonly BeforeAfter[], info: BaselineInfo, fullTable: string): string {
  const measured = cmp.filter((c) => c.na === undefined);
  const worse = measured.filter((c) => regressed(c));
  const better = measured.filter((c) => !regressed(c) && ((c.throughput !== undefined && c.throughput > 1.1) || (c.cpu !== undefined && c.cpu < 0.9)));
  const tp = median(measured.flatMap((c) => (c.throughput !== undefined ? [c.throughput] : [])));
  const cpu = median(measured.flatMap((c) => (c.cpu !== undefined ? [c.cpu] : [])));
  const lines = [
    `Before/after against ${info.ref} (${info.commit.slice(0, 9)}), interleaved in this run: ${measured.length} rows compared, median throughput after/before ${fmt(tp)}, median CPU µs/op after/before ${fmt(cpu)}; better beyond ±10%: ${better.length}, worse: ${worse.length}; not measurable in ${info.ref}: ${cmp.length - measured.length}. Every row: ${fullTable}.`,
  ];
  for (const c of worse) lines.push(`- worse: ${c.title}: throughput ${fmt(c.throughput)}, CPU ${fmt(c.cpu)}`);
  return lines.join("\n");
}
