import { describe, expect, it } from "vitest";
import { backoffDelay, defaultBackoffOptions, resolveBackoffOptions } from "../../runtime/cluster/backoff.js";

describe("backoffDelay", () => {
  const opts = resolveBackoffOptions({ initialDelayMs: 100, maxDelayMs: 5_000, multiplier: 2, jitter: 0.5 });

  it("grows exponentially up to the cap without jitter draw", () => {
    const none = (): number => 0;
    expect([0, 1, 2, 3, 4, 5, 6, 10, 100, 10_000].map((a) => backoffDelay(a, opts, none))).toEqual([
      100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000,
    ]);
  });

  it("takes off at most the jitter fraction", () => {
    const almostOne = (): number => 0.999999;
    expect(backoffDelay(0, opts, almostOne)).toBe(50);
    expect(backoffDelay(20, opts, almostOne)).toBe(2500);
    expect(backoffDelay(3, opts, () => 0.5)).toBe(600);
  });

  it("stays within [d*(1-jitter), d] for random draws", () => {
    for (let attempt = 0; attempt < 12; attempt++) {
      const ceiling = Math.min(5_000, 100 * 2 ** attempt);
      for (let i = 0; i < 50; i++) {
        const d = backoffDelay(attempt, opts);
        expect(d).toBeGreaterThanOrEqual(Math.floor(ceiling * 0.5));
        expect(d).toBeLessThanOrEqual(ceiling);
      }
    }
  });

  it("has documented defaults and rejects nonsense", () => {
    expect(resolveBackoffOptions()).toEqual(defaultBackoffOptions);
    expect(() => resolveBackoffOptions({ jitter: 2 })).toThrow(RangeError);
    expect(() => resolveBackoffOptions({ multiplier: 0.5 })).toThrow(RangeError);
    expect(() => resolveBackoffOptions({ initialDelayMs: 10, maxDelayMs: 5 })).toThrow(RangeError);
    expect(() => resolveBackoffOptions({ maxDelayMs: Infinity })).toThrow(RangeError);
    expect(() => resolveBackoffOptions({ initialDelayMs: Number.NaN })).toThrow(RangeError);
  });
});
