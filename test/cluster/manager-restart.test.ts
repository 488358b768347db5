/**
 * Peers that go away and come back: a polite restart in-process, and a peer in a child
 * process killed with SIGKILL. In-flight calls fail at once with DisconnectedError, the
 * connection comes back by itself, and calls after it succeed.
 */
import { afterEach, describe, expect, it } from "vitest";
import { Manager } from "../../runtime/cluster/manager.js";
import { shouldDial } from "../../runtime/cluster/who-dials.js";
import { DisconnectedError } from "../../runtime/errors.js";
import { silentLogger } from "../../runtime/logger.js";
import { runFixture, type Child } from "./child.js";
import { freePorts, until } from "./helpers.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const PING_INTERVAL_MS = 100;
const PING_TIMEOUT_MS = 500;
const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((fn) => fn()));
});

function newManager(local: string, hosts: string[]): Manager {
  const manager = new Manager({
    local,
    hosts,
    logger: silentLogger,
    pingIntervalMs: PING_INTERVAL_MS,
    pingTimeoutMs: PING_TIMEOUT_MS,
    reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
  });
  manager.registerSingle(1, (payload) => encoder.encode(`${local}:${decoder.decode(payload)}`));
  manager.registerSingle(2, () => new Promise<Uint8Array>(() => {}));
  cleanups.push(() => manager.close());
  return manager;
}

/**
 * Three addresses arranged so that the restarted server B dials one survivor and is dialled
 * by the other: both reconnect paths (redial with backoff, and accepting a new instance)
 * are exercised.
 */
async function arrange(): Promise<{ a: string; b: string; c: string; hosts: string[] }> {
  for (;;) {
    const hosts = (await freePorts(3)).map((p) => `ws://127.0.0.1:${p}/grid`);
    for (const b of hosts) {
      const [a, c] = hosts.filter((h) => h !== b) as [string, string];
      if (shouldDial(a, b) && shouldDial(b, c)) return { a, b, c, hosts };
    }
  }
}

async function failsWithin(call: Promise<unknown>, ms: number): Promise<number> {
  const start = performance.now();
  const err = await call.then(
    () => new Error("call succeeded"),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DisconnectedError);
  const elapsed = performance.now() - start;
  expect(elapsed).toBeLessThan(ms);
  return elapsed;
}

describe("a restarted peer", () => {
  it("is reconnected after a polite close and a new Manager on the same address", async () => {
    const { a, b, c, hosts } = await arrange();
    const ma = newManager(a, hosts);
    const mc = newManager(c, hosts);
    let mb = newManager(b, hosts);
    await Promise.all([ma.listen(), mb.listen(), mc.listen()]);
    await Promise.all([ma.connection(b).waitConnected(), mc.connection(b).waitConnected()]);
    const firstInstance = ma.connection(b).peerInstanceId;
    expect(firstInstance).toBe(mb.instanceId);

    const inflight = [ma.connection(b).request(2, new Uint8Array()), mc.connection(b).request(2, new Uint8Array())];
    const closing = mb.close();
    await Promise.all(inflight.map((call) => failsWithin(call, PING_TIMEOUT_MS)));
    await closing;
    // Not connected: calls fail fast instead of waiting.
    await expect(ma.connection(b).request(1, new Uint8Array())).rejects.toBeInstanceOf(DisconnectedError);

    mb = newManager(b, hosts);
    await mb.listen();
    for (const [m, via] of [
      [ma, "A redials B"],
      [mc, "B dials C"],
    ] as const) {
      await until(() => m.connection(b).peerInstanceId === mb.instanceId, 5000, via);
      const reply = decoder.decode(await m.connection(b).request(1, encoder.encode("again")));
      expect(reply).toBe(`${b}:again`);
      expect(m.connection(b).stats.reconnects).toBe(1);
    }
    expect(decoder.decode(await mb.connection(a).request(1, encoder.encode("x")))).toBe(`${a}:x`);
  });

  it("killed with SIGKILL in a child process: in-flight calls fail within the ping limit, then it is reconnected", async () => {
    const { a, b, c, hosts } = await arrange();
    const ma = newManager(a, hosts);
    const mc = newManager(c, hosts);
    await Promise.all([ma.listen(), mc.listen()]);
    const config = { local: b, hosts, pingIntervalMs: PING_INTERVAL_MS, pingTimeoutMs: PING_TIMEOUT_MS };
    const spawnPeer = async (): Promise<{ child: Child; instanceId: string }> => {
      const child = runFixture("peer.ts", config);
      cleanups.push(() => {
        child.process.kill("SIGKILL");
      });
      const ready = await child.waitFor("ready ");
      return { child, instanceId: ready.slice("ready ".length) };
    };

    const first = await spawnPeer();
    for (const m of [ma, mc]) {
      await until(() => m.connection(b).peerInstanceId === first.instanceId, 10_000, "first connection");
      expect(decoder.decode(await m.connection(b).request(1, encoder.encode("hi")))).toBe(`${b}:hi`);
    }

    const inflight = [ma.connection(b).request(2, new Uint8Array()), mc.connection(b).request(2, new Uint8Array())];
    await new Promise((resolve) => setTimeout(resolve, 50)); // the calls reach the child
    first.child.process.kill("SIGKILL");
    await Promise.all(inflight.map((call) => failsWithin(call, PING_TIMEOUT_MS + 2 * PING_INTERVAL_MS)));
    expect(await first.child.exited).toBe("SIGKILL");

    const second = await spawnPeer();
    expect(second.instanceId).not.toBe(first.instanceId);
    for (const m of [ma, mc]) {
      await until(() => m.connection(b).peerInstanceId === second.instanceId, 10_000, "reconnection");
      expect(decoder.decode(await m.connection(b).request(1, encoder.encode("back")))).toBe(`${b}:back`);
      expect(m.connection(b).state).toBe("connected");
    }
  });

  it("frozen with SIGSTOP (a real half-open TCP link): pings fail in-flight calls within the ping limit", async () => {
    const { a, b, c, hosts } = await arrange();
    const ma = newManager(a, hosts);
    const mc = newManager(c, hosts);
    await Promise.all([ma.listen(), mc.listen()]);
    const child = runFixture("peer.ts", { local: b, hosts, pingIntervalMs: PING_INTERVAL_MS, pingTimeoutMs: PING_TIMEOUT_MS });
    cleanups.push(() => {
      child.process.kill("SIGKILL");
    });
    const instanceId = (await child.waitFor("ready ")).slice("ready ".length);
    for (const m of [ma, mc]) await until(() => m.connection(b).peerInstanceId === instanceId, 10_000, "connected");
    const outcomes = [ma.connection(b).request(2, new Uint8Array()), mc.connection(b).request(2, new Uint8Array())].map(
      (call) => call.then(() => undefined, (err: unknown) => err),
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    const start = performance.now();
    child.process.kill("SIGSTOP"); // sockets stay open, nothing answers
    for (const err of await Promise.all(outcomes)) expect(err).toBeInstanceOf(DisconnectedError);
    const elapsed = performance.now() - start;
    // Not before the peer fell silent for the limit; and not much after it.
    expect(elapsed).toBeGreaterThanOrEqual(PING_TIMEOUT_MS - 2 * PING_INTERVAL_MS);
    expect(elapsed).toBeLessThan(PING_TIMEOUT_MS + 1000);
    child.process.kill("SIGKILL");
  });
});
