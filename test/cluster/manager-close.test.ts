/** `manager.close()`: fails in-flight calls, is idempotent, and leaves nothing behind. */
import { afterEach, describe, expect, it } from "vitest";
import { Manager } from "../../runtime/cluster/manager.js";
import { DisconnectedError } from "../../runtime/errors.js";
import { silentLogger } from "../../runtime/logger.js";
import { runFixture } from "./child.js";
import { MemoryLink, freePorts } from "./helpers.js";

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((fn) => fn()));
});

describe("Manager.close", () => {
  it("fails in-flight calls with DisconnectedError, is idempotent, and refuses new work", async () => {
    const hosts = (await freePorts(2)).map((p) => `ws://127.0.0.1:${p}/grid`);
    const [a, b] = hosts as [string, string];
    const ma = new Manager({ local: a, hosts, logger: silentLogger });
    const mb = new Manager({ local: b, hosts, logger: silentLogger });
    cleanups.push(() => ma.close(), () => mb.close());
    mb.registerSingle(2, () => new Promise<Uint8Array>(() => {}));
    ma.registerSingle(2, () => new Promise<Uint8Array>(() => {}));
    await Promise.all([ma.listen(), mb.listen()]);
    await ma.connection(b).waitConnected();
    await mb.connection(a).waitConnected();
    const outgoing = ma.connection(b).request(2, new Uint8Array());
    const incoming = mb.connection(a).request(2, new Uint8Array());
    const outcomes = [outgoing, incoming].map((p) => p.then(() => "resolved", (e: unknown) => e));
    await new Promise((resolve) => setTimeout(resolve, 20));

    const first = ma.close();
    expect(ma.close()).toBe(first);
    await first;
    for (const outcome of await Promise.all(outcomes)) expect(outcome).toBeInstanceOf(DisconnectedError);
    expect(ma.connection(b).state).toBe("closed");
    await expect(ma.connection(b).request(2, new Uint8Array())).rejects.toBeInstanceOf(DisconnectedError);
    await expect(ma.connection(b).waitConnected()).rejects.toBeInstanceOf(DisconnectedError);
    await expect(ma.listen()).rejects.toBeInstanceOf(DisconnectedError);
    const link = new MemoryLink();
    ma.incomingConn(link.b);
    expect(link.b.destroyed).toBe(true);
  });

  it("leaves no timer, socket or pending promise behind: a busy cluster's process exits by itself", async () => {
    const child = runFixture("close-exit.ts", {});
    cleanups.push(async () => {
      child.process.kill("SIGKILL");
    });
    const line = await child.waitFor("closed ", 25_000);
    const closedAt = performance.now();
    const report = JSON.parse(line.slice("closed ".length)) as {
      closeMs: number;
      pending: number;
      disconnected: number;
      states: string[];
    };
    // Links close cleanly at once; close never sits out its 2 s grace period waiting for them.
    expect(report.closeMs).toBeLessThan(1500);
    expect(report.pending).toBeGreaterThan(0);
    expect(report.disconnected).toBe(report.pending);
    expect(new Set(report.states)).toEqual(new Set(["closed"]));
    const code = await Promise.race([
      child.exited,
      new Promise((resolve) => setTimeout(() => resolve("still running"), 5000)),
    ]);
    expect(code).toBe(0);
    expect(performance.now() - closedAt).toBeLessThan(5000);
  });
});
