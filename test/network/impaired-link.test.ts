/**
 * Two Managers whose link runs through the fault proxy: 50 ms ± 20 ms of latency each way and
 * 1 MB/s each way (a slow WAN link). Calls keep their answers, streams keep their order and
 * their credit bound, and a bulk stream gets the link's bandwidth. A reset link and a link
 * that goes silent are detected and redialled. The figures are printed.
 */
import { afterEach, describe, expect, it } from "vitest";
import { Manager } from "../../runtime/cluster/manager.js";
import { shouldDial } from "../../runtime/cluster/who-dials.js";
import { DisconnectedError } from "../../runtime/errors.js";
import { silentLogger } from "../../runtime/logger.js";
import { tcpDialer } from "../../runtime/transport/dialer.js";
import { freePorts } from "../cluster/helpers.js";
import { FaultProxy, type Toxics } from "../helpers/fault-proxy.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

const WAN: Toxics = { latencyMs: 50, jitterMs: 20, bytesPerSecond: 1_000_000 };
const MSG_BYTES = 64 * 1024;
const OUT_CAPACITY = 8;
const IN_CAPACITY = 8;

interface Pair {
  caller: Manager;
  server: Manager;
  serverName: string;
  proxy: FaultProxy;
  /** What the bulk handler produced so far (for the credit check). */
  produced: { n: number };
}

/** Caller dials server through the proxy. Handlers on the server: 1 echo, 2 bulk out, 3 bulk in. */
async function pair(toxics: Toxics, timing: { pingIntervalMs?: number; pingTimeoutMs?: number } = {}): Promise<Pair> {
  let [pa, pb] = (await freePorts(2)).map((p) => `ws://127.0.0.1:${p}/grid`) as [string, string];
  if (!shouldDial(pa, pb)) [pa, pb] = [pb, pa];
  const serverPort = Number(new URL(pb).port);
  const proxy = await FaultProxy.start({ target: { host: "127.0.0.1", port: serverPort }, toxics });
  cleanups.push(() => proxy.close());
  const common = { hosts: [pa, pb], logger: silentLogger, reconnect: { initialDelayMs: 20, maxDelayMs: 200 }, ...timing };
  const caller = new Manager({ ...common, local: pa, dialer: (_address, signal) => tcpDialer(`ws://127.0.0.1:${proxy.port}/grid`, signal) });
  const server = new Manager({ ...common, local: pb });
  cleanups.push(() => Promise.all([caller.close(), server.close()]));
  const produced = { n: 0 };
  server.registerSingle(1, (p) => p);
  server.registerStream(
    2,
    async function* (payload) {
      const count = new DataView(payload!.buffer, payload!.byteOffset).getUint32(0);
      for (let i = 0; i < count; i++) {
        const msg = new Uint8Array(MSG_BYTES);
        new DataView(msg.buffer).setUint32(0, i);
        produced.n = i + 1;
        yield msg;
      }
    },
    { outCapacity: OUT_CAPACITY },
  );
  server.registerStream(
    3,
    async function* (_payload, input) {
      let i = 0;
      for await (const msg of input!) {
        if (new DataView(msg.buffer, msg.byteOffset).getUint32(0) !== i) throw new Error(`message ${i} out of order`);
        i++;
        yield new Uint8Array(4);
      }
    },
    { inCapacity: IN_CAPACITY },
  );
  await Promise.all([caller.listen(), server.listen()]);
  await caller.connection(pb).waitConnected();
  return { caller, server, serverName: pb, proxy, produced };
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

describe("a link with 50 ± 20 ms latency and 1 MB/s (fault proxy)", () => {
  it("single calls: right answers, latency of one round trip; bulk streams both ways: in order, at the link's bandwidth, within their credit", async () => {
    const { caller, serverName, produced } = await pair(WAN);
    const conn = caller.connection(serverName);

    // Sequential small calls: one round trip each (2 × 50 ± 20 ms).
    const lat: number[] = [];
    for (let i = 0; i < 20; i++) {
      const payload = new TextEncoder().encode(`call ${i}`);
      const t0 = performance.now();
      const answer = await conn.request(1, payload);
      lat.push(performance.now() - t0);
      expect(new TextDecoder().decode(answer)).toBe(`call ${i}`);
    }
    lat.sort((x, y) => x - y);
    const p50 = quantile(lat, 0.5);
    expect(p50).toBeGreaterThanOrEqual(60);
    expect(p50).toBeLessThan(300);

    // Server → caller: 48 × 64 KiB (3 MiB) while 8 small calls are timed alongside.
    const count = 48;
    const req = new Uint8Array(4);
    new DataView(req.buffer).setUint32(0, count);
    let maxAhead = 0;
    let received = 0;
    const t0 = performance.now();
    const stream = await conn.newStream(2, req);
    const during: number[] = [];
    const probes = (async () => {
      for (let i = 0; i < 8; i++) {
        await new Promise((r) => setTimeout(r, 200));
        const s = performance.now();
        await conn.request(1, new Uint8Array([i]));
        during.push(performance.now() - s);
      }
    })();
    for await (const msg of stream.responses) {
      expect(new DataView(msg.buffer, msg.byteOffset).getUint32(0)).toBe(received);
      received++;
      maxAhead = Math.max(maxAhead, produced.n - received);
    }
    const downMs = performance.now() - t0;
    await probes;
    expect(received).toBe(count);
    const downRate = (count * MSG_BYTES) / (downMs / 1000);
    // The link's 1 MB/s, give or take headers and the first round trip.
    expect(downRate).toBeGreaterThan(600_000);
    expect(downRate).toBeLessThan(1_100_000);
    // The server never ran further ahead than the caller's credit (+ the one being yielded).
    expect(maxAhead).toBeLessThanOrEqual(OUT_CAPACITY + 1);

    // Caller → server: 32 × 64 KiB (2 MiB) on a bidi stream; sends wait for credit.
    const up = await conn.newStream(3);
    let acks = 0;
    let maxUnacked = 0;
    let sent = 0;
    const reader = (async () => {
      for await (const _ack of up.responses) acks++;
    })();
    const t1 = performance.now();
    for (let i = 0; i < 32; i++) {
      const msg = new Uint8Array(MSG_BYTES);
      new DataView(msg.buffer).setUint32(0, i);
      await up.requests!.send(msg);
      sent++;
      maxUnacked = Math.max(maxUnacked, sent - acks);
    }
    up.requests!.close();
    await reader;
    const upMs = performance.now() - t1;
    const upRate = (32 * MSG_BYTES) / (upMs / 1000);
    expect(acks).toBe(32);
    expect(upRate).toBeGreaterThan(600_000);
    expect(upRate).toBeLessThan(1_100_000);
    // Credit: the caller was at most inCapacity (+ acks still on their way back) ahead.
    expect(maxUnacked).toBeLessThanOrEqual(IN_CAPACITY + 16);

    during.sort((x, y) => x - y);
    console.log(
      `impaired link (50±20 ms each way, 1 MB/s each way): single call p50 ${p50.toFixed(0)} ms (max ${lat.at(-1)!.toFixed(0)}); ` +
        `server stream ${(downRate / 1e6).toFixed(2)} MB/s (server ahead by ≤ ${maxAhead} of ${OUT_CAPACITY} credits); ` +
        `bidi upload ${(upRate / 1e6).toFixed(2)} MB/s (≤ ${maxUnacked} unacknowledged); ` +
        `small call behind the bulk stream p50 ${quantile(during, 0.5).toFixed(0)} ms, max ${during.at(-1)?.toFixed(0)} ms`,
    );
  }, 30_000);

  it("a reset link (TCP RST) fails the calls on it at once and is redialled", async () => {
    const { caller, serverName, proxy } = await pair({ latencyMs: 5 });
    const conn = caller.connection(serverName);
    const pending = conn.newStream(2, new Uint8Array([0, 0, 0, 200]));
    const stream = await pending;
    const reading = (async () => {
      for await (const _m of stream.responses) {
        // consume
      }
    })();
    await new Promise((r) => setTimeout(r, 50));
    const t0 = performance.now();
    proxy.resetPeers();
    await expect(reading).rejects.toBeInstanceOf(DisconnectedError);
    const failedMs = performance.now() - t0;
    expect(failedMs).toBeLessThan(500);
    await conn.waitConnected({ signal: AbortSignal.timeout(5_000) });
    expect(new TextDecoder().decode(await conn.request(1, new TextEncoder().encode("again")))).toBe("again");
    expect(proxy.accepted).toBe(2);
  });

  it("a link that goes silent (timeout toxic) is dropped by the ping timeout, then redialled", async () => {
    const { caller, serverName, proxy } = await pair({ latencyMs: 5 }, { pingIntervalMs: 100, pingTimeoutMs: 400 });
    const conn = caller.connection(serverName);
    const inflight = conn.request(1, new Uint8Array(1)).catch((e: unknown) => e);
    proxy.timeout(0); // drop everything, never close: a black hole
    const t0 = performance.now();
    const hung = conn.request(1, new Uint8Array(2), { timeoutMs: 10_000 }).catch((e: unknown) => e);
    expect(await hung).toBeInstanceOf(DisconnectedError);
    const ms = performance.now() - t0;
    // pingTimeoutMs + one check (100 ms), with scheduling slack.
    expect(ms).toBeLessThan(400 + 100 + 500);
    await inflight;
    proxy.restore();
    await conn.waitConnected({ signal: AbortSignal.timeout(5_000) });
    expect(new TextDecoder().decode(await conn.request(1, new TextEncoder().encode("back")))).toBe("back");
  });
});
