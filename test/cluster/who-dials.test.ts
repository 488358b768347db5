import { describe, expect, it } from "vitest";
import { shouldDial } from "../../runtime/cluster/who-dials.js";

function randomName(rand: () => number): string {
  const port = 1024 + Math.floor(rand() * 60_000);
  const host = `10.${Math.floor(rand() * 256)}.${Math.floor(rand() * 256)}.${Math.floor(rand() * 256)}`;
  return `ws://${host}:${port}/grid`;
}

/** A seeded generator so a failure is reproducible. */
function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("shouldDial", () => {
  it("picks exactly one side for many random pairs", () => {
    const rand = mulberry32(42);
    for (let i = 0; i < 5000; i++) {
      const a = randomName(rand);
      const b = randomName(rand);
      if (a === b) continue;
      expect(shouldDial(a, b)).toBe(!shouldDial(b, a));
    }
  });

  it("is deterministic", () => {
    const a = "ws://127.0.0.1:9001/grid";
    const b = "ws://127.0.0.1:9002/grid";
    const first = shouldDial(a, b);
    for (let i = 0; i < 10; i++) expect(shouldDial(a, b)).toBe(first);
  });

  it("spreads dialling: no server dials everyone in a cluster of 16", () => {
    const hosts = Array.from({ length: 16 }, (_, i) => `ws://10.0.0.${i + 1}:9000/grid`);
    const dials = hosts.map((h) => hosts.filter((o) => o !== h && shouldDial(h, o)).length);
    expect(dials.reduce((a, b) => a + b, 0)).toBe((16 * 15) / 2);
    expect(Math.max(...dials)).toBeLessThan(15);
    expect(Math.min(...dials)).toBeGreaterThan(0);
  });

  it("keeps names that concatenate alike apart", () => {
    expect(shouldDial("ab", "c")).toBe(!shouldDial("c", "ab"));
    expect(shouldDial("a", "bc")).toBe(!shouldDial("bc", "a"));
  });

  it("refuses to dial itself", () => {
    expect(() => shouldDial("ws://a/grid", "ws://a/grid")).toThrow(RangeError);
  });
});
