import { describe, expect, it } from "vitest";
import { Histogram } from "../../bench/lib/histogram.js";
import { defaultsRowOf, defaultsVsTunedTable, renderMarkdown, type RunMeta } from "../../bench/report/markdown.js";
import { computeRatios, RATIO_DEFS, type RowResult } from "../../bench/report/ratios.js";
import { renderSvg } from "../../bench/report/svg.js";

describe("bench histogram", () => {
  it("is exact below 3.2 µs and within ~3% above", () => {
    const h = new Histogram();
    for (let i = 1; i <= 1000; i++) h.record(i); // 1..1000 µs
    expect(h.count).toBe(1000);
    expect(h.percentile(0.5)).toBeGreaterThanOrEqual(500);
    expect(h.percentile(0.5)).toBeLessThanOrEqual(500 * 1.04);
    expect(h.percentile(0.99)).toBeGreaterThanOrEqual(990);
    expect(h.percentile(0.99)).toBeLessThanOrEqual(1000);
    expect(h.summary().maxUs).toBe(1000);
    const small = new Histogram();
    small.record(0.3);
    small.record(2.5);
    expect(small.percentile(0.5)).toBeCloseTo(0.3, 5);
    expect(small.percentile(1)).toBeCloseTo(2.5, 5);
  });

  it("clamps huge and negative samples instead of throwing", () => {
    const h = new Histogram();
    h.record(-5);
    h.record(1e12);
    expect(h.count).toBe(2);
    expect(h.percentile(0.5)).toBe(0);
    expect(Number.isFinite(h.percentile(1))).toBe(true);
  });

  it("merges another process's buckets", () => {
    const a = new Histogram();
    const b = new Histogram();
    for (let i = 0; i < 100; i++) a.record(10);
    for (let i = 0; i < 100; i++) b.record(1000);
    const m = new Histogram();
    m.merge(a.buckets(), a.sumUs, a.maxUs);
    m.merge(b.buckets(), b.sumUs, b.maxUs);
    expect(m.count).toBe(200);
    expect(m.percentile(0.25)).toBeCloseTo(10, 0);
    expect(m.percentile(0.99)).toBeGreaterThan(900);
    expect(m.summary().meanUs).toBeCloseTo(505, 5);
  });
});

function row(id: string, throughput: number, p50Us?: number, extra?: RowResult["extra"]): RowResult {
  return {
    id, title: id, group: "tsgrid", unit: "round trips", params: {}, throughput, ops: throughput, elapsedMs: 1000,
    p50Us, p99Us: p50Us, clientCpuPerOpUs: 1, serverCpuPerOpUs: 1, clientMaxRssMiB: 50, serverMaxRssMiB: 50,
    ...(extra ? { extra } : {}),
  };
}

const meta: RunMeta = {
  date: "2026-01-01 00:00 UTC", mode: "quick", durationMs: 400, warmupMs: 100, rounds: 1, loadAvg: [0.5, 0.7],
  machine: { cpu: "cpu", cores: 2, node: "v20", os: "linux", pinned: true, nice: 0 },
};

describe("bench ratios and report", () => {
  const rows = [
    row("tsgrid.single.c128.b32", 300_000),
    row("ws.merged.c128.b32", 500_000),
    row("ws.echo.c128.b32", 60_000),
    row("tsgrid.single.c1.b32", 10_000, 80),
    row("ws.echo.c1.b32", 13_000, 70),
    row("codec.generated", 200_000, undefined, { "vs msgpackr, interleaved": 1.2 }),
    row("codec.msgpackr", 400_000),
    { ...row("tsgrid.bidi.b32", 0), error: "boom" },
  ];

  it("computes each target's ratio, direction and verdict", () => {
    const ratios = computeRatios(rows);
    const byName = (prefix: string) => ratios.find((r) => r.name.startsWith(prefix))!;
    expect(byName("single, 128 in flight, 32 B vs ws merged").value).toBeCloseTo(0.6);
    expect(byName("single, 128 in flight, 32 B vs ws merged").pass).toBe(true); // #12: >= 0.6
    expect(byName("single, 128 in flight, 32 B vs ws merged").goal).toBe("#12");
    expect(byName("single, 128 in flight, 32 B vs ws unbatched").value).toBeCloseTo(5);
    const p50 = byName("single, 1 in flight");
    expect(p50.value).toBeCloseTo(80 / 70);
    expect(p50.pass).toBe(true); // lower is better: 1.14 <= 1.25
    // The interleaved in-process ratio wins over the two rows' throughputs (0.5).
    expect(byName("generated codec").value).toBeCloseTo(1.2);
    // A failed row gives no ratio and no verdict, and says why.
    expect(byName("bidi echo (default capacities), 32 B vs ws").value).toBeUndefined();
    expect(byName("bidi echo (default capacities), 32 B vs ws").pass).toBeUndefined();
    expect(byName("bidi echo (default capacities), 32 B vs ws").missing).toBe("tsgrid.bidi.b32 failed, row missing: ws.stream.b32");
  });

  it("a target whose row is missing shows as missing, never as a pass", () => {
    const ratios = computeRatios(rows);
    const typed1k = ratios.find((r) => r.row === "tsgrid.typed.c128.b1024")!;
    expect(typed1k.target).toBe(0.9);
    expect(typed1k.pass).toBeUndefined();
    expect(typed1k.missing).toContain("row missing: tsgrid.typed.c128.b1024");
    const md = renderMarkdown(meta, rows, ratios, undefined);
    expect(md).toMatch(/\| typed client vs raw bytes, 128 in flight, 1 KiB \| #12 \| – \| ≥ 0\.9× \| row missing: tsgrid\.typed\.c128\.b1024/);
    const svg = renderSvg(ratios, "sub");
    expect(svg).toContain("row missing: tsgrid.typed.c128.b1024");
    expect(svg).toContain("issue #12 targets");
  });

  it("puts every tuned row beside its defaults row", () => {
    expect(defaultsRowOf("tsgrid.bidi.cap128.b32")).toBe("tsgrid.bidi.b32");
    expect(defaultsRowOf("tsgrid.source.cap64")).toBe("tsgrid.source");
    expect(defaultsRowOf("tsgrid.bidi.b32")).toBeUndefined();
    const streams = [
      { ...row("tsgrid.bidi.b32", 100_000), unit: "messages" as const },
      { ...row("tsgrid.bidi.cap128.b32", 200_000), title: "bidi tuned", unit: "messages" as const },
      { ...row("tsgrid.source.cap128.b32", 300_000), title: "source tuned" },
    ];
    const t = defaultsVsTunedTable(streams);
    expect(t).toContain("| bidi tuned | 100,000 msgs/s | 200,000 msgs/s | 0.50× |");
    expect(t).toContain("| source tuned | – | 300,000 ops/s | – |"); // its defaults row is missing: said, not hidden
    expect(defaultsVsTunedTable(rows)).toBe("");
  });

  it("has issue #12's targets, each with a goal", () => {
    const targets = RATIO_DEFS.filter((d) => d.goal === "#12").map((d) => [d.row, d.ref, d.metric, d.better, d.target]);
    expect(targets).toEqual(
      expect.arrayContaining([
        ["tsgrid.single.c128.b32", "ws.merged.c128.b32", "throughput", "higher", 0.6],
        ["tsgrid.typed.c128.b32", "tsgrid.single.c128.b32", "throughput", "higher", 0.9],
        ["tsgrid.typed.c128.b1024", "tsgrid.single.c128.b1024", "throughput", "higher", 0.9],
        ["tsgrid.single.c128.b16384", "ws.echo.c128.b16384", "throughput", "higher", 1],
        ["tsgrid.single.c128.b65536", "ws.echo.c128.b65536", "throughput", "higher", 1],
        ["tsgrid.bidi.b32", "ws.stream.b32", "throughput", "higher", 3],
        ["tsgrid.mesh.n8", "tsgrid.mesh.pair.c2", "cpu", "lower", 1.5],
      ]),
    );
    expect(RATIO_DEFS.filter((d) => d.target !== undefined).every((d) => d.goal !== undefined)).toBe(true);
  });

  it("renders Markdown and a well-formed SVG", () => {
    const ratios = computeRatios(rows);
    const md = renderMarkdown(meta, rows, ratios, "ratios.svg");
    expect(md).toContain("| single, 128 in flight, 32 B vs ws merged | #12 | 0.60× | ≥ 0.6× | ✅ |");
    expect(md).toContain("error: boom");
    const svg = renderSvg(ratios, "sub <title> & co");
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.trim().endsWith("</svg>")).toBe(true);
    expect(svg).toContain("sub &lt;title&gt; &amp; co");
    expect(svg).not.toContain("NaN");
  });
});
