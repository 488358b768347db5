import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { parseBenchArgs } from "../../bench/lib/args.js";
import { baselineUnavailable, comparedInBaseline, depsMismatch, NA_IN_BASELINE, shimSource } from "../../bench/lib/baseline.js";
import {
  FULL_RUN_EXPECTED_MAX_MS,
  QUICK_RUN_EXPECTED_MAX_MS,
  ROW_MAX_MS,
  rowBounds,
  rowWarmupMs,
  runBounds,
} from "../../bench/lib/bounds.js";
import { beforeAfterSummary, beforeAfterTable, compareRuns, regressed } from "../../bench/report/before-after.js";
import { renderMarkdown, type RunMeta } from "../../bench/report/markdown.js";
import { computeRatios, type RowResult } from "../../bench/report/ratios.js";
import { buildRows } from "../../bench/scenarios.js";

function row(id: string, over: Partial<RowResult> = {}): RowResult {
  return {
    id, title: `title of ${id}`, group: "tsgrid", unit: "round trips", params: {},
    throughput: 100_000, ops: 100_000, elapsedMs: 1000, p50Us: 100, p99Us: 200,
    clientCpuPerOpUs: 3, serverCpuPerOpUs: 2, clientMaxRssMiB: 50, serverMaxRssMiB: 50,
    ...over,
  };
}

describe("bench flags", () => {
  it("defaults: a full run of 2 rounds, no baseline", () => {
    const a = parseBenchArgs([]);
    expect(a).toMatchObject({ quick: false, partial: false, durationMs: 1000, warmupMs: 300, rounds: 2, baselines: [], budgetMs: undefined });
    expect(parseBenchArgs(["--quick"])).toMatchObject({ quick: true, partial: true, durationMs: 400, rounds: 1 });
    expect(parseBenchArgs(["--only", "tsgrid.single, ws.echo,"]).onlyPrefixes).toEqual(["tsgrid.single", "ws.echo"]);
    expect(parseBenchArgs(["--budget", "90"]).budgetMs).toBe(90_000);
  });

  it("--baseline takes refs and optional directories; --baseline-dir alone names prepared ones", () => {
    expect(parseBenchArgs(["--baseline", "d9569e5"]).baselines).toEqual([{ ref: "d9569e5", dir: undefined }]);
    expect(parseBenchArgs(["--baseline", "d9569e5", "--baseline-dir", "/tmp/b"]).baselines).toEqual([{ ref: "d9569e5", dir: "/tmp/b" }]);
    expect(parseBenchArgs(["--baseline-dir", "/tmp/b"]).baselines).toEqual([{ ref: undefined, dir: "/tmp/b" }]);
    expect(parseBenchArgs(["--baseline", "d9569e5, 156c119", "--baseline-dir", "/a,/b"]).baselines).toEqual([
      { ref: "d9569e5", dir: "/a" },
      { ref: "156c119", dir: "/b" },
    ]);
    expect(parseBenchArgs(["--baseline", "x", "--only", "tsgrid.single"]).partial).toBe(true);
    expect(parseBenchArgs(["--baseline", "x", "--baseline-only", "tsgrid.single,tsgrid.typed"]).baselineOnly).toEqual(["tsgrid.single", "tsgrid.typed"]);
  });

  it("refuses what cannot work: --baseline with --quick (CI), an empty ref, unknown flags, bad numbers", () => {
    expect(() => parseBenchArgs(["--quick", "--baseline", "d9569e5"])).toThrow(/not --quick/);
    expect(() => parseBenchArgs(["--baseline", ""])).toThrow(/needs a git ref/);
    expect(() => parseBenchArgs(["--baseline", "a,,b"])).toThrow(/needs a git ref/);
    expect(() => parseBenchArgs(["--baseline", "a,b", "--baseline-dir", "/a"])).toThrow(/1 directory for 2 ref/);
    expect(() => parseBenchArgs(["--baseline", "a,a"])).toThrow(/the same baseline twice/);
    expect(() => parseBenchArgs(["--baseline-only", "tsgrid.single"])).toThrow(/needs --baseline/);
    expect(() => parseBenchArgs(["--report", "x.json", "--baseline", "a"])).toThrow(/runs nothing/);
    expect(() => parseBenchArgs(["--baselin", "x"])).toThrow(/Unknown argument/);
    expect(() => parseBenchArgs(["--rounds", "0"])).toThrow(/--rounds must be a positive number/);
    expect(() => parseBenchArgs(["--duration", "-5"])).toThrow(/--duration/);
  });
});

describe("every row is bounded, and so are the runs", () => {
  const rows = buildRows();
  const full = { warmupMs: 300, durationMs: 1000, rounds: 2 };
  const quick = { warmupMs: 150, durationMs: 400, rounds: 1, quick: true };

  it("each row has a finite bound on one run, within ROW_MAX_MS", () => {
    const unbounded = rows
      .map((r) => ({ id: r.id, b: rowBounds(r, full) }))
      .filter(({ b }) => !(Number.isFinite(b.maxMs) && b.maxMs > 0 && b.maxMs <= ROW_MAX_MS && b.expectedMs <= b.maxMs));
    expect(unbounded).toEqual([]);
  });

  it(`a full run is expected within ${FULL_RUN_EXPECTED_MAX_MS / 60_000} min and --quick within ${QUICK_RUN_EXPECTED_MAX_MS / 1000} s`, () => {
    expect(runBounds(rows, full).expectedMs).toBeLessThanOrEqual(FULL_RUN_EXPECTED_MAX_MS);
    expect(runBounds(rows.filter((r) => r.quick), quick).expectedMs).toBeLessThanOrEqual(QUICK_RUN_EXPECTED_MAX_MS);
  });

  it("stream rows, references included, warm up at least their minWarmupMs in a full run, not in --quick", () => {
    const streams = rows.filter((r) => r.params["mode"] === "stream" || r.params["mode"] === "bidi" || r.params["mode"] === "source");
    expect(streams.map((r) => r.id)).toEqual(expect.arrayContaining(["ws.stream.b32", "grpc.bidi.b32", "tsgrid.bidi.b32", "tsgrid.source.b32"]));
    for (const r of streams) {
      expect(rowWarmupMs(r, full)).toBe(r.params["minWarmupMs"]);
      expect(rowWarmupMs(r, full)).toBeGreaterThan(full.warmupMs);
      expect(rowWarmupMs(r, quick)).toBe(quick.warmupMs);
      expect(rowWarmupMs(r, { ...full, warmupMs: 0 })).toBe(0);
    }
    const single = rows.find((r) => r.id === "tsgrid.single.c128.b32")!;
    expect(rowWarmupMs(single, full)).toBe(full.warmupMs);
  });

  it("a baseline run adds one run per round of every compared row", () => {
    const compared = rows.filter(comparedInBaseline);
    expect(compared.length).toBeGreaterThan(10);
    expect(compared.every((r) => r.group === "tsgrid" || r.id === "codec.generated")).toBe(true);
    const plain = runBounds(rows, full).expectedMs;
    const both = runBounds(rows, full, compared).expectedMs;
    expect(both).toBeGreaterThan(plain);
    expect(both - plain).toBe(runBounds(compared, full).expectedMs);
  });
});

describe("before/after", () => {
  const after = [row("tsgrid.single.c128.b32", { throughput: 120_000, clientCpuPerOpUs: 2 }), row("tsgrid.metadata.c128.b32"), row("tsgrid.bidi.b32", { throughput: 50_000 })];
  const before = [
    row("tsgrid.single.c128.b32"),
    row("tsgrid.metadata.c128.b32", { skipped: `${NA_IN_BASELINE}: d9569e5 has no per-call metadata` }),
    row("tsgrid.bidi.b32"),
  ];
  const info = { ref: "d9569e5", commit: "d9569e534abc", stubbed: { ".": ["MAX_METADATA_BYTES"], "./otel": ["otelInterceptors"] }, typeErrors: 3, notes: ["DEFAULT_IN_CAPACITY is 32 in the baseline: why"] };

  it("divides after by before for throughput, CPU per operation and p50", () => {
    const cmp = compareRuns(after, before);
    expect(cmp[0]).toMatchObject({ id: "tsgrid.single.c128.b32", throughput: 1.2, cpu: 4 / 5, p50: 1 });
    expect(cmp[1]!.na).toContain("has no per-call metadata");
    expect(cmp[1]!.throughput).toBeUndefined();
    expect(regressed(cmp[0]!)).toBe(false);
    expect(regressed(cmp[2]!)).toBe(true); // half the throughput
  });

  it("with the rounds' samples: CPU is the lowest round of each side, and the spread pairs rounds by number", () => {
    const samples = {
      after: new Map([["tsgrid.single.c128.b32", [{ round: 1, throughput: 120_000, cpu: 5 }, { round: 2, throughput: 100_000, cpu: 4 }]]]),
      before: new Map([["tsgrid.single.c128.b32", [{ round: 2, throughput: 100_000, cpu: 8 }, { round: 1, throughput: 80_000, cpu: 10 }]]]),
    };
    const c = compareRuns(after, before, samples)[0]!;
    expect(c.throughput).toBeCloseTo(1.2); // best rounds (the rows)
    expect(c.cpu).toBeCloseTo(4 / 8); // lowest CPU of each side
    expect(c.throughputRange).toEqual([1, 1.5]); // round 1: 120/80, round 2: 100/100
    expect(c.cpuRange).toEqual([0.5, 0.5]);
    expect(beforeAfterTable([c], info)).toContain("| 1.20× (1.00–1.50) | 0.50× (0.50–0.50) |");
  });

  it("says when the after side failed, and renders the table with what the baseline lacks", () => {
    const cmp = compareRuns([after[0]!, after[1]!, row("tsgrid.bidi.b32", { error: "boom\nstack", errorKind: "broken" })], before);
    expect(cmp[2]!.na).toBe("after: error: boom");
    const table = beforeAfterTable(cmp, info);
    expect(table).toContain("| title of tsgrid.single.c128.b32 | 1.20× | 0.80× | 1.00× |  |");
    expect(table).toContain("| title of tsgrid.metadata.c128.b32 | | | | n/a in baseline: d9569e5 has no per-call metadata |");
    expect(table).toContain("`tsgrid/otel`");
    expect(table).toContain("otelInterceptors");
    expect(table).toContain("3 type error(s)");
    const meta: RunMeta = {
      date: "2026-01-01 00:00 UTC", mode: "full", durationMs: 1000, warmupMs: 300, rounds: 2, loadAvg: [0.5, 0.7],
      machine: { cpu: "cpu", cores: 2, node: "v20", os: "linux", pinned: false, nice: 0 },
    };
    expect(renderMarkdown(meta, after, computeRatios(after), undefined, undefined, [{ info, comparison: cmp }])).toContain("Before/after: every tsgrid row");
  });

  it("summarises each baseline for the README: medians, counts, and every row that got worse by name", () => {
    const cmp = compareRuns(after, before);
    const text = beforeAfterSummary(cmp, info, "latest.md");
    expect(text).toContain("2 rows compared");
    expect(text).toContain("better beyond ±10%: 1, worse: 1; not measurable in d9569e5: 1");
    expect(text).toContain("- worse: title of tsgrid.bidi.b32: throughput 0.50×, CPU 1.00×");
  });

  it("rows the old runtime would run without their feature are left out by prefix", () => {
    const b = { unavailable: [{ prefix: "tsgrid.otel", why: `${NA_IN_BASELINE}: no otel` }] };
    expect(baselineUnavailable(b, "tsgrid.otel-sampled.c1.b32")).toContain("no otel");
    expect(baselineUnavailable(b, "tsgrid.single.c1.b32")).toBeUndefined();
  });

  it("links the current node_modules only when every version the ref pins is installed", () => {
    const installed: Record<string, string> = { ws: "8.23.0", msgpackr: "2.1.4" };
    expect(depsMismatch({ dependencies: { ws: "8.23.0" }, devDependencies: { msgpackr: "2.1.4" } }, (n) => installed[n])).toEqual([]);
    expect(depsMismatch({ dependencies: { ws: "8.18.0", yargs: "17.7.3" } }, (n) => installed[n])).toEqual(["ws@8.18.0", "yargs@17.7.3"]);
  });
});

describe("baseline shims", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsgrid-shim-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("re-export the old module and stub what it lacks: calls throw 'n/a in baseline', known constants keep their old value", async () => {
    writeFileSync(join(dir, "old.mjs"), "export const kept = 7; export function Manager() { return 'old'; }\n");
    writeFileSync(
      join(dir, "shim.mjs"),
      shimSource({
        ref: "d9569e5",
        subpath: ".",
        oldModule: "./old.mjs",
        missing: [
          { name: "otelInterceptors", kind: "function" },
          { name: "MAX_METADATA_BYTES", kind: "value" },
          { name: "DEFAULT_IN_CAPACITY", kind: "value" },
        ],
      }),
    );
    const m = (await import(pathToFileURL(join(dir, "shim.mjs")).href)) as Record<string, unknown>;
    expect(m["kept"]).toBe(7);
    expect((m["Manager"] as () => string)()).toBe("old");
    expect(m["DEFAULT_IN_CAPACITY"]).toBe(32);
    expect(() => (m["otelInterceptors"] as () => void)()).toThrow(`${NA_IN_BASELINE}: d9569e5 has no otelInterceptors (tsgrid)`);
    expect(() => new (m["otelInterceptors"] as new () => object)()).toThrow(NA_IN_BASELINE);
    expect(() => Number(m["MAX_METADATA_BYTES"])).toThrow(NA_IN_BASELINE);
    // Awaiting or inspecting a stub does not throw (module loading and logging stay safe).
    await expect(Promise.resolve(m["MAX_METADATA_BYTES"])).resolves.toBeDefined();
  });
});
