/**
 * Review: the own http server of `listen()` bounds a raw connection that never sends its
 * upgrade by `handshakeTimeoutMs` too (it used Node's defaults: 60 s for the headers,
 * checked every 30 s), so idle unauthenticated sockets cannot pile up.
 */
import { connect } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { Manager } from "../../runtime/cluster/manager.js";
import { silentLogger } from "../../runtime/logger.js";
import { freePorts } from "./helpers.js";

const managers: Manager[] = [];
afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.close()));
});

/** Milliseconds until the server closes a raw TCP connection that sends `bytes` (or nothing). */
function closedAfter(port: number, bytes: string, limitMs: number): Promise<number> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const socket = connect(port, "127.0.0.1", () => {
      if (bytes !== "") socket.write(bytes);
    });
    socket.on("error", () => {});
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(Number.POSITIVE_INFINITY);
    }, limitMs);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(Date.now() - t0);
    });
    socket.resume();
  });
}

describe("listen(): connections that never upgrade", () => {
  it("are closed within about handshakeTimeoutMs, silent or with partial headers", async () => {
    const [p1, p2] = (await freePorts(2)) as [number, number];
    const local = `ws://127.0.0.1:${p1}/grid`;
    const m = new Manager({ local, hosts: [local, `ws://127.0.0.1:${p2}/grid`], logger: silentLogger, handshakeTimeoutMs: 300 });
    managers.push(m);
    await m.listen();
    const [silent, partial] = await Promise.all([
      closedAfter(p1, "", 10_000),
      closedAfter(p1, "GET /grid HTTP/1.1\r\nHost: x\r\n", 10_000),
    ]);
    // Node's defaults: 60 s for the headers, checked every 30 s. Slack for a loaded machine.
    expect(silent).toBeLessThan(6000);
    expect(partial).toBeLessThan(6000);
  });
});

describe("listen(): links that did upgrade", () => {
  it("outlive handshakeTimeoutMs (the http server's bounds stop at the upgrade)", async () => {
    const [p1, p2] = (await freePorts(2)) as [number, number];
    const x = `ws://127.0.0.1:${p1}/grid`;
    const y = `ws://127.0.0.1:${p2}/grid`;
    const opts = { hosts: [x, y], logger: silentLogger, handshakeTimeoutMs: 200 };
    const mx = new Manager({ local: x, ...opts });
    const my = new Manager({ local: y, ...opts });
    managers.push(mx, my);
    my.registerSingle(1, (p) => p);
    await Promise.all([mx.listen(), my.listen()]);
    await mx.connection(y).waitConnected({ signal: AbortSignal.timeout(4000) });
    await new Promise((r) => setTimeout(r, 1200));
    expect([...(await mx.connection(y).request(1, new Uint8Array([1, 2])))]).toEqual([1, 2]);
    expect(mx.connection(y).stats.reconnects).toBe(0);
    expect(my.connection(x).stats.reconnects).toBe(0);
  });
});
