/**
 * tsgrid/testing's fault controls, each against what a real network would do to real
 * Managers: what the peers see, how soon (in simulated ms), and how the cluster repairs.
 */
import { afterEach, describe, expect, it } from "vitest";
import { DisconnectedError, type Connection } from "tsgrid";
import { shouldDial } from "tsgrid";
import { createTestCluster, type TestCluster, type TestClusterOptions } from "tsgrid/testing";

const enc = new TextEncoder();
const dec = new TextDecoder();
let cluster: TestCluster | undefined;
afterEach(async () => {
  await cluster?.close();
  cluster = undefined;
});

/** Timings of every test here: ping every 100 ms, dead after 500 ms without a frame. */
const TIMING = { pingIntervalMs: 100, pingTimeoutMs: 500, reconnect: { initialDelayMs: 20, maxDelayMs: 200 } };

async function start(options: TestClusterOptions = {}): Promise<TestCluster> {
  cluster = await createTestCluster({
    nodes: 3,
    seed: 7,
    manager: TIMING,
    setup: (node) => {
      node.manager.registerSingle(1, (p, ctx) => enc.encode(`${node.name} ${node.manager.instanceId} <- ${ctx.caller}: ${dec.decode(p)}`));
      node.manager.registerSingle(2, () => new Promise<Uint8Array>(() => {})); // never answers
    },
    ...options,
  });
  return cluster;
}

/** Whether node 0 dials node 1. */
const shouldDialFirst = (c: TestCluster): boolean => shouldDial(c.nodes[0]!.name, c.nodes[1]!.name);
const conn = (c: TestCluster, from: number, to: number): Connection => c.manager(from).connection(c.nodes[to]!.name);
const call = (c: TestCluster, from: number, to: number, timeoutMs = 2_000): Promise<string> =>
  conn(c, from, to).request(1, enc.encode("hi"), { timeoutMs }).then((b) => dec.decode(b));
/** Settles to the value or the error, so two outcomes can be awaited without an unhandled rejection. */
const outcome = <T>(p: Promise<T>): Promise<T | Error> => p.then((v) => v, (e: Error) => e);

/** Simulated ms until `cond` holds (polled every ms), or throws after `limitMs`. */
async function timeUntil(c: TestCluster, cond: () => boolean, limitMs = 10_000): Promise<number> {
  const t0 = c.now();
  while (!cond()) {
    if (c.now() - t0 > limitMs) throw new Error(`not within ${limitMs} simulated ms`);
    await c.sleep(1);
  }
  return c.now() - t0;
}

describe("createTestCluster", () => {
  it("starts N real Managers, connected pairwise with the handshake and auth, serving registered handlers", async () => {
    const c = await start();
    expect(c.disconnectedPairs()).toEqual([]);
    for (let a = 0; a < 3; a++) {
      for (let b = 0; b < 3; b++) {
        if (a === b) continue;
        expect(await call(c, a, b)).toBe(`${c.nodes[b]!.name} ${c.nodes[b]!.instanceId} <- ${c.nodes[a]!.name}: hi`);
      }
    }
    // One link per pair, dialled by the side shouldDial names.
    expect(c.network.openLinks()).toHaveLength(3);
  });

  it("refuses a second virtual-time cluster while one runs, and restores the real timers on close", async () => {
    const realSetTimeout = globalThis.setTimeout;
    const c = await start();
    expect(globalThis.setTimeout).not.toBe(realSetTimeout);
    await expect(createTestCluster({ nodes: 2 })).rejects.toThrow(/running already/);
    await c.close();
    cluster = undefined;
    expect(globalThis.setTimeout).toBe(realSetTimeout);
  });
});

describe("fault controls", () => {
  it("partition: both sides lose each other after the ping timeout, the majority keeps working, heal reconnects", async () => {
    const c = await start();
    const cut = c.partition([0], [1, 2]);
    const lost = await timeUntil(c, () => conn(c, 0, 1).state !== "connected" && conn(c, 1, 0).state !== "connected");
    expect(lost).toBeGreaterThanOrEqual(TIMING.pingTimeoutMs);
    expect(lost).toBeLessThanOrEqual(TIMING.pingTimeoutMs + 2 * TIMING.pingIntervalMs);
    expect(await call(c, 1, 2)).toContain("<- ws://node-2/grid");
    // Dials across the partition hang (SYNs are lost) and time out; nothing connects.
    await c.sleep(3_000);
    expect(conn(c, 0, 2).state).not.toBe("connected");
    cut.revert();
    const back = await timeUntil(c, () => c.disconnectedPairs().length === 0);
    expect(back).toBeLessThanOrEqual(TIMING.reconnect.maxDelayMs + 50);
    expect(await call(c, 0, 1)).toContain("<- ws://node-1/grid");
  });

  it("partition shorter than the ping timeout: what was sent waits and arrives after the heal, like TCP", async () => {
    const c = await start();
    const cut = c.partition([0], [1]);
    const answer = call(c, 0, 1, 2_000);
    await c.sleep(300);
    cut.revert();
    const t0 = c.now();
    expect(await answer).toContain("hi");
    expect(c.now() - t0).toBeLessThan(10);
    expect(conn(c, 0, 1).stats.reconnects).toBe(0);
  });

  it("one-way partition: the link dies (pings need both ways) and stays down until healed", async () => {
    const c = await start();
    const cut = c.partitionOneWay([0], [1]);
    await timeUntil(c, () => conn(c, 0, 1).state !== "connected" && conn(c, 1, 0).state !== "connected");
    await c.sleep(2_000);
    expect(conn(c, 1, 0).state).not.toBe("connected");
    expect(await call(c, 0, 2)).toContain("hi");
    cut.revert();
    await timeUntil(c, () => c.disconnectedPairs().length === 0, 1_000);
  });

  it("dropLink: both ends see the close at once, in-flight calls fail, and the dialler reconnects", async () => {
    const c = await start();
    const pending = outcome(conn(c, 0, 1).request(2, new Uint8Array(), { timeoutMs: 5_000 }));
    await c.sleep(5);
    const t0 = c.now();
    expect(c.dropLink(0, 1)).toBe(1);
    expect(await pending).toBeInstanceOf(DisconnectedError);
    expect(c.now() - t0).toBeLessThan(5);
    await timeUntil(c, () => c.disconnectedPairs().length === 0, 1_000);
    expect(conn(c, 0, 1).stats.reconnects + conn(c, 1, 0).stats.reconnects).toBeGreaterThanOrEqual(1);
  });

  it("blackholeLink: nobody is told; pings find out within their limit; then a new link", async () => {
    const c = await start();
    const pending = outcome(conn(c, 1, 0).request(2, new Uint8Array(), { timeoutMs: 5_000 }));
    await c.sleep(5);
    const t0 = c.now();
    c.blackholeLink(0, 1);
    expect(await pending).toBeInstanceOf(DisconnectedError);
    const took = c.now() - t0;
    expect(took).toBeGreaterThanOrEqual(TIMING.pingTimeoutMs);
    expect(took).toBeLessThanOrEqual(TIMING.pingTimeoutMs + 2 * TIMING.pingIntervalMs);
    await timeUntil(c, () => c.disconnectedPairs().length === 0, 1_000);
    expect(await call(c, 1, 0)).toContain("hi");
  });

  it("shapeLink: a call takes the round trip of the delay; jitter keeps order; a bandwidth limit paces bytes", async () => {
    const c = await start();
    const slow = c.shapeLink(0, 1, { delayMs: 40 });
    let t0 = c.now();
    await call(c, 0, 1);
    expect(c.now() - t0).toBeGreaterThanOrEqual(80);
    expect(c.now() - t0).toBeLessThan(90);
    slow.revert();
    const jitter = c.shapeLink(0, 1, { delayMs: 5, jitterMs: 50 });
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => conn(c, 0, 1).request(1, enc.encode(String(i)))));
    expect(answers.map((a) => dec.decode(a).split(": ")[1])).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
    jitter.revert();
    const narrow = c.shapeLink(0, 1, { bandwidthBytesPerSec: 100_000 }, { oneWay: true });
    t0 = c.now();
    await conn(c, 0, 1).request(1, new Uint8Array(30_000), { timeoutMs: 10_000 });
    const took = c.now() - t0;
    expect(took).toBeGreaterThanOrEqual(300);
    expect(took).toBeLessThan(400);
    // 200 KB at 100 KB/s holds the pings behind it for 2 s: longer than the ping timeout,
    // so the link is declared dead, as it would be on a real saturated link.
    const big = outcome(conn(c, 0, 1).request(1, new Uint8Array(200_000), { timeoutMs: 10_000 }));
    expect(await big).toBeInstanceOf(DisconnectedError);
    narrow.revert();
    await timeUntil(c, () => c.disconnectedPairs().length === 0, 3_000);
  });

  it("stall: a frozen node answers nothing until resumed, then everything flows; a long stall costs the links", async () => {
    const c = await start();
    const frozen = c.stall(1);
    const answer = call(c, 0, 1, 2_000);
    await c.sleep(300);
    let done = false;
    void answer.then(() => (done = true));
    await c.sleep(1);
    expect(done).toBe(false);
    frozen.revert();
    expect(await answer).toContain("hi");
    expect(conn(c, 0, 1).stats.reconnects).toBe(0);
    const long = c.stall(1);
    await timeUntil(c, () => conn(c, 0, 1).state !== "connected" && conn(c, 2, 1).state !== "connected");
    long.revert();
    await timeUntil(c, () => c.disconnectedPairs().length === 0, 2_000);
  });

  it("kill (crash): peers see it at once, calls fail, dials are refused; restart is a new instance with setup run again", async () => {
    const c = await start();
    const before = c.nodes[1]!.instanceId;
    const pending = outcome(conn(c, 0, 1).request(2, new Uint8Array(), { timeoutMs: 5_000 }));
    await c.sleep(5);
    const t0 = c.now();
    await c.kill(1);
    expect(c.nodes[1]!.state).toBe("crashed");
    expect(() => c.nodes[1]!.manager).toThrow(/down/);
    expect(await pending).toBeInstanceOf(DisconnectedError);
    expect(c.now() - t0).toBeLessThan(5);
    await expect(call(c, 0, 1)).rejects.toBeInstanceOf(DisconnectedError);
    await c.sleep(1_000);
    expect(conn(c, 0, 1).state).not.toBe("connected");
    c.restart(1);
    await timeUntil(c, () => c.disconnectedPairs().length === 0, 1_000);
    expect(c.nodes[1]!.instanceId).not.toBe(before);
    expect(c.nodes[1]!.restarts).toBe(1);
    expect(conn(c, 0, 1).peerInstanceId).toBe(c.nodes[1]!.instanceId);
    expect(await call(c, 0, 1)).toContain(c.nodes[1]!.instanceId); // served by the new instance's handler
  });

  it("kill (power-off): peers hear nothing until their pings time out; the restarted node is seen as new", async () => {
    const c = await start();
    await c.kill(2, { how: "power-off" });
    expect(c.nodes[2]!.state).toBe("off");
    const lost = await timeUntil(c, () => conn(c, 0, 2).state !== "connected");
    expect(lost).toBeGreaterThanOrEqual(TIMING.pingTimeoutMs - TIMING.pingIntervalMs);
    c.restart(2);
    await timeUntil(c, () => c.disconnectedPairs().length === 0, 2_000);
    expect(conn(c, 0, 2).peerInstanceId).toBe(c.nodes[2]!.instanceId);
  });

  it("stall: a dial to a frozen node is accepted by its kernel and served when it resumes, without a redial", async () => {
    const c = await start({ nodes: 2, manager: { ...TIMING, dialTimeoutMs: 5_000 } });
    const [dialer, listener] = shouldDialFirst(c) ? [0, 1] : [1, 0];
    c.dropLink(0, 1);
    const frozen = c.stall(listener);
    await c.sleep(300); // the redial happened meanwhile, into the frozen node
    expect(conn(c, dialer, listener).state).toBe("connecting");
    const opened = c.network.linksOpened;
    frozen.revert();
    await timeUntil(c, () => c.disconnectedPairs().length === 0, 100);
    expect(c.network.linksOpened).toBe(opened); // the same stream, handshaked once the node woke
  });

  it("a crash behind a partition: the peer hears the reset only when the partition heals", async () => {
    const c = await start({ manager: { ...TIMING, pingTimeoutMs: 10_000 } });
    const cut = c.partition([1], [0, 2]);
    await c.kill(1);
    await c.sleep(1_000);
    expect(conn(c, 0, 1).state).toBe("connected"); // nothing got through, not even the reset
    cut.revert();
    await timeUntil(c, () => conn(c, 0, 1).state !== "connected", 50);
  });

  it("logs every fault with its time, and the report names the seed and how to replay it", async () => {
    const c = await start();
    await c.sleep(10);
    c.partition([0]).revert();
    c.dropLink(1, 2);
    await c.kill(2);
    c.restart(2);
    expect(c.faultLog.map((e) => e.action)).toEqual(["partition", "end partition", "drop-link", "crash", "restart"]);
    const report = c.report();
    expect(report).toContain("seed 7");
    expect(report).toContain("TSGRID_SEED=7");
    expect(report).toMatch(/\+\d+ms\s+partition\s+\{node-1\} \| \{node-2,node-3\}/);
  });
});

describe("real time", () => {
  it("runs the same cluster on the process's own timers", async () => {
    const c = await start({ time: "real", nodes: 2 });
    expect(c.clock.mode).toBe("real");
    expect(await call(c, 0, 1)).toContain("hi");
    const t0 = performance.now();
    c.dropLink(0, 1);
    while (conn(c, 0, 1).state === "connected") await c.sleep(1);
    await c.waitConnected({ timeoutMs: 2_000 });
    expect(performance.now() - t0).toBeLessThan(2_000);
    expect(await call(c, 1, 0)).toContain("hi");
  });
});
