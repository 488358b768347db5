import { describe, expect, it } from "vitest";
import { AbortError, DisconnectedError, DrainingError, RemoteError } from "tsgrid";
import { LatencyHistogram } from "../../examples/lock-service/latency.js";
import { Metrics, mergeSnapshots } from "../../examples/lock-service/metrics.js";
import { formatProgress, formatSummary, verdict } from "../../examples/lock-service/summary.js";

describe("LatencyHistogram", () => {
  it("percentiles within 5% and mergeable through JSON", () => {
    const a = new LatencyHistogram();
    const b = new LatencyHistogram();
    for (let i = 1; i <= 1000; i++) (i % 2 ? a : b).record(i / 10);
    const merged = LatencyHistogram.from(JSON.parse(JSON.stringify(a.snapshot()))).merge(b.snapshot());
    expect(merged.count).toBe(1000);
    expect(merged.quantile(0.5)).toBeGreaterThanOrEqual(50 * 0.95);
    expect(merged.quantile(0.5)).toBeLessThanOrEqual(50 * 1.05);
    expect(merged.quantile(0.99)).toBeGreaterThanOrEqual(99 * 0.95);
    expect(merged.quantile(1)).toBe(100);
    expect(new LatencyHistogram().quantile(0.5)).toBe(0);
  });
});

describe("Metrics and summary", () => {
  async function nodeMetrics(deadPeer?: string): Promise<Metrics> {
    const m = new Metrics();
    for (let i = 0; i < 10; i++) await m.time("lock", "n2", async () => true);
    m.locks.acquired += 10;
    m.message("lockEvents in", 42);
    m.serve("lock");
    if (deadPeer) await m.time("lock", deadPeer, () => Promise.reject(new DisconnectedError("gone"))).catch(() => {});
    return m;
  }

  it("merges nodes and prints a summary that says OK", async () => {
    const merged = mergeSnapshots([(await nodeMetrics()).snapshot(), (await nodeMetrics()).snapshot()]);
    expect(merged.calls["lock"]?.calls).toBe(20);
    expect(merged.locks.acquired).toBe(20);
    expect(merged.streamMessages["lockEvents in"]).toBe(84);
    const text = formatSummary({ nodes: 2, elapsedMs: 1000, metrics: merged });
    expect(text).toMatch(/^lock\s+single\s+20\s+0\s/m);
    expect(text).toContain("lockEvents in 84");
    expect(text).toContain("result: OK");
    expect(formatProgress(500, 1000, 2, 2, merged)).toContain("locks 20");
  });

  it("fails the verdict on unexpected errors and on disconnects outside chaos", async () => {
    const m = await nodeMetrics("n3");
    await m.time("unlock", "n2", () => Promise.reject(new RemoteError("boom"))).catch(() => {});
    const v = verdict({ nodes: 3, elapsedMs: 1, metrics: m.snapshot() });
    expect(v.ok).toBe(false);
    expect(v.problems.join()).toContain("1 unexpected errors");
    expect(v.problems.join()).toContain("calls to n3 failed with DisconnectedError");
  });

  it("reports the chaos kill, the fast failures and the reconnect", async () => {
    const metrics = (await nodeMetrics("n3")).snapshot();
    const chaos = { node: "n3", killedAtMs: 1000, restartedAtMs: 2000, listeningAtMs: 2100, reconnectedAtMs: 2300, locksWhileDown: 7 };
    const text = formatSummary({ nodes: 3, elapsedMs: 4000, metrics, chaos });
    expect(text).toContain("n3 killed with SIGKILL at 1.0 s, restarted at 2.0 s, listening again at 2.1 s");
    expect(text).toContain("1 calls to n3 failed fast with DisconnectedError");
    expect(text).toContain("every node was connected to it again 0.20 s after it was listening");
    expect(text).toContain("result: OK");
    const notBack = formatSummary({ nodes: 3, elapsedMs: 4000, metrics, chaos: { ...chaos, reconnectedAtMs: undefined } });
    expect(notBack).toContain("result: FAILED (n3 was not reconnected)");
  });
});

describe("summary: --chaos rolling", () => {
  const rolling = { restarts: ["n1", "n2", "n3"].map((node, i) => ({ node, drainStartedAtMs: 1000 * (i + 1), drainMs: 300, downMs: 900 })) };

  it("counts DrainingError apart, and passes only with every node restarted, nothing else failed and nothing lost", async () => {
    const m = new Metrics();
    m.locks.acquired = 5;
    await m.time("lock", "n2", () => Promise.reject(new DrainingError("n2 is draining; retry elsewhere"))).catch(() => {});
    const text = formatSummary({ nodes: 3, elapsedMs: 4000, metrics: m.snapshot(), rolling });
    expect(text).toContain("calls failed because of the restarts: 1 with DrainingError (retry elsewhere; n2 1), 0 with anything else");
    expect(text).toContain("n2: drain from 2.0 s took 300 ms; restarted and connected to all again 900 ms later");
    expect(text).toContain("lost messages:     0 (");
    expect(text).toContain("result: OK");
    // Outside a rolling restart, a drain error is a problem; so are a disconnect, a lost message, a missed node.
    expect(verdict({ nodes: 3, elapsedMs: 1, metrics: m.snapshot() }).problems.join()).toContain("1 calls failed with DrainingError");
    await m.time("lock", "n3", () => Promise.reject(new DisconnectedError("gone"))).catch(() => {});
    m.lostMessages = 2;
    const v = verdict({ nodes: 3, elapsedMs: 1, metrics: m.snapshot(), rolling: { restarts: rolling.restarts.slice(0, 2) } });
    expect(v.problems).toEqual([
      "1 calls to n3 failed with DisconnectedError",
      "only 2 of 3 nodes were drained and restarted",
      "2 stream messages lost",
    ]);
  });
});

describe("summary: mutual exclusion", () => {
  it("reports the check, and an overlap fails the run unless a node was restarted", async () => {
    const metrics = new Metrics();
    metrics.locks.acquired = 2;
    const a = { resource: "x", write: true, owner: "node1", start: 0, end: 2 };
    const b = { resource: "x", write: true, owner: "node2", start: 1, end: 3 };
    const clean = { nodes: 2, elapsedMs: 1, metrics: metrics.snapshot(), exclusion: { checked: 2, overlaps: [], overlapCount: 0 } };
    expect(formatSummary(clean)).toContain("mutual exclusion:  2 critical sections checked, 0 overlapping");
    const broken = { ...clean, exclusion: { checked: 2, overlaps: [[a, b]] as [typeof a, typeof b][], overlapCount: 1 } };
    expect(formatSummary(broken)).toContain("x: node1 (write) and node2 (write) held it together for 1.00 ms");
    expect(verdict(broken).problems).toEqual(["1 overlapping critical sections"]);
  });
});

describe("Metrics.failure", () => {
  it("does not count the node's own cancellations as errors", async () => {
    const m = new Metrics();
    await m.time("lockEvents", "n2", () => Promise.reject(new AbortError("stream cancelled by the caller"))).catch(() => {});
    expect(m.snapshot().unexpected.count).toBe(0);
    expect(m.snapshot().calls["lockEvents"]?.errors).toBe(1);
  });
});
