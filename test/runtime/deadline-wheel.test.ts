import { describe, expect, it } from "vitest";
import { DeadlineWheel } from "../../runtime/mux/deadline-wheel.js";
import type { Bucket, DeadlineEntry } from "../../runtime/mux/deadline-wheel.js";
import { sleep, until } from "./helpers.js";

class Entry implements DeadlineEntry {
  wheelBucket: Bucket | undefined;
  wheelPrev: DeadlineEntry | undefined;
  wheelNext: DeadlineEntry | undefined;
  firedAt: number | undefined;
  constructor(
    public deadlineAt: number,
    private readonly log: Entry[],
  ) {}
  onDeadline(): void {
    this.firedAt = performance.now();
    this.log.push(this);
  }
}

describe("DeadlineWheel", () => {
  it("fires every entry once, in deadline order, never early", async () => {
    const wheel = new DeadlineWheel(5);
    const fired: Entry[] = [];
    const now = performance.now();
    const entries = [60, 10, 35, 10, 80, 22].map((d) => new Entry(now + d, fired));
    for (const e of entries) wheel.add(e);
    expect(wheel.size).toBe(6);
    await until(() => fired.length === 6, 2000);
    for (const e of fired) expect(e.firedAt!).toBeGreaterThanOrEqual(e.deadlineAt - 1);
    const order = fired.map((e) => e.deadlineAt);
    expect(order).toEqual([...order].sort((x, y) => x - y));
    expect(wheel.size).toBe(0);
  });

  it("removed entries never fire; remove is idempotent; clear drops everything", async () => {
    // (also: an emptied bucket in front of a live one does not delay or lose the live one)
    const wheel = new DeadlineWheel(5);
    const fired: Entry[] = [];
    const now = performance.now();
    const keep = new Entry(now + 20, fired);
    const drop = new Entry(now + 20, fired);
    const drop2 = new Entry(now + 10, fired);
    wheel.add(keep);
    wheel.add(drop);
    wheel.add(drop2);
    wheel.remove(drop);
    wheel.remove(drop);
    wheel.remove(drop2);
    expect(wheel.size).toBe(1);
    await until(() => fired.length === 1);
    await sleep(30);
    expect(fired).toEqual([keep]);
    const late = new Entry(performance.now() + 10, fired);
    wheel.add(late);
    wheel.clear();
    await sleep(30);
    expect(fired).toEqual([keep]);
    expect(late.wheelBucket).toBeUndefined();
  });

  it("calls that come and go one at a time reuse one bucket", () => {
    const wheel = new DeadlineWheel(5);
    const inner = wheel as unknown as { buckets: Map<number, unknown>; heap: number[] };
    let t = 1000;
    for (let i = 0; i < 20_000; i++) {
      t += 0.5; // a call every 0.5 ms, each finished before the next starts
      const e = new Entry(t + 60_000, []);
      wheel.add(e);
      wheel.remove(e);
    }
    expect(inner.buckets.size).toBeLessThanOrEqual(1);
    expect(inner.heap.length).toBeLessThanOrEqual(65);
    wheel.clear();
  });

  it("handles many entries with one timer and bounds its buckets", () => {
    const wheel = new DeadlineWheel(5);
    const fired: Entry[] = [];
    const now = performance.now();
    const entries = Array.from({ length: 10_000 }, (_, i) => new Entry(now + 60_000 + (i % 997), fired));
    for (const e of entries) wheel.add(e);
    expect(wheel.size).toBe(10_000);
    for (const e of entries) wheel.remove(e);
    expect(wheel.size).toBe(0);
    // Emptied buckets are dropped (all but the newest), and the heap does not keep their times.
    const inner = wheel as unknown as { buckets: Map<number, unknown>; heap: number[] };
    expect(inner.buckets.size).toBeLessThanOrEqual(1);
    expect(inner.heap.length).toBeLessThanOrEqual(Math.max(64, 2 * inner.buckets.size) + 1);
    wheel.clear();
    expect((wheel as unknown as { buckets: Map<number, unknown> }).buckets.size).toBe(0);
  });
});
