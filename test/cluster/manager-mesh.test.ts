/**
 * Several Managers on 127.0.0.1, each with its own port: every pair ends up with exactly one
 * socket, calls work in every direction, whatever order the servers start in.
 */
import { createServer, type Server } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { Manager } from "../../runtime/cluster/manager.js";
import { shouldDial } from "../../runtime/cluster/who-dials.js";
import { silentLogger } from "../../runtime/logger.js";
import type { ConnDialer } from "../../runtime/transport/dialer.js";
import { tcpDialer } from "../../runtime/transport/dialer.js";
import { connectWS } from "../../runtime/transport/connect-ws.js";
import { freePorts } from "./helpers.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((fn) => fn()));
});

function newManager(local: string, hosts: string[], dialer?: ConnDialer): Manager {
  const manager = new Manager({
    local,
    hosts,
    logger: silentLogger,
    reconnect: { initialDelayMs: 10, maxDelayMs: 100 },
    ...(dialer === undefined ? {} : { dialer }),
  });
  manager.registerSingle(1, (payload, ctx) => encoder.encode(`${local}<-${ctx.caller}:${decoder.decode(payload)}`));
  cleanups.push(() => manager.close());
  return manager;
}

/** The user's own http server, handing upgrades to the Manager and counting them. */
async function userServer(manager: Manager, port: number, counts: { upgrades: number; connections: number }): Promise<Server> {
  const server = createServer((_req, res) => res.end("app"));
  server.on("connection", () => counts.connections++);
  server.on("upgrade", (req, socket, head) => {
    counts.upgrades++;
    manager.handleUpgrade(req, socket, head);
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  return server;
}

async function callEveryDirection(managers: Manager[]): Promise<void> {
  await Promise.all(
    managers.flatMap((m) =>
      m.peers.map(async (peer) => {
        const conn = m.connection(peer);
        await conn.waitConnected();
        const reply = decoder.decode(await conn.request(1, encoder.encode("ping")));
        expect(reply).toBe(`${peer}<-${m.local}:ping`);
      }),
    ),
  );
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe("a cluster of Managers", () => {
  const orders: [string, (n: number) => number[]][] = [
    ["in order", (n) => [...Array(n).keys()]],
    ["in reverse", (n) => [...Array(n).keys()].reverse()],
    ["interleaved", (n) => [...Array(n).keys()].sort((a, b) => (a % 2) - (b % 2) || a - b)],
  ];

  for (const [name, order] of orders) {
    it(`has one socket per pair and calls in every direction, starting ${name} with delays`, async () => {
      const n = 4;
      const ports = await freePorts(n);
      const hosts = ports.map((p) => `ws://127.0.0.1:${p}/grid`);
      const counts = hosts.map(() => ({ upgrades: 0, connections: 0 }));
      const managers: Manager[] = [];
      for (const i of order(n)) {
        // Created first, listening a little later: peers dialling it meanwhile are refused
        // (ECONNREFUSED) and must retry with backoff.
        const manager = newManager(hosts[i]!, hosts);
        managers.push(manager);
        await sleep(30);
        await userServer(manager, ports[i]!, counts[i]!);
      }
      await callEveryDirection(managers);
      await sleep(150); // a stray second dial would show up by now
      const pairs = (n * (n - 1)) / 2;
      expect(counts.reduce((sum, c) => sum + c.upgrades, 0)).toBe(pairs);
      expect(counts.reduce((sum, c) => sum + c.connections, 0)).toBe(pairs);
      // Each server received exactly the upgrades of the peers that dial it.
      hosts.forEach((host, i) => {
        expect(counts[i]!.upgrades).toBe(hosts.filter((other) => other !== host && shouldDial(other, host)).length);
      });
      for (const m of managers) {
        for (const peer of m.peers) {
          expect(m.connection(peer).state).toBe("connected");
          expect(m.connection(peer).stats.reconnects).toBe(0);
        }
      }
    });
  }

  it("listen() serves on local's port and path; other paths get 404, plain requests 426", async () => {
    const ports = await freePorts(3);
    const hosts = ports.map((p) => `ws://127.0.0.1:${p}/grid`);
    let dials = 0;
    const countingDialer: ConnDialer = (address, signal) => {
      dials++;
      return tcpDialer(address, signal);
    };
    const managers = hosts.map((h) => newManager(h, hosts, countingDialer));
    await Promise.all(managers.map((m) => m.listen()));
    await callEveryDirection(managers);
    expect(dials).toBe(3);
    const plain = await fetch(`http://127.0.0.1:${ports[0]}/grid`);
    expect(plain.status).toBe(426);
    const wrongPath = await connectWS(`ws://127.0.0.1:${ports[0]}/other`).catch((e: unknown) => e);
    expect(String(wrongPath)).toContain("404");
    await expect(managers[0]!.listen()).rejects.toThrow("already listening");
  });

  it("listen() can be retried after EADDRINUSE; wss:// needs tls; pending handshakes are bounded", async () => {
    const ports = await freePorts(2);
    const hosts = ports.map((p) => `ws://127.0.0.1:${p}/grid`);
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(ports[0], "127.0.0.1", resolve));
    const m = new Manager({ local: hosts[0]!, hosts, logger: silentLogger, maxPendingHandshakes: 1 });
    cleanups.push(() => m.close());
    await expect(m.listen()).rejects.toThrow("EADDRINUSE");
    await new Promise((resolve) => blocker.close(resolve));
    await m.listen();
    // One upgraded socket that never sends its Connect holds the only handshake slot...
    const idle = await connectWS(hosts[0]!);
    cleanups.push(async () => idle.terminate());
    await new Promise((resolve) => setTimeout(resolve, 20));
    // ...so the next upgrade is refused with 503.
    await expect(connectWS(hosts[0]!)).rejects.toThrow("503");
    const secure = new Manager({ local: "wss://127.0.0.1:1/grid", hosts: [], logger: silentLogger });
    cleanups.push(() => secure.close());
    await expect(secure.listen()).rejects.toThrow("tls");
  });

  it("connection() returns the same object for its whole life and refuses unknown hosts", async () => {
    const ports = await freePorts(2);
    const hosts = ports.map((p) => `ws://127.0.0.1:${p}/grid`);
    const m = newManager(hosts[0]!, hosts);
    expect(m.connection(hosts[1]!)).toBe(m.connection(hosts[1]!));
    expect(m.peers).toEqual([hosts[1]]);
    expect(() => m.connection(hosts[0]!)).toThrow(RangeError);
    expect(() => m.connection("ws://127.0.0.1:1/grid")).toThrow(RangeError);
    expect(() => new Manager({ local: "http://x/grid", hosts: [] })).toThrow(RangeError);
    expect(() => new Manager({ local: hosts[0]!, hosts: ["nope"] })).toThrow(RangeError);
  });
});
