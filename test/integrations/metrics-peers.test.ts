/** tsgrid/metrics, per peer: read from real Managers over 127.0.0.1. */
import { afterEach, describe, expect, it } from "vitest";
import { Registry, register as globalRegistry } from "prom-client";
import { Manager, silentLogger } from "tsgrid";
import { GridMetrics } from "tsgrid/metrics";
import { freePorts } from "../cluster/helpers.js";
import { find, parseProm, sample } from "./prom-text.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function until(cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}

function manager(local: string, hosts: string[]): Manager {
  const m = new Manager({ local, hosts, logger: silentLogger, reconnect: { initialDelayMs: 20, maxDelayMs: 100 }, pingIntervalMs: 50 });
  cleanups.push(() => m.close());
  return m;
}

describe("tsgrid/metrics: per-peer series", () => {
  it("exports state, disconnects, reconnects, RTT, queue and byte counts for every configured peer", async () => {
    const hosts = (await freePorts(3)).map((p) => `ws://127.0.0.1:${p}/grid`);
    const [a, b, c] = hosts as [string, string, string];
    const ma = manager(a, hosts);
    let mb = manager(b, hosts);
    mb.registerSingle(1, (p) => p);
    const registry = new Registry();
    const metrics = new GridMetrics({ registry }).observe(ma);
    cleanups.push(() => metrics.close());
    const scrape = async () => parseProm(await registry.metrics());

    // Before anything connects: every configured peer has its series, c never comes up.
    let s = await scrape();
    expect(find(s, "tsgrid_peer_connected").map((x) => x.labels["peer"]).sort()).toEqual([b, c].sort());
    expect(sample(s, "tsgrid_peer_disconnects_total", { peer: b })).toBe(0);

    await Promise.all([ma.listen(), mb.listen()]);
    await ma.connection(b).waitConnected({ signal: AbortSignal.timeout(5_000) });
    await ma.connection(b).request(1, new Uint8Array(1000));
    await until(() => ma.connection(b).stats.rttMs !== undefined);
    s = await scrape();
    expect(sample(s, "tsgrid_peer_connected", { peer: b })).toBe(1);
    expect(sample(s, "tsgrid_peer_connected", { peer: c })).toBe(0);
    expect(sample(s, "tsgrid_peer_state", { peer: b, state: "connected" })).toBe(1);
    expect(sample(s, "tsgrid_peer_state", { peer: b, state: "disconnected" })).toBe(0);
    expect(find(s, "tsgrid_peer_state", { peer: b })).toHaveLength(4);
    expect(sample(s, "tsgrid_peer_rtt_seconds", { peer: b })).toBeGreaterThan(0);
    expect(sample(s, "tsgrid_peer_rtt_seconds", { peer: b })).toBeLessThan(1);
    expect(find(s, "tsgrid_peer_rtt_seconds", { peer: c })).toHaveLength(0); // never measured
    expect(sample(s, "tsgrid_peer_sent_bytes_total", { peer: b })).toBeGreaterThan(1000);
    expect(sample(s, "tsgrid_peer_received_bytes_total", { peer: b })).toBeGreaterThan(1000);
    expect(sample(s, "tsgrid_peer_queued_bytes", { peer: b })).toBe(0);
    expect(sample(s, "tsgrid_peer_calls_waiting_for_room", { peer: b })).toBe(0);
    expect(sample(s, "tsgrid_peer_streams_awaiting_credit", { peer: b })).toBe(0);
    expect(sample(s, "tsgrid_peer_calls_in_flight", { peer: b })).toBe(0);
    expect(sample(s, "tsgrid_peer_reconnects_total", { peer: b })).toBe(0);

    // b restarts on the same address: one disconnect, one reconnect; counters only grow.
    const sentBefore = sample(s, "tsgrid_peer_sent_bytes_total", { peer: b });
    await mb.close();
    await until(() => ma.connection(b).state !== "connected");
    s = await scrape();
    expect(sample(s, "tsgrid_peer_connected", { peer: b })).toBe(0);
    expect(sample(s, "tsgrid_peer_disconnects_total", { peer: b })).toBe(1);
    mb = manager(b, hosts);
    await mb.listen();
    await ma.connection(b).waitConnected({ signal: AbortSignal.timeout(5_000) });
    s = await scrape();
    expect(sample(s, "tsgrid_peer_connected", { peer: b })).toBe(1);
    expect(sample(s, "tsgrid_peer_reconnects_total", { peer: b })).toBe(1);
    expect(sample(s, "tsgrid_peer_disconnects_total", { peer: b })).toBe(1);
    expect(sample(s, "tsgrid_peer_sent_bytes_total", { peer: b })).toBeGreaterThanOrEqual(sentBefore);
    // Only configured hosts appear as peer label values.
    for (const x of s) if ("peer" in x.labels) expect([b, c]).toContain(x.labels["peer"]);
  });

  it("registers in prom-client's global registry by default; a second GridMetrics there is refused; close() unregisters", () => {
    const metrics = new GridMetrics();
    cleanups.push(() => metrics.close());
    expect(globalRegistry.getSingleMetric("tsgrid_peer_connected")).toBeDefined();
    expect(() => new GridMetrics()).toThrow(/already registered.*own registry/);
    metrics.close();
    expect(globalRegistry.getSingleMetric("tsgrid_peer_connected")).toBeUndefined();
    const again = new GridMetrics({ prefix: "grid_" });
    cleanups.push(() => again.close());
    expect(globalRegistry.getSingleMetric("grid_peer_connected")).toBeDefined();
    expect(() => new GridMetrics({ prefix: "bad prefix" })).toThrow(RangeError);
  });

  it("observes one Manager only", async () => {
    const hosts = (await freePorts(2)).map((p) => `ws://127.0.0.1:${p}/grid`);
    const metrics = new GridMetrics({ registry: new Registry() });
    cleanups.push(() => metrics.close());
    metrics.observe(manager(hosts[0]!, hosts));
    expect(() => metrics.observe(manager(hosts[1]!, hosts))).toThrow(/one GridMetrics per Manager/);
  });
});
