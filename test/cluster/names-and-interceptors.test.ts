/**
 * Over real Managers: interceptors configured on the Manager and per connection (order,
 * rejection), and handler names (registered by generated code) in errors, logs and traces.
 */
import { afterEach, describe, expect, it } from "vitest";
import { LockerClient, registerLocker } from "../../generated/locks.js";
import type { LockerServer } from "../../generated/locks.js";
import { Manager } from "../../runtime/cluster/manager.js";
import type { CallTrace } from "../../runtime/connection/options.js";
import { DeadlineExceededError, UnauthenticatedError } from "../../runtime/errors.js";
import type { ClientInterceptor, ServerInterceptor } from "../../runtime/interceptors.js";
import { silentLogger } from "../../runtime/logger.js";
import type { Logger } from "../../runtime/types.js";
import { freePorts, recordingLogger, until } from "./helpers.js";

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((fn) => fn()));
});

const args = { resources: ["r"], uid: "u", owner: "o", quorum: 1 };

async function pair(
  opts: { a?: Partial<ConstructorParameters<typeof Manager>[0]>; b?: Partial<ConstructorParameters<typeof Manager>[0]> } = {},
): Promise<{ a: Manager; b: Manager; addrA: string; addrB: string }> {
  const [pa, pb] = await freePorts(2);
  const addrA = `ws://127.0.0.1:${pa}/grid`;
  const addrB = `ws://127.0.0.1:${pb}/grid`;
  const a = new Manager({ local: addrA, hosts: [addrA, addrB], logger: silentLogger, ...opts.a });
  const b = new Manager({ local: addrB, hosts: [addrA, addrB], logger: silentLogger, ...opts.b });
  cleanups.push(() => a.close(), () => b.close());
  await Promise.all([a.listen(), b.listen()]);
  await a.connection(addrB).waitConnected();
  return { a, b, addrA, addrB };
}

const stalling: Partial<LockerServer> = {
  lock: () => new Promise(() => {}),
  unlock: () => {
    throw "not an Error"; // eslint-disable-line no-throw-literal
  },
  rLock: () => ({ ok: true }),
};

describe("interceptors on the Manager and per connection", () => {
  it("run Manager-level first, then the connection's, on both sides; a rejection stops the call", async () => {
    const log: string[] = [];
    const client = (name: string): ClientInterceptor => (next) => async (call) => {
      log.push(`${name} ${call.handlerName}`);
      return next(call);
    };
    const server = (name: string): ServerInterceptor => (next) => async (call) => {
      log.push(`${name} ${call.handlerName}`);
      if (call.metadata["deny"] === "yes") throw new UnauthenticatedError("denied by " + name);
      return next(call);
    };
    const { a, b, addrA, addrB } = await pair({
      a: { interceptors: { client: [client("managerClient")] } },
      b: { interceptors: { server: [server("managerServer")] } },
    });
    a.connection(addrB).intercept({ client: [client("connClient")] });
    b.connection(addrA).intercept({ server: [server("connServer")] });
    registerLocker(b, stalling as LockerServer);
    const locker = new LockerClient(a.connection(addrB));
    expect(await locker.rLock(args)).toEqual({ ok: true });
    expect(log).toEqual([
      "managerClient Locker.rLock",
      "connClient Locker.rLock",
      "managerServer Locker.rLock",
      "connServer Locker.rLock",
    ]);
    log.length = 0;
    await expect(locker.rLock(args, { metadata: { deny: "yes" } })).rejects.toThrow(/^\[unauthenticated\] denied by managerServer$/);
    expect(log).toEqual(["managerClient Locker.rLock", "connClient Locker.rLock", "managerServer Locker.rLock"]);
  });
});

describe("handler names", () => {
  it("appear in errors, logs and traces on both sides", async () => {
    const serverLog = recordingLogger();
    const traces: CallTrace[] = [];
    const { a, b, addrB } = await pair({
      a: { trace: (r) => traces.push(r) },
      b: { logger: serverLog as Logger, trace: (r) => traces.push(r) },
    });
    registerLocker(b, stalling as LockerServer);
    const locker = new LockerClient(a.connection(addrB));
    const late = locker.lock(args, { timeoutMs: 50 });
    await expect(late).rejects.toBeInstanceOf(DeadlineExceededError);
    await expect(late).rejects.toThrow(/^\[deadline_exceeded\] request to Locker\.lock \(id 20\) exceeded its deadline$/);
    await expect(locker.unlock(args)).rejects.toThrow(/^\[remote\] handler Locker\.unlock \(id 21\) threw a non-Error value: "not an Error"$/);
    await until(() => serverLog.records.some((r) => r.message === "handler failed"));
    const failed = serverLog.records.find((r) => r.message === "handler failed")!;
    expect(failed.fields).toMatchObject({ handler: 21, handlerName: "Locker.unlock" });
    await until(() => traces.some((t) => t.direction === "in" && t.handler === 21));
    expect(traces.find((t) => t.direction === "out" && t.handler === 20)?.handlerName).toBe("Locker.lock");
    expect(traces.find((t) => t.direction === "in" && t.handler === 21)?.handlerName).toBe("Locker.unlock");
  });
});
