/** tsgrid/metrics, per handler and side: counted by interceptors on real Managers over 127.0.0.1. */
import { afterEach, describe, expect, it } from "vitest";
import { Registry } from "prom-client";
import { Manager, silentLogger } from "tsgrid";
import type { HandlerContext } from "tsgrid";
import { GridMetrics } from "tsgrid/metrics";
import { freePorts } from "../cluster/helpers.js";
import { find, parseProm, sample } from "./prom-text.js";

const ECHO = 1;
const FAIL = 2;
const COUNT = 3; // a stream: yields n messages of 10 bytes
const WAIT = 4; // waits for its signal
const SUM = 5; // a stream with input: sums what it reads

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function until(cond: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function pair() {
  const hosts = (await freePorts(2)).map((p) => `ws://127.0.0.1:${p}/grid`) as [string, string];
  const nodes = hosts.map((local) => {
    const registry = new Registry();
    const metrics = new GridMetrics({ registry });
    const manager = new Manager({ local, hosts, logger: silentLogger, interceptors: metrics.interceptors });
    metrics.observe(manager);
    cleanups.push(() => manager.close(), () => metrics.close());
    return { manager, registry, scrape: async () => parseProm(await registry.metrics()) };
  });
  const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
  b.manager.registerSingle(ECHO, (p) => p, { name: "Echo.echo" });
  b.manager.registerSingle(FAIL, () => { throw new Error("disk full"); }, { name: "Echo.fail" });
  b.manager.registerStream(COUNT, async function* (p) {
    for (let i = 0; i < (p?.[0] ?? 0); i++) yield new Uint8Array(10);
  }, { name: "Echo.count" });
  b.manager.registerSingle(WAIT, (_p, ctx: HandlerContext) => new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason))), { name: "Echo.wait" });
  b.manager.registerStream(SUM, async function* (_p, input) {
    let n = 0;
    for await (const m of input!) n += m.byteLength;
    yield new Uint8Array([n]);
  }, { name: "Echo.sum", inCapacity: 4 });
  await Promise.all(nodes.map((n) => n.manager.listen()));
  const conn = a.manager.connection(hosts[1]);
  conn.nameHandlers("Echo", { echo: ECHO, fail: FAIL, count: COUNT, wait: WAIT, sum: SUM });
  await conn.waitConnected({ signal: AbortSignal.timeout(5_000) });
  return { a, b, conn, hosts };
}

describe("tsgrid/metrics: per handler and side", () => {
  it("counts calls by outcome code, latency, payload bytes and stream messages, on both sides", async () => {
    const { a, b, conn } = await pair();
    for (let i = 0; i < 3; i++) await conn.request(ECHO, new Uint8Array(100));
    await expect(conn.request(FAIL, new Uint8Array(7))).rejects.toMatchObject({ code: "remote" });
    const stream = await conn.newStream(COUNT, new Uint8Array([5]));
    let got = 0;
    for await (const _ of stream.responses) got++;
    expect(got).toBe(5);
    const sum = await conn.newStream(SUM);
    for (let i = 0; i < 6; i++) await sum.requests!.send(new Uint8Array(3));
    sum.requests!.close();
    for await (const m of sum.responses) expect(m[0]).toBe(18);

    await until(async () => sample(await b.scrape(), "tsgrid_calls_total", { side: "server", handler: "Echo.sum", code: "ok" }) === 1);
    const sa = await a.scrape();
    const sb = await b.scrape();
    for (const [s, side] of [[sa, "client"], [sb, "server"]] as const) {
      expect(sample(s, "tsgrid_calls_total", { side, handler: "Echo.echo", code: "ok" })).toBe(3);
      expect(sample(s, "tsgrid_calls_total", { side, handler: "Echo.fail", code: "remote" })).toBe(1);
      expect(find(s, "tsgrid_calls_total", { side, handler: "Echo.fail", code: "ok" })).toHaveLength(0);
      expect(sample(s, "tsgrid_calls_total", { side, handler: "Echo.count", code: "ok" })).toBe(1);
      expect(sample(s, "tsgrid_call_duration_seconds_count", { side, handler: "Echo.echo" })).toBe(3);
      expect(sample(s, "tsgrid_call_duration_seconds_bucket", { side, handler: "Echo.echo", le: "+Inf" })).toBe(3);
      expect(sample(s, "tsgrid_call_duration_seconds_sum", { side, handler: "Echo.echo" })).toBeGreaterThan(0);
      expect(sample(s, "tsgrid_calls_in_flight", { side, handler: "Echo.echo" })).toBe(0);
      expect(sample(s, "tsgrid_calls_in_flight", { side, handler: "Echo.count" })).toBe(0);
      expect(sample(s, "tsgrid_calls_in_flight", { side, handler: "Echo.sum" })).toBe(0);
    }
    // Bytes and messages, from each side's point of view.
    expect(sample(sa, "tsgrid_payload_bytes_total", { side: "client", handler: "Echo.echo", direction: "sent" })).toBe(300);
    expect(sample(sa, "tsgrid_payload_bytes_total", { side: "client", handler: "Echo.echo", direction: "received" })).toBe(300);
    expect(sample(sb, "tsgrid_payload_bytes_total", { side: "server", handler: "Echo.echo", direction: "received" })).toBe(300);
    expect(sample(sb, "tsgrid_payload_bytes_total", { side: "server", handler: "Echo.echo", direction: "sent" })).toBe(300);
    expect(sample(sa, "tsgrid_stream_messages_total", { side: "client", handler: "Echo.count", direction: "received" })).toBe(5);
    expect(sample(sb, "tsgrid_stream_messages_total", { side: "server", handler: "Echo.count", direction: "sent" })).toBe(5);
    expect(sample(sa, "tsgrid_payload_bytes_total", { side: "client", handler: "Echo.count", direction: "received" })).toBe(50);
    expect(sample(sa, "tsgrid_stream_messages_total", { side: "client", handler: "Echo.sum", direction: "sent" })).toBe(6);
    expect(sample(sb, "tsgrid_stream_messages_total", { side: "server", handler: "Echo.sum", direction: "received" })).toBe(6);
    expect(sample(sb, "tsgrid_stream_messages_total", { side: "server", handler: "Echo.sum", direction: "sent" })).toBe(1);
    // A side only has its own series.
    expect(find(sa, "tsgrid_calls_total", { side: "server" })).toHaveLength(0);
    expect(find(sb, "tsgrid_calls_total", { side: "client" })).toHaveLength(0);
  });

  it("in-flight gauges while a call waits; a cancel is counted as aborted on both sides", async () => {
    const { a, b, conn } = await pair();
    const ac = new AbortController();
    const waiting = conn.request(WAIT, new Uint8Array(0), { signal: ac.signal });
    const waitingOnB = async () => find(await b.scrape(), "tsgrid_calls_in_flight", { side: "server", handler: "Echo.wait" })[0]?.value;
    await until(async () => (await waitingOnB()) === 1);
    expect(sample(await a.scrape(), "tsgrid_calls_in_flight", { side: "client", handler: "Echo.wait" })).toBe(1);
    ac.abort();
    await expect(waiting).rejects.toMatchObject({ code: "aborted" });
    await until(async () => (await waitingOnB()) === 0);
    expect(sample(await a.scrape(), "tsgrid_calls_in_flight", { side: "client", handler: "Echo.wait" })).toBe(0);
    expect(sample(await a.scrape(), "tsgrid_calls_total", { side: "client", handler: "Echo.wait", code: "aborted" })).toBe(1);
    expect(sample(await b.scrape(), "tsgrid_calls_total", { side: "server", handler: "Echo.wait", code: "aborted" })).toBe(1);
  });

  it("label values stay bounded: a handler id the server does not serve never becomes a server-side series", async () => {
    const { a, b, conn } = await pair();
    for (const id of [77, 78, 79]) await expect(conn.request(id, new Uint8Array(0))).rejects.toMatchObject({ code: "unknown_handler" });
    const sa = await a.scrape();
    // The caller chose those ids (its own code): they are its labels.
    expect(sample(sa, "tsgrid_calls_total", { side: "client", handler: "handler_77", code: "unknown_handler" })).toBe(1);
    const sb = await b.scrape();
    expect(find(sb, "tsgrid_calls_total").filter((s) => s.labels["handler"]!.startsWith("handler_"))).toHaveLength(0);
    // Every label value on the server is a registered name, a side, a code, a configured host or a state.
    const allowed = new Set(["Echo.echo", "Echo.fail", "Echo.count", "Echo.wait", "Echo.sum"]);
    for (const s of sb) if (s.labels["handler"] !== undefined) expect(allowed).toContain(s.labels["handler"]);
  });
});
