/** Manager.waitConnected over many peers: one listener on the caller's signal. */
import { afterEach, describe, expect, it } from "vitest";
import { Manager } from "../../runtime/cluster/manager.js";
import { AbortError } from "../../runtime/errors.js";
import { silentLogger } from "../../runtime/logger.js";
import { freePorts } from "./helpers.js";

const managers: Manager[] = [];
afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.close()));
});

describe("Manager.waitConnected with a signal", () => {
  it("adds one abort listener for all peers: no MaxListenersExceededWarning in a 16-server cluster", async () => {
    const ports = await freePorts(16);
    const hosts = ports.map((p) => `ws://127.0.0.1:${p}/grid`);
    const m = new Manager({ local: hosts[0]!, hosts, logger: silentLogger });
    managers.push(m);
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on("warning", onWarning);
    try {
      const signal = AbortSignal.timeout(150);
      const err = await m.waitConnected({ signal }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(AbortError);
      expect((err as Error).message).toContain("gave up waiting for 15 of 15 peers (timed out)");
      await new Promise((r) => setTimeout(r, 20)); // warnings are emitted on a later tick
    } finally {
      process.off("warning", onWarning);
    }
    expect(warnings.map((w) => `${w.name}: ${w.message}`)).toEqual([]);
  });
});
