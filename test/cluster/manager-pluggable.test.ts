/**
 * The Manager over a custom transport: byte streams handed to the listening side with
 * `incomingConn` and opened on the dialling side by a custom ConnDialer. The networks here
 * are tsgrid/testing clusters (which plug into exactly those two seams), on virtual time, so
 * the timing bounds below are exact. Also the behaviours easiest to prove on such links:
 * subroutes, liveness on a half-open link, restart detection without a visible break, state
 * events, stats, trace.
 */
import { afterEach, describe, expect, it } from "vitest";
import { createTestCluster, type TestCluster, type TestClusterOptions } from "tsgrid/testing";
import { Manager } from "../../runtime/cluster/manager.js";
import { shouldDial } from "../../runtime/cluster/who-dials.js";
import type { CallTrace } from "../../runtime/connection/options.js";
import { DisconnectedError, RemoteError, UnknownHandlerError } from "../../runtime/errors.js";
import { silentLogger } from "../../runtime/logger.js";
import { sharedSecretAuth } from "../../runtime/auth/shared-secret.js";
import type { ClusterAuth } from "../../runtime/auth/cluster-auth.js";
import { connectWS } from "../../runtime/transport/connect-ws.js";
import { MemoryLink, recordingLogger, until } from "./helpers.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const text = (bytes: Uint8Array): string => decoder.decode(bytes);

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((fn) => fn()));
});

/** A simulated cluster, closed after the test. */
async function cluster(options: TestClusterOptions): Promise<TestCluster> {
  const c = await createTestCluster({ seed: 1, ...options, manager: { reconnect: { initialDelayMs: 10, maxDelayMs: 50 }, ...options.manager } });
  cleanups.push(() => c.close());
  return c;
}

/** Two names where the first dials the second. */
function dialPair(): [string, string] {
  const x = "ws://mem-x/grid";
  const y = "ws://mem-y/grid";
  return shouldDial(x, y) ? [x, y] : [y, x];
}

describe("a pluggable transport (incomingConn + custom ConnDialer)", () => {
  it("carries singles and streams in every direction between three Managers", async () => {
    const hosts = ["ws://mem-1/grid", "ws://mem-2/grid", "ws://mem-3/grid"];
    const c = await cluster({
      nodes: hosts,
      setup: ({ manager, name: local }) => {
        manager.registerSingle(1, (p, ctx) => encoder.encode(`${local}<-${ctx.caller}:${text(p)}`));
        manager.registerStream(2, async function* (p) {
          for (let i = 0; i < 3; i++) yield encoder.encode(`${text(p!)}${i}`);
        });
      },
    });
    for (const { manager: m } of c.nodes) {
      for (const peer of m.peers) {
        const conn = m.connection(peer);
        await conn.waitConnected();
        expect(text(await conn.request(1, encoder.encode("x")))).toBe(`${peer}<-${m.local}:x`);
        const stream = await conn.newStream(2, encoder.encode("s"));
        const got: string[] = [];
        for await (const msg of stream.responses) got.push(text(msg));
        expect(got).toEqual(["s0", "s1", "s2"]);
      }
    }
    expect(c.network.linksOpened).toBe(3); // one dial per pair, by the side shouldDial names
  });

  it("routes calls by subroute", async () => {
    const [x, y] = dialPair();
    const c = await cluster({ nodes: [x, y] });
    const [mx, my] = [c.manager(x), c.manager(y)];
    my.registerSingle(10, () => encoder.encode("plain"));
    my.registerSingle(10, (_p, ctx) => encoder.encode(`a:${ctx.subroute}`), { subroute: "tenant-a" });
    my.registerSingle(10, (_p, ctx) => encoder.encode(`b:${ctx.subroute}`), { subroute: "tenant-b" });
    const conn = mx.connection(y);
    expect(text(await conn.request(10, new Uint8Array()))).toBe("plain");
    expect(text(await conn.subroute("tenant-a").request(10, new Uint8Array()))).toBe("a:tenant-a");
    expect(text(await conn.subroute("tenant-b").request(10, new Uint8Array()))).toBe("b:tenant-b");
    await expect(conn.subroute("tenant-c").request(10, new Uint8Array())).rejects.toBeInstanceOf(UnknownHandlerError);
    // And the other way round, over the same link.
    mx.registerSingle(11, () => encoder.encode("from x"), { subroute: "r" });
    expect(text(await my.connection(x).subroute("r").request(11, new Uint8Array()))).toBe("from x");
  });

  it("detects a half-open link by pings, fails in-flight calls within the ping limit, and redials", async () => {
    const [x, y] = dialPair();
    const c = await cluster({
      nodes: [x, y],
      manager: { pingIntervalMs: 50, pingTimeoutMs: 300 },
      setup: ({ manager }) => manager.registerSingle(2, () => new Promise<Uint8Array>(() => {})),
    });
    const [mx, my] = [c.manager(x), c.manager(y)];
    my.registerSingle(1, (p) => p);
    // Both outcomes captured at once: neither rejection goes unhandled while awaiting the other.
    const outcomes = [mx.connection(y).request(2, new Uint8Array()), my.connection(x).request(2, new Uint8Array())].map(
      (call) => call.then(() => undefined, (err: unknown) => err),
    );
    await c.sleep(30);
    const start = c.now();
    expect(c.blackholeLink(x, y)).toBe(1); // nothing passes any more, and nothing says so
    for (const err of await Promise.all(outcomes)) expect(err).toBeInstanceOf(DisconnectedError);
    const elapsed = c.now() - start; // simulated time: exact, whatever the machine's load
    expect(elapsed).toBeGreaterThanOrEqual(300);
    expect(elapsed).toBeLessThanOrEqual(300 + 2 * 50); // the limit and one check period at most
    // The dialling side redials over a fresh link; the new connection serves new calls.
    await until(() => mx.connection(y).state === "connected" && mx.connection(y).stats.reconnects === 1);
    expect(c.network.linksOpened).toBe(2);
    expect([...(await mx.connection(y).request(1, new Uint8Array([4])))]).toEqual([4]);
  });

  it("treats a restarted peer as a new connection even when the old link never visibly broke", async () => {
    const [x, y] = dialPair(); // x dials y
    const loggerY = recordingLogger();
    // Long ping limit: only the new instance id can explain a quick switch.
    const c = await cluster({
      nodes: [x, y],
      manager: { pingIntervalMs: 5_000, pingTimeoutMs: 20_000, closeTimeoutMs: 50 },
      managerFor: (name) => (name === y ? { logger: loggerY } : {}),
      setup: ({ manager, name }) => {
        if (name === x) {
          manager.registerSingle(1, () => encoder.encode("new x"));
          manager.registerSingle(2, () => new Promise<Uint8Array>(() => {}));
        }
      },
    });
    const my = c.manager(y);
    const oldInstance = my.connection(x).peerInstanceId;
    const pending = my.connection(x).request(2, new Uint8Array());
    await c.sleep(20);

    await c.kill(x, { how: "power-off" }); // x "dies" silently: y's link stays up
    await c.sleep(100);
    expect(my.connection(x).state).toBe("connected");
    const start = c.now();
    const x2 = c.restart(x);
    await expect(pending).rejects.toBeInstanceOf(DisconnectedError);
    expect(c.now() - start).toBeLessThan(100); // not the 20 s ping limit
    await until(() => my.connection(x).state === "connected" && my.connection(x).peerInstanceId === x2.instanceId);
    expect(x2.instanceId).not.toBe(oldInstance);
    expect(text(await my.connection(x).request(1, new Uint8Array()))).toBe("new x");
    expect(loggerY.text()).toContain("peer restarted");
  });
});

describe("timeouts of links that stall", () => {
  it("drops an incoming stream that never upgrades, or never sends its Connect, after handshakeTimeoutMs", async () => {
    const [x, y] = dialPair();
    const my = new Manager({ local: y, hosts: [x, y], logger: silentLogger, handshakeTimeoutMs: 100, dialer: async () => new MemoryLink().a });
    cleanups.push(() => my.close());
    const silent = new MemoryLink();
    my.incomingConn(silent.b); // not even the HTTP upgrade
    const upgradedOnly = new MemoryLink();
    my.incomingConn(upgradedOnly.b);
    const ws = await connectWS(y, { dialer: async () => upgradedOnly.a }); // upgrade, then nothing
    const wsClosed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
    const start = performance.now();
    await until(() => silent.b.destroyed && silent.a.destroyed, 2000, "silent stream dropped");
    await wsClosed;
    expect(performance.now() - start).toBeLessThan(1000);
  });

  it("gives up a dial that stalls after dialTimeoutMs, says why, and tries again", async () => {
    const [x, y] = dialPair();
    const stalls: MemoryLink[] = [];
    const reasons: string[] = [];
    const mx = new Manager({
      local: x,
      hosts: [x, y],
      logger: silentLogger,
      dialTimeoutMs: 100,
      reconnect: { initialDelayMs: 10, maxDelayMs: 20 },
      dialer: async () => {
        const link = new MemoryLink(); // nobody answers the upgrade
        stalls.push(link);
        return link.a;
      },
    });
    cleanups.push(() => mx.close());
    mx.onStateChange((_peer, state, _previous, reason) => {
      if (state === "disconnected" && reason !== undefined) reasons.push(reason.message);
    });
    await until(() => stalls.length >= 2, 3000, "a second dial");
    expect(reasons[0]).toContain("dial timed out after 100 ms");
    await until(() => stalls[0]!.a.destroyed, 1000, "the stalled stream destroyed");
  });
});

describe("hand-over after the handshake", () => {
  it("delivers calls the listener sends before the dialler has finished checking its answer", async () => {
    const [x, y] = dialPair(); // x dials y; y attaches first, then x verifies y's token slowly
    const inner = sharedSecretAuth("s");
    const slowAuth: ClusterAuth = {
      token: (remote, local, challenge) => inner.token(remote, local, challenge),
      verify: async (token, remote, local, challenge) => {
        await new Promise((resolve) => setTimeout(resolve, 50));
        return inner.verify(token, remote, local, challenge);
      },
    };
    const c = await cluster({ nodes: [x, y], auth: slowAuth, waitConnected: false });
    const [mx, my] = [c.manager(x), c.manager(y)];
    mx.registerSingle(1, (p) => encoder.encode(`x got ${text(p)}`));
    let early: Promise<Uint8Array> | undefined;
    let xStateWhenSent: string | undefined;
    my.onStateChange((_peer, state) => {
      if (state === "connected" && early === undefined) {
        xStateWhenSent = mx.connection(y).state;
        early = my.connection(x).request(1, encoder.encode("early"), { timeoutMs: 2000 });
      }
    });
    await until(() => early !== undefined);
    expect(xStateWhenSent).not.toBe("connected"); // really sent before x attached
    expect(text(await early!)).toBe("x got early");
  });
});

describe("observability", () => {
  it("reports state changes, per-connection stats and one trace record per call", async () => {
    const [x, y] = dialPair();
    const traces: CallTrace[] = [];
    const states: string[] = [];
    const c = await cluster({
      nodes: [x, y],
      waitConnected: false,
      managerFor: (name) => (name === x ? { trace: (r: CallTrace) => traces.push(r) } : {}),
      setup: ({ manager, name }) => {
        if (name === x) manager.onStateChange((peer, state, previous) => states.push(`${peer === y ? "y" : "?"}:${previous}->${state}`));
        if (name === y) {
          manager.registerSingle(1, (p) => p);
          manager.registerSingle(3, () => {
            throw new Error("nope");
          });
        }
      },
    });
    const conn = c.manager(x).connection(y);
    await conn.waitConnected();
    for (let i = 0; i < 5; i++) await conn.request(1, new Uint8Array(100));
    await expect(conn.request(3, new Uint8Array(10))).rejects.toBeInstanceOf(RemoteError);

    const stats = conn.stats;
    expect(stats.callsOut).toBe(6);
    expect(stats.callsIn).toBe(0);
    expect(stats.inFlight).toBe(0);
    expect(stats.reconnects).toBe(0);
    expect(stats.bytesOut).toBeGreaterThan(510);
    expect(stats.bytesIn).toBeGreaterThan(500);
    expect(stats.framesOut).toBeGreaterThanOrEqual(6);
    expect(stats.messagesIn).toBeGreaterThanOrEqual(6);
    expect(c.manager(y).connection(x).stats.callsIn).toBe(6);

    const outs = traces.filter((t) => t.direction === "out");
    expect(outs).toHaveLength(6);
    expect(outs[0]).toMatchObject({ handler: 1, peer: y, kind: "single", bytesOut: 100, bytesIn: 100, subroute: undefined });
    expect(outs[0]!.error).toBeUndefined();
    expect(outs[0]!.durationMs).toBeGreaterThanOrEqual(0);
    expect(outs[5]).toMatchObject({ handler: 3, peer: y });
    expect(outs[5]!.error).toBeInstanceOf(RemoteError);

    await c.kill(y);
    await until(() => conn.state !== "connected");
    c.restart(y);
    await conn.waitConnected();
    expect(conn.stats.reconnects).toBe(1);
    expect(states[0]).toBe("y:disconnected->connecting");
    expect(states[1]).toBe("y:connecting->connected");
    expect(states).toContain("y:connected->disconnected");
    expect(states.at(-1)).toBe("y:connecting->connected");
  });
});
