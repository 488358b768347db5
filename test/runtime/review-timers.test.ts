/**
 * Review: deadlines beyond what a Node timer can hold (2^31-1 ms, about 24.8 days). A longer
 * delay makes Node warn (TimeoutOverflowWarning) and fire after 1 ms instead: the wheel
 * re-armed for the same far deadline every millisecond, a busy loop on both sides of a call
 * made with `timeoutMs: Infinity` (or a hostile peer's u32 deadline).
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { DeadlineWheel } from "../../runtime/mux/deadline-wheel.js";
import type { Bucket, DeadlineEntry } from "../../runtime/mux/deadline-wheel.js";
import type { Pair } from "./helpers.js";
import { bytes, makePair, sleep, text } from "./helpers.js";

class Entry implements DeadlineEntry {
  wheelBucket: Bucket | undefined;
  wheelPrev: DeadlineEntry | undefined;
  wheelNext: DeadlineEntry | undefined;
  fired = false;
  constructor(public deadlineAt: number) {}
  onDeadline(): void {
    this.fired = true;
  }
}

let pair: Pair | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await pair?.close();
  pair = undefined;
});

/** Every delay the code under test passed to setTimeout while `fn` ran and `ms` passed. */
async function timerDelays(ms: number, fn: () => void): Promise<number[]> {
  const delays: number[] = [];
  const real = globalThis.setTimeout;
  vi.spyOn(globalThis, "setTimeout").mockImplementation(((cb: () => void, delay?: number) => {
    delays.push(delay ?? 0);
    return real(cb, delay);
  }) as typeof setTimeout);
  fn();
  await sleep(ms);
  vi.restoreAllMocks();
  return delays;
}

describe("far deadlines", () => {
  it("the wheel never arms a timer beyond 2^31-1 ms, and does not spin on a far deadline", async () => {
    const wheel = new DeadlineWheel(5);
    const far = new Entry(performance.now() + 2 ** 32);
    const delays = await timerDelays(60, () => wheel.add(far));
    expect(delays.filter((d) => d > 2 ** 31 - 1)).toEqual([]);
    // One arm (plus the test's own sleep), not one per millisecond.
    expect(delays.length).toBeLessThanOrEqual(5); // was ~one per millisecond
    expect(far.fired).toBe(false);
    wheel.clear();
  });

  it("a request with timeoutMs Infinity works and arms no overflowing timer on either side", async () => {
    pair = await makePair("memory");
    pair.rb.registerSingle(1, async (p) => {
      await sleep(40);
      return p;
    });
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.name);
    process.on("warning", onWarning);
    try {
      let call: Promise<Uint8Array> | undefined;
      const delays = await timerDelays(20, () => {
        call = pair!.a.request(1, bytes("far"), { timeoutMs: Number.POSITIVE_INFINITY });
      });
      expect(text(await call!)).toBe("far");
      expect(delays.filter((d) => d > 2 ** 31 - 1)).toEqual([]);
      expect(delays.filter((d) => d <= 1).length).toBeLessThan(5);
    } finally {
      process.off("warning", onWarning);
    }
    expect(warnings).not.toContain("TimeoutOverflowWarning");
  });
});

describe("timer options beyond what a Node timer holds are refused", () => {
  it("Connection and Manager options, and the reconnect backoff, throw RangeError at construction", async () => {
    const { Connection } = await import("../../runtime/connection/connection.js");
    const { HandlerRegistry } = await import("../../runtime/handlers/handler-registry.js");
    const { Manager } = await import("../../runtime/cluster/manager.js");
    const { silentLogger } = await import("../../runtime/logger.js");
    const tooLong = 2 ** 31;
    for (const name of ["pingIntervalMs", "pingTimeoutMs", "streamPingIntervalMs", "deadlineResolutionMs", "roomPollMs"]) {
      expect(
        () => new Connection({ local: "a", remote: "b", handlers: new HandlerRegistry(), options: { [name]: tooLong } }),
        name,
      ).toThrow(RangeError);
    }
    const base = { local: "ws://127.0.0.1:1/grid", hosts: ["ws://127.0.0.1:2/grid"], logger: silentLogger };
    for (const name of ["dialTimeoutMs", "handshakeTimeoutMs", "closeTimeoutMs"]) {
      expect(() => new Manager({ ...base, [name]: tooLong }), name).toThrow(RangeError);
    }
    expect(() => new Manager({ ...base, reconnect: { maxDelayMs: tooLong } })).toThrow(RangeError);
    // The largest accepted values still construct (and close cleanly).
    const ok = new Manager({ ...base, dialTimeoutMs: tooLong - 1, pingIntervalMs: tooLong - 1, reconnect: { maxDelayMs: tooLong - 1 } });
    await ok.close();
  });
});
