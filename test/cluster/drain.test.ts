/**
 * Graceful drain over real sockets: `manager.drain()` with calls and streams in flight in
 * both directions. Everything in flight completes, new calls on either side fail at once
 * with DrainingError, nothing hangs, the links close, and a restarted node is redialled.
 */
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { Manager } from "../../runtime/cluster/manager.js";
import { DisconnectedError, DrainingError } from "../../runtime/errors.js";
import { silentLogger } from "../../runtime/logger.js";
import type { Logger, Stream } from "../../runtime/types.js";
import { freePorts, recordingLogger, until } from "./helpers.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((fn) => fn()));
});

const ECHO = 1;
const GATED = 2; // a single that answers when the test opens the gate
const TICKS = 3; // a server stream of n messages, one per gate step
const ECHO_STREAM = 4; // bidi echo

interface Node {
  manager: Manager;
  open(): void;
}

function node(local: string, hosts: string[], logger: Logger = silentLogger): Node {
  const manager = new Manager({ local, hosts, logger, reconnect: { initialDelayMs: 20, maxDelayMs: 200 } });
  let release!: () => void;
  let gate = new Promise<void>((r) => (release = r));
  manager.registerSingle(ECHO, (p) => encoder.encode(`${local}:${decoder.decode(p)}`), { name: "Test.echo" });
  manager.registerSingle(GATED, async (p) => {
    await gate;
    return p;
  }, { name: "Test.gated" });
  manager.registerStream(TICKS, async function* (payload) {
    const n = Number(decoder.decode(payload));
    for (let i = 0; i < n; i++) {
      if (i === 1) await gate; // one message out before the drain, the rest after
      yield encoder.encode(String(i));
    }
  }, { name: "Test.ticks" });
  manager.registerStream(
    ECHO_STREAM,
    async function* (_p, input) {
      for await (const m of input!) yield m;
    },
    { inCapacity: 8, name: "Test.echoStream" },
  );
  cleanups.push(() => manager.close());
  return {
    manager,
    open: () => {
      release();
      gate = new Promise<void>((r) => (release = r));
      release();
    },
  };
}

/** The call's error (or its value), handled at once so a rejection is never unhandled. */
function settled(call: Promise<unknown>): Promise<unknown> {
  return call.then(
    (v) => v,
    (e: unknown) => e,
  );
}

async function collect(s: Stream): Promise<string[]> {
  const out: string[] = [];
  for await (const m of s.responses) out.push(decoder.decode(m));
  return out;
}

/** Every call form that starts something new, from `from` to `to`. */
function newCalls(from: Manager, to: string): Promise<unknown>[] {
  const conn = from.connection(to);
  return [
    conn.request(ECHO, encoder.encode("new")),
    conn.newStream(TICKS, encoder.encode("1")),
    conn.subroute("x").request(ECHO, encoder.encode("new")),
  ];
}

async function twoNodes(logger?: Logger): Promise<{ a: Node; b: Node; addrA: string; addrB: string }> {
  const [pa, pb] = await freePorts(2);
  const addrA = `ws://127.0.0.1:${pa}/grid`;
  const addrB = `ws://127.0.0.1:${pb}/grid`;
  const hosts = [addrA, addrB];
  const a = node(addrA, hosts, logger);
  const b = node(addrB, hosts);
  await Promise.all([a.manager.listen(), b.manager.listen()]);
  await Promise.all([a.manager.connection(addrB).waitConnected(), b.manager.connection(addrA).waitConnected()]);
  return { a, b, addrA, addrB };
}

describe("Manager.drain", () => {
  it("in-flight calls and streams finish in both directions; new ones fail with DrainingError on both sides; then the links close", async () => {
    const logger = recordingLogger();
    const { a, b, addrA, addrB } = await twoNodes(logger);
    const ab = a.manager.connection(addrB);
    const ba = b.manager.connection(addrA);
    // In flight both ways: a gated single, a server stream part-way, a bidi echo.
    const singleAB = ab.request(GATED, encoder.encode("ab"));
    const singleBA = ba.request(GATED, encoder.encode("ba"));
    const ticksAB = await ab.newStream(TICKS, encoder.encode("50"));
    const ticksBA = await ba.newStream(TICKS, encoder.encode("50"));
    const bidiBA = await ba.newStream(ECHO_STREAM);
    await bidiBA.requests!.send(encoder.encode("before"));
    const gotAB = collect(ticksAB);
    const gotBA = collect(ticksBA);
    const gotBidi = collect(bidiBA);
    await until(() => ab.stats.inFlight === 5 && ba.stats.inFlight === 5);

    let drained = false;
    const draining = a.manager.drain({ timeoutMs: 10_000 }).then(() => (drained = true));
    expect(a.manager.isDraining).toBe(true);
    // This node starts nothing new, at once; the peer neither, once it read the GoAway.
    for (const call of newCalls(a.manager, addrB)) await expect(call).rejects.toBeInstanceOf(DrainingError);
    await until(() => ba.peerDraining);
    for (const call of newCalls(b.manager, addrA)) {
      await expect(call).rejects.toThrow(/^\[draining\] ws:\/\/127\.0\.0\.1:\d+\/grid is draining; retry elsewhere$/);
    }
    // Streams already open keep flowing, both ways, while the drain waits for them.
    await bidiBA.requests!.send(encoder.encode("during"));
    await new Promise((r) => setTimeout(r, 100));
    expect(drained).toBe(false);
    expect(ab.state).toBe("connected");

    a.open();
    b.open();
    bidiBA.requests!.close();
    expect(decoder.decode(await singleAB)).toBe("ab");
    expect(decoder.decode(await singleBA)).toBe("ba");
    const expected = Array.from({ length: 50 }, (_, i) => String(i));
    expect(await gotAB).toEqual(expected);
    expect(await gotBA).toEqual(expected);
    expect(await gotBidi).toEqual(["before", "during"]);
    await draining;
    expect(ba.state).not.toBe("connected");
    // While A is gone, B's calls to it say "draining", not "disconnected".
    for (const call of newCalls(b.manager, addrA)) await expect(call).rejects.toBeInstanceOf(DrainingError);
    const events = logger.records.map((r) => `${r.level} ${r.message}`);
    expect(events).toContain("info draining");
    expect(events).toContain("info drained");
    const done = logger.records.find((r) => r.message === "drained")!;
    expect(done.fields).toMatchObject({ timedOut: false, callsCut: 0 });
  });

  it("a restarted node is redialled and served again", async () => {
    const { a, b, addrA, addrB } = await twoNodes();
    await a.manager.drain({ timeoutMs: 2000 });
    const ba = b.manager.connection(addrA);
    await expect(ba.request(ECHO, encoder.encode("x"))).rejects.toBeInstanceOf(DrainingError);
    const again = node(addrA, [addrA, addrB]);
    await again.manager.listen();
    await ba.waitConnected();
    expect(decoder.decode(await ba.request(ECHO, encoder.encode("back")))).toBe(`${addrA}:back`);
    expect(ba.peerDraining).toBe(false);
  });

  it("the timeout bounds a drain: what is still running then fails with DisconnectedError", async () => {
    const { a, b, addrA, addrB } = await twoNodes();
    const stuck = settled(b.manager.connection(addrA).request(GATED, encoder.encode("stuck")));
    const stuckOut = settled(a.manager.connection(addrB).request(GATED, encoder.encode("stuck")));
    await until(() => a.manager.connection(addrB).stats.inFlight === 2);
    const started = performance.now();
    await a.manager.drain({ timeoutMs: 300 });
    const took = performance.now() - started;
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(5000);
    expect(await stuck).toBeInstanceOf(DisconnectedError);
    expect(await stuckOut).toBeInstanceOf(DisconnectedError);
  });

  it("refuses new links while draining, and close() during a drain cuts it short", async () => {
    const { a, addrA, addrB } = await twoNodes();
    const stuck = settled(a.manager.connection(addrB).request(GATED, encoder.encode("stuck")));
    const draining = a.manager.drain({ timeoutMs: 60_000 });
    expect(a.manager.drain()).toBe(draining);
    const status = await new Promise<number | undefined>((resolve) => {
      const ws = new WebSocket(addrA);
      ws.on("unexpected-response", (_req, res) => {
        resolve(res.statusCode);
        ws.terminate();
      });
      ws.on("open", () => {
        resolve(101);
        ws.terminate();
      });
      ws.on("error", () => resolve(undefined));
    });
    expect(status).toBe(503);
    const started = performance.now();
    await a.manager.close();
    await draining;
    expect(performance.now() - started).toBeLessThan(5000);
    expect(await stuck).toBeInstanceOf(DisconnectedError);
  });

  it("rejects a bad timeout", () => {
    const m = new Manager({ local: "ws://127.0.0.1:1/grid", hosts: [], logger: silentLogger });
    cleanups.push(() => m.close());
    expect(() => m.drain({ timeoutMs: -1 })).toThrow(RangeError);
  });
});
