/**
 * Connection set-up never fails silently: a Manager that never accepts, addresses spelled
 * differently, and every reason `waitConnected` gives up for (refused handshake, unknown host,
 * refused dial, timeout) are named, on both sides where both can know.
 */
import type { Duplex } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { Manager, type ManagerOptions } from "../../runtime/cluster/manager.js";
import { canonicalAddress } from "../../runtime/cluster/address.js";
import { shouldDial } from "../../runtime/cluster/who-dials.js";
import { AbortError, DisconnectedError, ErrorCode, GridError } from "../../runtime/errors.js";
import { sharedSecretAuth } from "../../runtime/auth/shared-secret.js";
import type { Logger } from "../../runtime/types.js";
import { freePorts } from "../cluster/helpers.js";

interface Line {
  level: string;
  message: string;
  fields: Record<string, unknown> | undefined;
}

function recorder(): { logger: Logger; lines: Line[] } {
  const lines: Line[] = [];
  const at =
    (level: string) =>
    (message: string, fields?: Record<string, unknown>): void =>
      void lines.push({ level, message, fields });
  return { lines, logger: { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") } };
}

const addr = (port: number, path = "/grid"): string => `ws://127.0.0.1:${port}${path}`;

/** Two free ports [a, b] such that `a`'s Manager dials `b`'s (or not), as named by their addresses. */
async function portPair(aDials: boolean, nameOfB: (port: number) => string = addr, bDials?: boolean): Promise<[number, number]> {
  for (let round = 0; round < 20; round++) {
    const ports = await freePorts(8);
    for (const a of ports) {
      for (const b of ports) {
        if (a === b) continue;
        if (shouldDial(addr(a), nameOfB(b)) !== aDials) continue;
        if (bDials !== undefined && shouldDial(addr(b), addr(a)) !== bDials) continue;
        return [a, b];
      }
    }
  }
  throw new Error("no port pair found");
}

const managers: Manager[] = [];
function manager(options: ManagerOptions): Manager {
  const m = new Manager({ reconnect: { initialDelayMs: 20, maxDelayMs: 200 }, ...options });
  managers.push(m);
  return m;
}
afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.close()));
});

async function until(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function rejection(p: Promise<unknown>): Promise<GridError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GridError);
  return err as GridError;
}

describe("a Manager that only calls and never listens", () => {
  it("waiting for a peer that must dial it: a warning at once, and an error naming the fix", async () => {
    // `a` never listens, and `b` is the side that dials the pair: a can never connect.
    const [a, b] = await portPair(false);
    const hosts = [addr(a), addr(b)];
    const rb = recorder();
    const ra = recorder();
    const server = manager({ local: addr(b), hosts, logger: rb.logger });
    await server.listen();
    const caller = manager({ local: addr(a), hosts, logger: ra.logger });
    const conn = caller.connection(addr(b));
    const wait = rejection(conn.waitConnected({ signal: AbortSignal.timeout(600) }));
    await until(() => ra.lines.some((l) => l.message === "waiting for a peer that cannot connect"), 500);
    const warning = ra.lines.find((l) => l.message === "waiting for a peer that cannot connect")!;
    expect(warning.level).toBe("warn");
    expect(String(warning.fields?.["reason"])).toContain(`${addr(b)} is the side that dials this pair of servers`);
    expect(String(warning.fields?.["reason"])).toContain(`but ${addr(a)} is not accepting connections: call listen()`);

    // A call says the same, at once.
    const call = await rejection(conn.request(1, new Uint8Array(1)));
    expect(call).toBeInstanceOf(DisconnectedError);
    expect(call.message).toMatch(new RegExp(`^\\[disconnected\\] not connected to ${addr(b)}: ${addr(b)} is the side that dials`));
    expect(call.message).toContain("call listen()");

    const err = await wait;
    expect(err).toBeInstanceOf(AbortError);
    expect(err.message).toContain(`gave up waiting for ${addr(b)} (timed out): ${addr(b)} is the side that dials`);
  });

  it("the same Manager connects once it listens", async () => {
    const [a, b] = await portPair(false);
    const hosts = [addr(a), addr(b)];
    const server = manager({ local: addr(b), hosts, logger: recorder().logger });
    await server.listen();
    const caller = manager({ local: addr(a), hosts, logger: recorder().logger });
    const waiting = caller.connection(addr(b)).waitConnected({ signal: AbortSignal.timeout(5000) });
    await caller.listen();
    await waiting;
  });
});

describe("addresses spelled differently on two nodes", () => {
  it("canonical form: trailing slash, default port, host and scheme case", () => {
    expect(canonicalAddress("ws://127.0.0.1:9201/grid/")).toBe("ws://127.0.0.1:9201/grid");
    expect(canonicalAddress("WS://LocalHost:80/grid")).toBe("ws://localhost/grid");
    expect(canonicalAddress("wss://Example.COM:443/")).toBe("wss://example.com");
    expect(canonicalAddress("ws://[::1]:9/x//")).toBe("ws://[::1]:9/x");
    expect(() => canonicalAddress("http://h/grid")).toThrow(RangeError);
  });

  for (const slashOn of ["dialler", "listener"] as const) {
    it(`a trailing slash on the ${slashOn}'s list connects (both directions of dialling)`, async () => {
      for (const aDials of [true, false]) {
        const [a, b] = await portPair(aDials);
        const slashed = (p: number): string => `${addr(p)}/`;
        // The dialler's list spells the other's address with a trailing slash (or the
        // listener's does), and one side its own with a capital scheme.
        const onA = slashOn === "dialler" ? aDials : !aDials;
        const ma = manager({ local: `WS://127.0.0.1:${a}/grid`, hosts: [onA ? slashed(b) : addr(b)], logger: recorder().logger });
        const mb = manager({ local: addr(b), hosts: [onA ? addr(a) : slashed(a), addr(b)], logger: recorder().logger });
        await Promise.all([ma.listen(), mb.listen()]);
        await ma.waitConnected({ signal: AbortSignal.timeout(5000) });
        await mb.waitConnected({ signal: AbortSignal.timeout(5000) });
        expect(ma.peers).toEqual([addr(b)]);
        expect(ma.connection(slashed(b)).state).toBe("connected");
        await Promise.all(managers.splice(0).map((m) => m.close()));
      }
    });
  }

  it("a mismatch that cannot be normalised (another path) is named on both sides, whoever dials", async () => {
    for (const [aDials, bDials] of [
      [true, true],
      [true, false],
      [false, true],
      [false, false],
    ] as const) {
      // `a` lists b under /other, but b calls itself /grid.
      const [a, b] = await portPair(aDials, (p) => addr(p, "/other"), bDials);
      const ra = recorder();
      const rb = recorder();
      const ma = manager({ local: addr(a), hosts: [addr(b, "/other")], logger: ra.logger, dialTimeoutMs: 300 });
      const mb = manager({ local: addr(b), hosts: [addr(a)], logger: rb.logger, dialTimeoutMs: 300 });
      await Promise.all([ma.listen(), mb.listen()]);
      const loud = (r: { lines: Line[] }): boolean => r.lines.some((l) => l.level === "warn" || l.level === "error");
      await until(() => loud(ra) && loud(rb), 3000).catch(() => {});
      const said = (r: { lines: Line[] }): string =>
        r.lines.filter((l) => l.level !== "debug").map((l) => `${l.level} ${l.message} ${JSON.stringify(l.fields)}`).join("\n");
      expect(loud(ra), `a (dials: ${aDials}) said:\n${said(ra)}`).toBe(true);
      expect(loud(rb), `b (dials: ${bDials}) said:\n${said(rb)}`).toBe(true);
      await Promise.all(managers.splice(0).map((m) => m.close()));
    }
  });
});

describe("waitConnected says why it gave up", () => {
  it("a wrong secret: the refusal is the cause and in the message, on both sides; calls carry it too", async () => {
    const [a, b] = await portPair(true);
    const ma = manager({ local: addr(a), hosts: [addr(b)], auth: sharedSecretAuth("one"), logger: recorder().logger });
    const mb = manager({ local: addr(b), hosts: [addr(a)], auth: sharedSecretAuth("two"), logger: recorder().logger });
    await Promise.all([ma.listen(), mb.listen()]);
    const dialler = await rejection(ma.connection(addr(b)).waitConnected({ signal: AbortSignal.timeout(800) }));
    expect(dialler.code).toBe(ErrorCode.Aborted);
    expect(dialler.message).toContain(`gave up waiting for ${addr(b)} (timed out): [unauthenticated] refused by ${addr(b)}: bad auth token from ${addr(a)}`);
    expect((dialler.cause as GridError).code).toBe(ErrorCode.Unauthenticated);
    const listener = await rejection(mb.waitConnected({ signal: AbortSignal.timeout(100) }));
    expect(listener.message).toContain(`${addr(a)}: [unauthenticated] refused the connection of ${addr(a)}: bad auth token from ${addr(a)}`);
    expect((listener.cause as GridError).code).toBe(ErrorCode.Unauthenticated);
    // A call made meanwhile: DisconnectedError, whose cause is the refusal.
    const call = await rejection(ma.connection(addr(b)).request(1, new Uint8Array(1)));
    expect(call.code).toBe(ErrorCode.Disconnected);
    expect(call.message).toContain("bad auth token");
    expect((call.cause as GridError).code).toBe(ErrorCode.Unauthenticated);
  });

  it("an unknown host", async () => {
    const [a, b] = await portPair(true);
    const [c] = await freePorts(1);
    const ma = manager({ local: addr(a), hosts: [addr(b)], logger: recorder().logger });
    const mb = manager({ local: addr(b), hosts: [addr(c!)], logger: recorder().logger });
    await Promise.all([ma.listen(), mb.listen()]);
    const err = await rejection(ma.waitConnected({ signal: AbortSignal.timeout(800) }));
    expect(err.message).toContain(`gave up waiting for 1 of 1 peers (timed out): ${addr(b)}: [unauthenticated] refused by ${addr(b)}: unknown host ${addr(a)}`);
    expect((err.cause as GridError).code).toBe(ErrorCode.Unauthenticated);
  });

  it("a refused dial", async () => {
    const [a, b] = await portPair(true);
    const ma = manager({ local: addr(a), hosts: [addr(b)], logger: recorder().logger });
    await ma.listen();
    const err = await rejection(ma.connection(addr(b)).waitConnected({ signal: AbortSignal.timeout(500) }));
    expect(err.message).toMatch(/ECONNREFUSED/);
    expect(err.cause).toBeInstanceOf(DisconnectedError);
  });

  it("a dial that times out", async () => {
    const [a, b] = await portPair(true);
    const hanging = (_address: string, signal: AbortSignal): Promise<Duplex> =>
      new Promise((_resolve, reject) => signal.addEventListener("abort", () => reject(signal.reason), { once: true }));
    const ma = manager({ local: addr(a), hosts: [addr(b)], dialer: hanging, dialTimeoutMs: 100, logger: recorder().logger });
    const err = await rejection(ma.connection(addr(b)).waitConnected({ signal: AbortSignal.timeout(600) }));
    expect(err.message).toContain("dial timed out after 100 ms");
    expect((err.cause as GridError).message).toContain("dial timed out after 100 ms");
  });
});

describe("manager.waitConnected", () => {
  it("resolves when every peer is up, and names the ones still down when it gives up", async () => {
    const ports = await freePorts(3);
    const hosts = ports.map((p) => addr(p));
    const [m0, m1] = [0, 1].map((i) => manager({ local: hosts[i]!, hosts: hosts.slice(0, 2), logger: recorder().logger }));
    await Promise.all([m0!.listen(), m1!.listen()]);
    await m0!.waitConnected({ signal: AbortSignal.timeout(5000) });
    expect(m0!.connection(hosts[1]!).state).toBe("connected");

    const m2 = manager({ local: hosts[0]!.replace("/grid", "/g2"), hosts, logger: recorder().logger });
    const err = await rejection(m2.waitConnected({ signal: AbortSignal.timeout(400) }));
    expect(err.code).toBe(ErrorCode.Aborted);
    expect(err.message).toMatch(/^\[aborted\] gave up waiting for 3 of 3 peers \(timed out\): /);
    for (const host of hosts) expect(err.message).toContain(`${host}: `);
  });
});

describe("a clean close of a peer", () => {
  it("is logged at info on the other side, not as a lost connection", async () => {
    const ports = await freePorts(2);
    const hosts = ports.map((p) => addr(p));
    const r0 = recorder();
    const m0 = manager({ local: hosts[0]!, hosts, logger: r0.logger });
    const m1 = manager({ local: hosts[1]!, hosts, logger: recorder().logger });
    await Promise.all([m0.listen(), m1.listen()]);
    // Both sides: the dialling side attaches only once it has checked the answer.
    await Promise.all([m0, m1].map((m) => m.waitConnected({ signal: AbortSignal.timeout(5000) })));
    await m1.close();
    await until(() => m0.connection(hosts[1]!).state !== "connected");
    const lines = r0.lines.filter((l) => l.message.startsWith("connection"));
    expect(lines.map((l) => [l.level, l.message, l.fields?.["reason"]])).toEqual([["info", "connection closed by the peer", expect.stringContaining("peer closed the connection")]]);
    expect(String(lines[0]!.fields?.["reason"])).toContain("peer closed the connection");
  });
});
