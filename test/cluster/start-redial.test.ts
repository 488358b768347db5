/**
 * A dial whose connection is refused (nothing listens on the peer's port yet: a cluster's
 * start, a restart) is retried from `reconnect.refusedDelayMs` (5 ms), doubling; any other
 * failure from `reconnect.initialDelayMs` (100 ms). Over real sockets: a peer that starts
 * listening after the first dial was refused is dialled again, and connected, long before the
 * old first retry (100 ms without jitter); a peer that stays down, or fails every upgrade, is
 * dialled no more often than its schedule allows.
 */
import { createServer, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { backoffDelay, defaultBackoffOptions, resolveBackoffOptions } from "../../runtime/cluster/backoff.js";
import { Manager } from "../../runtime/cluster/manager.js";
import { shouldDial } from "../../runtime/cluster/who-dials.js";
import { silentLogger } from "../../runtime/logger.js";
import { tcpDialer, type ConnDialer } from "../../runtime/transport/dialer.js";
import { freePorts, until } from "./helpers.js";

const managers: Manager[] = [];
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.close()));
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** Two addresses on free ports, the first being the side that dials. */
async function dialPair(): Promise<[string, string]> {
  const [p1, p2] = await freePorts(2);
  const x = `ws://127.0.0.1:${p1}/grid`;
  const y = `ws://127.0.0.1:${p2}/grid`;
  return shouldDial(x, y) ? [x, y] : [y, x];
}

/** tcpDialer, with the time of every dial (ms since `t0`). */
function countingDialer(t0: number): { dialer: ConnDialer; at: number[] } {
  const at: number[] = [];
  return {
    at,
    dialer: (address, signal) => {
      at.push(performance.now() - t0);
      return tcpDialer(address, signal);
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe("refused dials: the short schedule", () => {
  it("starts from refusedDelayMs (at most initialDelayMs), grows by the multiplier to the same cap", () => {
    expect(defaultBackoffOptions.refusedDelayMs).toBe(5);
    const opts = resolveBackoffOptions({ jitter: 0 });
    const none = (): number => 0;
    expect([0, 1, 2, 3, 4, 10, 11, 40].map((a) => backoffDelay(a, opts, none, true))).toEqual([
      5, 10, 20, 40, 80, 5120, 10_000, 10_000,
    ]);
    expect([0, 1, 2, 7].map((a) => backoffDelay(a, opts, none, false))).toEqual([100, 200, 400, 10_000]);
    // A user's shorter initialDelayMs also bounds the refused schedule.
    expect(backoffDelay(0, resolveBackoffOptions({ initialDelayMs: 2, jitter: 0 }), none, true)).toBe(2);
    expect(() => resolveBackoffOptions({ refusedDelayMs: -1 })).toThrow(RangeError);
    expect(() => resolveBackoffOptions({ refusedDelayMs: 20_000 })).toThrow(RangeError);
  });

  it("a peer that starts listening after the first dial was refused is dialled again well before the old first retry (100 ms)", async () => {
    const [a, b] = await dialPair();
    const t0 = performance.now();
    const at: number[] = [];
    let refusedAt: number | undefined;
    const dialer: ConnDialer = (address, signal) => {
      at.push(performance.now() - t0);
      return tcpDialer(address, signal).catch((err: unknown) => {
        refusedAt ??= performance.now() - t0;
        throw err;
      });
    };
    // No jitter: refused dials at 0, then 5, 15, 35, 75 ms after the first refusal (plus the
    // time each takes); the old schedule redialled 100 ms after it.
    const ma = new Manager({ local: a, hosts: [a, b], logger: silentLogger, dialer, reconnect: { jitter: 0 } });
    managers.push(ma);
    await until(() => refusedAt !== undefined, 5_000, "the first dial refused");
    const mb = new Manager({ local: b, hosts: [a, b], logger: silentLogger });
    managers.push(mb);
    await mb.listen();
    const listeningAt = performance.now() - t0;
    await ma.connection(b).waitConnected({ signal: AbortSignal.timeout(5_000) });
    const connectedAt = performance.now() - t0;
    const what = `refused at ${refusedAt!.toFixed(1)} ms, listening at ${listeningAt.toFixed(1)} ms, dials at ${at.map((t) => t.toFixed(1)).join(", ")} ms, connected at ${connectedAt.toFixed(1)} ms`;
    expect(at.length, what).toBeGreaterThanOrEqual(2);
    // The dial that connected (the last) started before the old schedule's first retry.
    expect(at[at.length - 1]! - refusedAt!, what).toBeLessThan(100);
    expect(at[at.length - 1]!, what).toBeGreaterThanOrEqual(listeningAt - 1);
  });

  it("a peer that stays down (refused) is dialled at most as often as the schedule allows", async () => {
    const [a, b] = await dialPair();
    const t0 = performance.now();
    const counted = countingDialer(t0);
    // Default jitter 0.5: the shortest delays are 2.5, 5, 10, 20, 40, 80, 160, 320 ms, so
    // within 700 ms at most 9 dials (0, 2.5, 7.5, 17.5, 37.5, 77.5, 157.5, 317.5, 637.5).
    const ma = new Manager({ local: a, hosts: [a, b], logger: silentLogger, dialer: counted.dialer });
    managers.push(ma);
    await sleep(700 - (performance.now() - t0));
    const seen = counted.at.filter((t) => t < 700);
    const what = `dials at ${seen.map((t) => t.toFixed(1)).join(", ")} ms`;
    expect(seen.length, what).toBeLessThanOrEqual(9);
    // Dialled again and again (0, <=5, <=15, <=35, <=75, <=155, <=315 ms at the longest delays,
    // plus the time each refused dial takes): at least 5, more than the old schedule's 4.
    expect(seen.length, what).toBeGreaterThanOrEqual(5);
    expect(ma.connection(b).state).not.toBe("connected");
  });

  it("a peer that accepts the connection but fails the dial otherwise keeps the long schedule (100 ms)", async () => {
    const [a, b] = await dialPair();
    // B's port: a TCP server that drops every connection (no upgrade answer: not "refused").
    const server = createServer((socket) => socket.destroy());
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(Number(new URL(b).port), "127.0.0.1", resolve));
    const t0 = performance.now();
    const counted = countingDialer(t0);
    // Shortest delays 50, 100, 200, 400 ms: within 700 ms at most 4 dials (0, 50, 150, 350).
    const ma = new Manager({ local: a, hosts: [a, b], logger: silentLogger, dialer: counted.dialer });
    managers.push(ma);
    await until(() => counted.at.length >= 2, 2_000, "a redial");
    await sleep(700 - (performance.now() - t0));
    const seen = counted.at.filter((t) => t < 700);
    const what = `dials at ${seen.map((t) => t.toFixed(1)).join(", ")} ms`;
    expect(seen.length, what).toBeLessThanOrEqual(4);
    expect(seen[1]!, what).toBeGreaterThanOrEqual(50);
  });
});
