import { describe, expect, it } from "vitest";
import { Histogram } from "../../bench/lib/histogram.js";
import { renderMarkdown, type RunMeta } from "../../bench/report/markdown.js";
import { computeRatios, type RowResult } from "../../bench/report/ratios.js";
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
    expect(byName("single, 128 in flight, 32 B vs ws merged").pass).toBe(true);
    expect(byName("single, 128 in flight, 32 B vs ws unbatched").value).toBeCloseTo(5);
    const p50 = byName("single, 1 in flight");
    expect(p50.value).toBeCloseTo(80 / 70);
    expect(p50.pass).toBe(true); // lower is better: 1.14 <= 1.25
    // The interleaved in-process ratio wins over the two rows' throughputs (0.5).
    expect(byName("generated codec").value).toBeCloseTo(1.2);
    // A failed row gives no ratio and no verdict.
    expect(byName("bidi echo, 32 B vs ws").value).toBeUndefined();
    expect(byName("bidi echo, 32 B vs ws").pass).toBeUndefined();
  });

  it("renders Markdown and a well-formed SVG", () => {
    const ratios = computeRatios(rows);
    const meta: RunMeta = {
      date: "2026-01-01 00:00 UTC", mode: "quick", durationMs: 400, warmupMs: 100, rounds: 1, loadAvg: [0.5, 0.7],
      machine: { cpu: "cpu", cores: 2, node: "v20", os: "linux", pinned: true, nice: 0 },
    };
    const md = renderMarkdown(meta, rows, ratios, "ratios.svg");
    expect(md).toContain("| single, 128 in flight, 32 B vs ws merged | 0.60× | ≥ 0.5× | ✅ |");
    expect(md).toContain("error: boom");
    const svg = renderSvg(ratios, "sub <title> & co");
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.trim().endsWith("</svg>")).toBe(true);
    expect(svg).toContain("sub &lt;title&gt; &amp; co");
    expect(svg).not.toContain("NaN");
  });
});
