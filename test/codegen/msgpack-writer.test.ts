/**
 * runtime/codec/writer.ts, the msgpack writer behind generated encoders: every format boundary
 * decodes to the same value with an independent decoder (@msgpack/msgpack) and with msgpackr,
 * random values round trip (fast-check), and returned messages are never overwritten.
 */
import { decode as refDecode } from "@msgpack/msgpack";
import fc from "fast-check";
import { Unpackr } from "msgpackr";
import { describe, expect, it } from "vitest";
import { MsgpackWriter, fieldKey } from "tsgrid";

const unpackr = new Unpackr({ useRecords: false, int64AsType: "bigint" });
const w = new MsgpackWriter();

function one(write: (w: MsgpackWriter) => void): Uint8Array {
  w.begin();
  write(w);
  return w.finish();
}

/** Both decoders agree on the bytes and give `expected`. */
function decodesTo(bytes: Uint8Array, expected: unknown): void {
  expect(refDecode(bytes, { useBigInt64: true })).toEqual(expected);
  expect(unpackr.unpack(bytes)).toEqual(expected);
}

describe("MsgpackWriter", () => {
  it("numbers at every format boundary", () => {
    const values = [0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53, -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, 0.5, -1.25, 1e300, Infinity, -Infinity];
    for (const v of values) decodesTo(one((w) => w.num(v)), v);
    expect(Number.isNaN(refDecode(one((w) => w.num(NaN))))).toBe(true);
  });

  it("bigints; beyond 64 bits, false and nothing written", () => {
    for (const v of [0n, 1n, -1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 63n, 2n ** 64n - 1n]) decodesTo(one((w) => w.bigint(v)), v);
    for (const v of [2n ** 64n, -(2n ** 63n) - 1n]) {
      let ok = true;
      expect(one((w) => (ok = w.bigint(v))).length).toBe(0);
      expect(ok).toBe(false);
    }
  });

  it("strings of every header size and UTF-8 width", () => {
    const values = ["", "a", "x".repeat(10), "x".repeat(11), "x".repeat(31), "x".repeat(63), "x".repeat(64), "x".repeat(255), "x".repeat(256), "x".repeat(70_000), "é€😀", "😀".repeat(40), "€".repeat(21), "€".repeat(100_000)];
    for (const v of values) decodesTo(one((w) => w.str(v)), v);
  });

  it("bytes, dates, booleans, nil, arrays and maps", () => {
    for (const n of [0, 1, 255, 256, 65535, 65536]) decodesTo(one((w) => w.bin(new Uint8Array(n).fill(7))), new Uint8Array(n).fill(7));
    const dates = [0, 1000, 1, -1, -1000, 1_700_000_000_123, 2 ** 32 * 1000, 2 ** 34 * 1000 + 5, -62_135_596_800_000, 8.64e15];
    for (const ms of dates) decodesTo(one((w) => w.date(new Date(ms))), new Date(ms));
    let ok = true;
    expect(one((w) => (ok = w.date(new Date(Number.NaN)))).length).toBe(0);
    expect(ok).toBe(false);
    decodesTo(one((w) => (w.arrayHeader(3), w.bool(true), w.bool(false), w.nil())), [true, false, null]);
    for (const n of [0, 15, 16, 65535, 65536]) {
      decodesTo(
        one((w) => {
          w.arrayHeader(n);
          for (let i = 0; i < n; i++) w.num(i % 100);
        }),
        Array.from({ length: n }, (_, i) => i % 100),
      );
      const obj = Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));
      decodesTo(
        one((w) => {
          w.mapHeader(n);
          for (let i = 0; i < n; i++) {
            w.key(fieldKey(`k${i}`));
            w.num(i);
          }
        }),
        obj,
      );
    }
    decodesTo(one((w) => (w.arrayHeader(4), w.scalar("a"), w.scalar(2), w.scalar(true), w.scalar(null))), ["a", 2, true, null]);
  });

  it("round trips random values (fast-check)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 200 }), fc.double(), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }), fc.uint8Array({ maxLength: 300 }), (s, d, b, bytes) => {
        const msg = one((w) => {
          w.arrayHeader(4);
          w.str(s);
          w.num(d);
          w.bigint(b);
          w.bin(bytes);
        });
        const [s2, d2, b2, bytes2] = refDecode(msg, { useBigInt64: true }) as [string, number, bigint, Uint8Array];
        expect(s2).toBe(s);
        expect(Object.is(d2, d === 0 ? 0 : d) || (Number.isNaN(d) && Number.isNaN(d2))).toBe(true);
        expect(BigInt(b2)).toBe(b);
        expect([...bytes2]).toEqual([...bytes]);
      }),
      { numRuns: 300 },
    );
  });

  it("never overwrites a returned message, across chunk boundaries", () => {
    const kept: [Uint8Array, string][] = [];
    for (let i = 0; i < 300; i++) {
      const s = `${i}:`.padEnd(i * 37, "z");
      kept.push([one((w) => w.str(s)), s]);
    }
    const big = "y".repeat(200_000);
    kept.push([one((w) => w.str(big)), big]);
    for (const [bytes, s] of kept) expect(refDecode(bytes)).toBe(s);
  });
});
