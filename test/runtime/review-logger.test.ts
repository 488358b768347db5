/**
 * Review: the logger is user code too. A logger that throws (a JSON logger meeting a
 * circular `error` field, a closed log stream) must not crash the process or corrupt the
 * teardown it was reporting: every runtime log goes through a guard.
 */
import { describe, expect, it } from "vitest";
import { Connection } from "../../runtime/connection/connection.js";
import { DisconnectedError } from "../../runtime/errors.js";
import { HandlerRegistry } from "../../runtime/handlers/handler-registry.js";
import { memoryTransportPair } from "../../runtime/transport/memory-transport.js";
import type { Logger } from "../../runtime/types.js";
import { sleep, until } from "./helpers.js";

function throwingLogger(): Logger & { calls: number } {
  const logger = {
    calls: 0,
    debug: () => void logger.calls++,
    info: () => void logger.calls++,
    warn: (): void => {
      logger.calls++;
      throw new TypeError("Converting circular structure to JSON");
    },
    error: (): void => {
      logger.calls++;
      throw new TypeError("Converting circular structure to JSON");
    },
  };
  return logger;
}

describe("a logger that throws", () => {
  it("does not escape a protocol-error teardown, a ping timeout or a throwing state listener", async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown): void => void uncaught.push(err);
    process.on("uncaughtException", onUncaught);
    try {
      // Protocol error: garbage from the peer.
      const logger = throwingLogger();
      const conn = new Connection({ local: "a", remote: "b", handlers: new HandlerRegistry(), options: { logger } });
      const [t, raw] = memoryTransportPair();
      raw.setHandlers({ onMessage: () => {}, onClose: () => {} });
      conn.attach(t);
      const states: string[] = [];
      conn.onStateChange((s) => {
        states.push(s);
        throw new Error("listener");
      });
      raw.send(new Uint8Array([0xff, 1, 2, 3]));
      await until(() => conn.state === "disconnected", 2000);
      expect(states).toEqual(["disconnected"]);
      expect(conn.stats.inFlight).toBe(0);
      conn.close();

      // Ping timeout: the peer never answers.
      const logger2 = throwingLogger();
      const silent = new Connection({
        local: "a",
        remote: "b",
        handlers: new HandlerRegistry(),
        options: { logger: logger2, pingIntervalMs: 20, pingTimeoutMs: 60 },
      });
      const [t2, raw2] = memoryTransportPair();
      raw2.setHandlers({ onMessage: () => {}, onClose: () => {} });
      silent.attach(t2);
      const pending = silent.request(1, new Uint8Array(1)).catch((e: unknown) => e);
      await until(() => silent.state === "disconnected", 3000);
      expect(await pending).toBeInstanceOf(DisconnectedError);
      silent.close();
      await sleep(20);
      expect(logger.calls + logger2.calls).toBeGreaterThan(0);
    } finally {
      process.off("uncaughtException", onUncaught);
    }
    expect(uncaught).toEqual([]);
  });
});
