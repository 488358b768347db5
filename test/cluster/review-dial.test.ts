/**
 * Review: a dial attempt is bounded by `dialTimeoutMs` even when user code it awaits (a
 * custom ConnDialer that ignores its signal, an auth hook that never answers) hangs; the
 * peer is redialled afterwards. And a throwing state listener is logged at the same level
 * whether it listens on a Connection or on the Manager.
 */
import type { Duplex } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { sharedSecretAuth } from "../../runtime/auth/shared-secret.js";
import { Manager } from "../../runtime/cluster/manager.js";
import { shouldDial } from "../../runtime/cluster/who-dials.js";
import { silentLogger } from "../../runtime/logger.js";
import { tcpDialer } from "../../runtime/transport/dialer.js";
import { freePorts, recordingLogger, until } from "./helpers.js";

const managers: Manager[] = [];
afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.close()));
});

/** Two addresses on free ports, the first being the side that dials. */
async function dialPair(): Promise<[string, string]> {
  const [p1, p2] = await freePorts(2);
  const x = `ws://127.0.0.1:${p1}/grid`;
  const y = `ws://127.0.0.1:${p2}/grid`;
  return shouldDial(x, y) ? [x, y] : [y, x];
}

describe("dial attempts are bounded by dialTimeoutMs", () => {
  it("a custom dialer that ignores its signal and never answers does not stop redials", async () => {
    const [a, b] = await dialPair();
    let calls = 0;
    const never = new Promise<Duplex>(() => {});
    const m = new Manager({
      local: a,
      hosts: [a, b],
      logger: silentLogger,
      dialTimeoutMs: 100,
      reconnect: { initialDelayMs: 10, maxDelayMs: 20 },
      dialer: () => {
        calls++;
        return never;
      },
    });
    managers.push(m);
    await until(() => calls >= 3, 3000, "three dial attempts");
    expect(m.connection(b).state).not.toBe("connected");
  });

  it("an auth token hook that never answers once: the dial times out and the next one connects", async () => {
    const [a, b] = await dialPair();
    const good = sharedSecretAuth("s");
    let tokenCalls = 0;
    const hanging = {
      token: (remote: string, local: string, challenge: string): string | Promise<string> =>
        ++tokenCalls === 1 ? new Promise<string>(() => {}) : good.token(remote, local, challenge),
      verify: good.verify,
    };
    const mb = new Manager({ local: b, hosts: [a, b], logger: silentLogger, auth: good });
    managers.push(mb);
    await mb.listen();
    const ma = new Manager({
      local: a,
      hosts: [a, b],
      logger: silentLogger,
      auth: hanging,
      dialTimeoutMs: 150,
      reconnect: { initialDelayMs: 10, maxDelayMs: 20 },
      dialer: tcpDialer,
    });
    managers.push(ma);
    await ma.connection(b).waitConnected({ signal: AbortSignal.timeout(4000) });
    expect(tokenCalls).toBeGreaterThanOrEqual(2);
  });

  it("an auth verify hook that never answers once: the dial times out and the next one connects", async () => {
    const [a, b] = await dialPair();
    const good = sharedSecretAuth("s");
    let verifyCalls = 0;
    const hanging = {
      token: good.token,
      verify: (token: string, remote: string, local: string, challenge: string): boolean | Promise<boolean> =>
        ++verifyCalls === 1 ? new Promise<boolean>(() => {}) : good.verify(token, remote, local, challenge),
    };
    const mb = new Manager({ local: b, hosts: [a, b], logger: silentLogger, auth: good });
    managers.push(mb);
    await mb.listen();
    const ma = new Manager({
      local: a,
      hosts: [a, b],
      logger: silentLogger,
      auth: hanging,
      dialTimeoutMs: 150,
      reconnect: { initialDelayMs: 10, maxDelayMs: 20 },
    });
    managers.push(ma);
    await ma.connection(b).waitConnected({ signal: AbortSignal.timeout(4000) });
    expect(verifyCalls).toBeGreaterThanOrEqual(2);
  });
});

describe("state listeners that throw", () => {
  it("are logged at the same level on a Connection and on the Manager", async () => {
    const [a, b] = await dialPair();
    const logger = recordingLogger();
    const m = new Manager({
      local: a,
      hosts: [a, b],
      logger,
      dialTimeoutMs: 100,
      reconnect: { initialDelayMs: 10, maxDelayMs: 20 },
      dialer: () => Promise.reject(new Error("no route")),
    });
    managers.push(m);
    m.onStateChange(() => {
      throw new Error("manager listener");
    });
    m.connection(b).onStateChange(() => {
      throw new Error("connection listener");
    });
    await until(() => logger.records.filter((r) => r.message === "state listener threw").length >= 2, 3000, "both logs");
    const levels = new Set(logger.records.filter((r) => r.message === "state listener threw").map((r) => r.level));
    expect([...levels]).toEqual(["warn"]);
  });
});

describe("a handshake that completes after its timeout", () => {
  it("does not replace the healthy link made meanwhile (listening side, slow verify)", async () => {
    const [a, b] = await dialPair();
    const good = sharedSecretAuth("s");
    let verifyCalls = 0;
    let releaseFirst: (ok: boolean) => void = () => {};
    const slowOnce = {
      token: good.token,
      verify: (token: string, remote: string, local: string, challenge: string): boolean | Promise<boolean> =>
        ++verifyCalls === 1 ? new Promise<boolean>((resolve) => (releaseFirst = resolve)) : good.verify(token, remote, local, challenge),
    };
    const logger = recordingLogger();
    const mb = new Manager({ local: b, hosts: [a, b], logger, auth: slowOnce, handshakeTimeoutMs: 150 });
    managers.push(mb);
    mb.registerSingle(1, async (p) => {
      await new Promise((r) => setTimeout(r, 300));
      return p;
    });
    await mb.listen();
    const ma = new Manager({
      local: a,
      hosts: [a, b],
      logger: silentLogger,
      auth: good,
      dialTimeoutMs: 150,
      reconnect: { initialDelayMs: 10, maxDelayMs: 20 },
    });
    managers.push(ma);
    const conn = ma.connection(b);
    await conn.waitConnected({ signal: AbortSignal.timeout(4000) });
    const call = conn.request(1, new Uint8Array([7]));
    await new Promise((r) => setTimeout(r, 50));
    releaseFirst(true); // the first, long dead handshake's verify finally answers
    expect([...(await call)]).toEqual([7]);
    await new Promise((r) => setTimeout(r, 50));
    expect(mb.connection(a).state).toBe("connected");
    expect(mb.connection(a).stats.reconnects).toBe(0);
    expect(logger.text()).not.toMatch(/replacing the previous link/);
  });
});
