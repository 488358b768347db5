import { describe, expect, it } from "vitest";
import { checkMutualExclusion, monotonicMs, type CriticalSection } from "../../examples/lock-service/mutual-exclusion.js";

const w = (resource: string, start: number, end: number, owner = "a"): CriticalSection => ({ resource, write: true, owner, start, end });
const r = (resource: string, start: number, end: number, owner = "a"): CriticalSection => ({ resource, write: false, owner, start, end });

describe("checkMutualExclusion", () => {
  it("accepts back-to-back writers, shared readers and different resources", () => {
    const report = checkMutualExclusion([w("x", 0, 1), w("x", 1, 2), r("x", 3, 6), r("x", 4, 5), w("y", 0, 10), w("x", 6, 7)]);
    expect(report).toEqual({ checked: 6, overlaps: [], overlapCount: 0 });
  });

  it("finds a writer overlapping a writer or a reader, in any order", () => {
    const report = checkMutualExclusion([w("x", 5, 9, "b"), w("x", 0, 6, "a"), r("y", 0, 3), w("y", 2, 4), r("z", 0, 1)]);
    expect(report.overlapCount).toBe(2);
    expect(report.overlaps.map(([a, b]) => `${a.resource}:${a.owner}@${a.start}/${b.owner}@${b.start}`)).toEqual(["x:a@0/b@5", "y:a@0/a@2"]);
  });

  it("the clock is monotonic and in ms", async () => {
    const a = monotonicMs();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const b = monotonicMs();
    expect(b - a).toBeGreaterThanOrEqual(15);
    expect(b - a).toBeLessThan(1_000);
  });
});
