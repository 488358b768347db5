import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { CallTable } from "../../runtime/mux/call-table.js";

interface Call {
  readonly muxId: number;
  readonly tag: number;
}

describe("CallTable", () => {
  it("behaves like a Map keyed by muxId (random sequential and colliding ids)", () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant("add" as const), gap: fc.integer({ min: 1, max: 3 }) }),
      fc.record({ kind: fc.constant("addFar" as const), lap: fc.integer({ min: 1, max: 300 }) }),
      fc.record({ kind: fc.constant("del" as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant("clear" as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 3000 }), (ops) => {
        const table = new CallTable<Call>();
        const model = new Map<number, Call>();
        let next = 0xffff_ff00; // crosses the u32 wrap and the sign bit of `id & mask`
        let tag = 0;
        for (const o of ops) {
          if (o.kind === "add" || o.kind === "addFar") {
            const id = o.kind === "add" ? (next = (next + o.gap) >>> 0) : (next + o.lap * 256) >>> 0;
            const call = { muxId: id, tag: tag++ };
            table.set(id, call);
            model.set(id, call);
          } else if (o.kind === "del") {
            const keys = [...model.keys()];
            if (keys.length === 0) {
              expect(table.delete(12345)).toBe(false);
              continue;
            }
            const id = keys[o.pick % keys.length]!;
            expect(table.delete(id)).toBe(true);
            expect(table.delete(id)).toBe(false);
            model.delete(id);
          } else {
            table.clear();
            model.clear();
          }
          expect(table.size).toBe(model.size);
        }
        for (const [id, call] of model) expect(table.get(id)).toBe(call);
        expect(table.values().map((c) => c.tag).sort((a, b) => a - b)).toEqual(
          [...model.values()].map((c) => c.tag).sort((a, b) => a - b),
        );
      }),
      { numRuns: 60 },
    );
  });

  it("a lapped id next to a long-lived call is found, and the table returns to its small size", () => {
    const table = new CallTable<Call>();
    table.set(5, { muxId: 5, tag: 0 });
    for (let id = 6; id < 20_000; id++) {
      table.set(id, { muxId: id, tag: id });
      expect(table.get(id)?.tag).toBe(id);
      expect(table.delete(id)).toBe(true);
    }
    expect(table.get(5)?.tag).toBe(0);
    expect(table.get(5 + 64)).toBeUndefined();
    expect(table.size).toBe(1);
    for (let id = 1000; id < 11_000; id++) table.set(id, { muxId: id, tag: id });
    expect(table.size).toBe(10_001);
    for (let id = 1000; id < 11_000; id++) expect(table.get(id)?.tag).toBe(id);
    for (let id = 1000; id < 11_000; id++) table.delete(id);
    table.delete(5);
    expect(table.size).toBe(0);
    expect((table as unknown as { slots: unknown[] }).slots.length).toBe(64);
  });
});
