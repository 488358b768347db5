/** The flags of `npm run bench` (bench/main.ts), parsed and checked. */
import yargs from "yargs";

export interface BenchArgs {
  quick: boolean;
  only: string | undefined;
  /** Row id prefixes of `--only` (empty: every row). */
  onlyPrefixes: string[];
  /** quick or --only: results go to bench/results/quick/, the README is left alone. */
  partial: boolean;
  durationMs: number;
  warmupMs: number;
  rounds: number;
  /** Total budget in ms, when given (else derived from the rows' expected time). */
  budgetMs: number | undefined;
  readme: boolean | undefined;
  profile: boolean;
  pin: "auto" | "yes" | "no";
  nice: number;
  list: boolean;
  /**
   * `--baseline <ref>[,<ref>...]` and/or `--baseline-dir <dir>[,<dir>...]` (the same count, or
   * dirs alone: baselines prepared before): the before/after mode. Empty: none.
   */
  baselines: { ref: string | undefined; dir: string | undefined }[];
  /** `--baseline-only <prefixes>`: only these rows are measured with the baselines (empty: every tsgrid row). */
  baselineOnly: string[];
  /** `--report <results.json>`: re-render latest.md, ratios.svg (and with --readme the README) from a saved run. */
  report: string | undefined;
}

/**
 * Parses `args` (without node and the script); throws with a message on a bad flag or
 * combination. `exitOnHelp`: `--help` prints and exits (the CLI), else it only prints.
 */
export function parseBenchArgs(args: readonly string[], opts: { exitOnHelp?: boolean } = {}): BenchArgs {
  const argv = yargs([...args])
    .scriptName("bench")
    .option("quick", { type: "boolean", default: false, describe: "~30 s smoke run of a subset of rows" })
    .option("only", { type: "string", describe: "comma-separated row id prefixes to run" })
    .option("duration", { type: "number", describe: "measured ms per row (default 1000, quick 400)" })
    .option("warmup", { type: "number", describe: "warm-up ms per row (default 300, quick 150)" })
    .option("rounds", { type: "number", describe: "runs of every row, interleaved; the best is kept (default 2, quick 1)" })
    .option("budget", { type: "number", describe: "total time budget in s; rows past it are skipped (default: 1.5 × the expected length, at least 280; quick 60)" })
    .option("readme", { type: "boolean", describe: "update README.md between the bench markers (default: on for full runs)" })
    .option("profile", { type: "boolean", default: false, describe: "run the children with --cpu-prof (bench/results/profiles/; see bench/profile.ts)" })
    .option("pin", {
      type: "string",
      choices: ["auto", "yes", "no"] as const,
      default: "auto" as const,
      describe: "pin server and client to one core each (taskset); auto: only when the machine is quiet (load average < cores/2), since on a busy machine a pinned process waits for its core while the other is free",
    })
    .option("nice", { type: "number", default: 0, describe: "run the children at this nice level (e.g. -10, as root) on a busy machine" })
    .option("list", { type: "boolean", default: false, describe: "list the rows with their time bounds and exit (with --baseline: prepares it and says which rows it cannot run)" })
    .option("baseline", { type: "string", describe: "git ref(s), comma-separated, whose runtime every tsgrid row is also measured with, interleaved (before/after)" })
    .option("baseline-dir", { type: "string", describe: "where each baseline is prepared, comma-separated like --baseline (default bench/.baseline/<ref>); alone: ones prepared before" })
    .option("baseline-only", { type: "string", describe: "comma-separated row id prefixes measured with the baselines too (default: every tsgrid row and the generated codec)" })
    .option("report", { type: "string", describe: "re-render latest.md and ratios.svg next to this results JSON (and the README with --readme) with the current targets; runs nothing" })
    .strict()
    .exitProcess(opts.exitOnHelp ?? false)
    .fail((msg, err) => {
      throw err ?? new Error(msg);
    })
    .parseSync();
  const quick = argv.quick;
  const positive = (name: string, v: number | undefined): number | undefined => {
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) throw new Error(`--${name} must be a positive number, got ${v}`);
    return v;
  };
  const list = (v: string | undefined, name: string): string[] | undefined => {
    if (v === undefined) return undefined;
    const items = v.split(",").map((x) => x.trim());
    if (items.some((x) => x === "")) throw new Error(`--${name} needs ${name === "baseline" ? "a git ref" : "a directory"} (comma-separated, none empty)`);
    return items;
  };
  const refs = list(argv.baseline, "baseline");
  const dirs = list(argv["baseline-dir"], "baseline-dir");
  if (refs !== undefined && dirs !== undefined && refs.length !== dirs.length) {
    throw new Error(`--baseline-dir names ${dirs.length} director${dirs.length === 1 ? "y" : "ies"} for ${refs.length} ref(s) of --baseline`);
  }
  const baselines = (refs ?? dirs ?? []).map((_, i) => ({ ref: refs?.[i], dir: dirs?.[i] }));
  if (new Set(baselines.map((b) => b.ref ?? b.dir)).size !== baselines.length) throw new Error("--baseline: the same baseline twice");
  if (argv.report !== undefined && (baselines.length > 0 || quick || argv.only !== undefined)) throw new Error("--report runs nothing: no --baseline, --quick or --only with it");
  const baselineOnly = (argv["baseline-only"] ?? "").split(",").map((x) => x.trim()).filter(Boolean);
  if (baselineOnly.length > 0 && baselines.length === 0) throw new Error("--baseline-only needs --baseline");
  if (quick && baselines.length > 0) throw new Error("--baseline is for full runs, not --quick (CI needs no git work trees)");
  const onlyPrefixes = (argv.only ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  return {
    quick,
    only: argv.only,
    onlyPrefixes,
    partial: quick || argv.only !== undefined,
    durationMs: positive("duration", argv.duration) ?? (quick ? 400 : 1000),
    warmupMs: argv.warmup ?? (quick ? 150 : 300),
    // Shared machines only ever slow a row down, so the best of interleaved rounds is the least
    // noisy estimate; interleaving keeps a row and its reference close in time.
    rounds: Math.max(1, Math.floor(positive("rounds", argv.rounds) ?? (quick ? 1 : 2))),
    budgetMs: argv.budget !== undefined ? positive("budget", argv.budget)! * 1000 : undefined,
    readme: argv.readme,
    profile: argv.profile,
    pin: argv.pin,
    nice: argv.nice,
    list: argv.list,
    baselines,
    baselineOnly,
    report: argv.report,
  };
}
