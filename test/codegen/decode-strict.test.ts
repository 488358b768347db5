/**
 * Decoders are strict where leniency lets two peers disagree on what was sent (issue 9, item 8):
 * invalid UTF-8 is refused (it used to decode to U+FFFD, so distinct map keys collapsed into one
 * entry), as are map keys sent twice, timestamps with nanoseconds of 10^9 or more and times a Date
 * cannot hold (they used to decode to Invalid Dates), and Records decode into objects without a
 * prototype (a `constructor` or `hasOwnProperty` key used to shadow the object's methods).
 */
import { ExtData, encode as refEncode } from "@msgpack/msgpack";
import { describe, expect, it } from "vitest";
import { InvalidPayloadError, encodeMsgpack } from "tsgrid";
import { LockEventCodec } from "../../generated/locks.js";
import type { LockEvent } from "../../generated/locks.js";
import { DiskInfoCodec, DiskKind, FileInfoCodec } from "../../generated/storage.js";
import type { DiskInfo, FileInfo } from "../../generated/storage.js";

function invalid(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidPayloadError);
    return (err as InvalidPayloadError).rawMessage;
  }
  throw new Error("expected InvalidPayloadError");
}

/** `bytes` with the first occurrence of `from` replaced by `to` (same length). */
function patch(bytes: Uint8Array, from: number[], to: number[]): Uint8Array {
  const out = Uint8Array.from(bytes);
  for (let i = 0; i + from.length <= out.length; i++) {
    if (from.every((b, j) => out[i + j] === b)) {
      out.set(to, i);
      return out;
    }
  }
  throw new Error("pattern not found");
}

const disk = (): DiskInfo => ({
  id: "\u0001\u0002",
  total: 1,
  free: 1,
  used: 1n,
  healing: false,
  kind: DiskKind.Ssd,
  state: "ok",
  metrics: {},
  tags: [],
  checksum: new Uint8Array(0),
  since: new Date(0),
  lastError: null,
});

const file = (metadata: Map<string, string>): FileInfo => ({
  volume: "v",
  name: "n",
  isDir: false,
  size: 1n,
  modTime: new Date(0),
  parity: 2,
  parts: new Map(),
  metadata,
  dataDir: null,
});

describe("strings are valid UTF-8", () => {
  it("a string field of invalid UTF-8 is refused and named", () => {
    const bytes = patch(DiskInfoCodec.encode(disk()), [0xa2, 0x01, 0x02], [0xa2, 0xff, 0xfe]);
    expect(invalid(() => DiskInfoCodec.decode(bytes))).toBe("DiskInfo.id: expected string, got invalid UTF-8");
  });

  it("distinct invalid keys no longer collapse into one entry: refused", () => {
    const good = FileInfoCodec.encode(file(new Map([["\u0001", "a"], ["\u0002", "b"]])));
    const bad = patch(patch(good, [0xa1, 0x01], [0xa1, 0xff]), [0xa1, 0x02], [0xa1, 0xfe]);
    expect(invalid(() => FileInfoCodec.decode(bad))).toBe("FileInfo.metadata key: expected string, got invalid UTF-8");
  });

  it("a long string (decoded natively) and a truncated multi-byte sequence are refused too", () => {
    const long = "é".repeat(40);
    const bytes = DiskInfoCodec.encode({ ...disk(), id: long });
    const cut = patch(bytes, [0xc3, 0xa9, 0xc3, 0xa9], [0xc3, 0xc3, 0xa9, 0xa9]);
    expect(invalid(() => DiskInfoCodec.decode(cut))).toBe("DiskInfo.id: expected string, got invalid UTF-8");
  });

  it("a byte order mark is kept: \\uFEFFa and a are two keys", () => {
    const m = new Map([["\uFEFFa", "1"], ["a", "2"]]);
    expect(FileInfoCodec.decode(FileInfoCodec.encode(file(m))).metadata).toEqual(m);
  });

  it("the encoder writes a lone surrogate as U+FFFD (valid UTF-8), short and long strings alike", () => {
    for (const id of ["a\uD800b", `${"x".repeat(80)}\uDC00`]) {
      expect(DiskInfoCodec.decode(DiskInfoCodec.encode({ ...disk(), id })).id).toBe(id.replace(/[\uD800-\uDFFF]/, "\uFFFD"));
    }
  });
});

describe("map keys are sent once", () => {
  it("a Record or Map key sent twice is refused", () => {
    const rec = patch(DiskInfoCodec.encode({ ...disk(), metrics: { a: 1, b: 2 } }), [0xa1, 0x62], [0xa1, 0x61]);
    expect(invalid(() => DiskInfoCodec.decode(rec))).toBe('DiskInfo.metrics["a"]: duplicate key');
    const map = patch(FileInfoCodec.encode(file(new Map([["a", "1"], ["b", "2"]]))), [0xa1, 0x62], [0xa1, 0x61]);
    expect(invalid(() => FileInfoCodec.decode(map))).toBe('FileInfo.metadata["a"]: duplicate key');
  });

  it("numeric Map keys sent as 1 and as \"1\" are one key: refused", () => {
    const bytes = encodeMsgpack({ ...file(new Map()), parts: { "1": { number: 1, size: 1, etag: "e" } } });
    const twice = encodeMsgpack({ ...file(new Map()), size: 1, modTime: new Date(0), parts: new Map<unknown, unknown>([[1, { number: 1, size: 1, etag: "e" }], ["1", { number: 1, size: 1, etag: "e" }]]) });
    expect(FileInfoCodec.decode(bytes).parts.get(1)?.etag).toBe("e");
    expect(invalid(() => FileInfoCodec.decode(twice))).toBe("FileInfo.parts[1]: duplicate key");
  });
});

describe("timestamps are Dates", () => {
  const event = (time: unknown): Uint8Array =>
    refEncode({ seq: 1, kind: "lock", resource: "r", uid: "u", owner: "o", time }, { useBigInt64: true });
  const ts64 = (nanos: number, seconds: number): ExtData => {
    const b = new Uint8Array(8);
    const v = new DataView(b.buffer);
    v.setUint32(0, nanos * 4 + Math.floor(seconds / 2 ** 32));
    v.setUint32(4, seconds >>> 0);
    return new ExtData(-1, b);
  };
  const ts96 = (nanos: number, seconds: bigint): ExtData => {
    const b = new Uint8Array(12);
    const v = new DataView(b.buffer);
    v.setUint32(0, nanos);
    v.setBigInt64(4, seconds);
    return new ExtData(-1, b);
  };

  it("valid timestamps of every format decode", () => {
    expect(LockEventCodec.decode(event(ts64(999_999_999, 5))).time.getTime()).toBe(5999);
    expect(LockEventCodec.decode(event(ts96(500_000_000, -2n))).time.getTime()).toBe(-1500);
    expect(LockEventCodec.decode(event(ts96(0, 8_640_000_000_000n))).time.getTime()).toBe(8.64e15);
  });

  it("nanoseconds of 10^9 or more are refused (timestamp 64 and 96)", () => {
    expect(invalid(() => LockEventCodec.decode(event(ts64(1_000_000_000, 5))))).toBe(
      "LockEvent.time: expected Date, got a timestamp with 1000000000 nanoseconds (at most 999999999)",
    );
    expect(invalid(() => LockEventCodec.decode(event(ts96(4_000_000_000, 1n))))).toBe(
      "LockEvent.time: expected Date, got a timestamp with 4000000000 nanoseconds (at most 999999999)",
    );
  });

  it("a time a Date cannot hold is refused, not decoded as an Invalid Date", () => {
    expect(invalid(() => LockEventCodec.decode(event(ts96(0, 8_640_000_000_001n))))).toBe(
      "LockEvent.time: expected Date, got a timestamp outside the range of Date (8640000000001 s)",
    );
    expect(invalid(() => LockEventCodec.decode(event(ts96(0, -(2n ** 62n)))))).toMatch(/^LockEvent\.time: expected Date, got a timestamp outside the range of Date/);
  });

  it("what an encoder writes for the extreme Dates decodes back", () => {
    for (const ms of [8.64e15, -8.64e15, 0, -1]) {
      const e: LockEvent = { seq: 1, kind: "lock", resource: "r", uid: "u", owner: "o", time: new Date(ms) };
      expect(LockEventCodec.decode(LockEventCodec.encode(e)).time.getTime()).toBe(ms);
    }
  });
});

describe("Records decode into objects without a prototype", () => {
  it("keys named like Object.prototype's members are plain entries and shadow nothing", () => {
    const metrics = { constructor: 1, hasOwnProperty: 2, toString: 3, valueOf: 4 };
    const back = DiskInfoCodec.decode(encodeMsgpack({ ...disk(), metrics })).metrics;
    expect(Object.getPrototypeOf(back)).toBe(null);
    expect({ ...back }).toEqual(metrics);
    expect(Object.keys(back)).toEqual(["constructor", "hasOwnProperty", "toString", "valueOf"]);
    expect(Object.hasOwn(back, "toString")).toBe(true);
  });

  it("a key that was not sent is absent, whatever its name", () => {
    const back = DiskInfoCodec.decode(encodeMsgpack({ ...disk(), metrics: { a: 1 } })).metrics;
    for (const k of ["constructor", "hasOwnProperty", "toString", "__proto__", "isPrototypeOf"]) {
      expect(back[k]).toBeUndefined();
      expect(k in back).toBe(false);
    }
  });

  it("a __proto__ key is still refused (copying such a record with Object.assign would set a prototype)", () => {
    const bytes = patch(DiskInfoCodec.encode({ ...disk(), metrics: { __proto_x: 1 } }), [0x5f, 0x78], [0x5f, 0x5f]);
    expect(invalid(() => DiskInfoCodec.decode(bytes))).toBe('DiskInfo.metrics: expected a key other than __proto__, got "__proto__"');
  });

  it("a decoded Record encodes again", () => {
    const back = DiskInfoCodec.decode(encodeMsgpack({ ...disk(), metrics: { constructor: 1 } }));
    expect({ ...DiskInfoCodec.decode(DiskInfoCodec.encode(back)).metrics }).toEqual({ constructor: 1 });
  });
});
