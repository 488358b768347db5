/**
 * The generated codecs of schemas/: round trips, validation errors naming the path, schema
 * evolution rules (unknown fields ignored, optional fields may be missing), and interop with an
 * independent msgpack implementation (@msgpack/msgpack) in both directions.
 */
import { decode as refDecode, encode as refEncode } from "@msgpack/msgpack";
import fc from "fast-check";
import { Packr } from "msgpackr";
import { describe, expect, it } from "vitest";
import { InvalidPayloadError, MsgpackReader, encodeMsgpack } from "tsgrid";
import { LockArgsCodec, LockEventCodec, LockEventFilterCodec, LockReplyCodec } from "../../generated/locks.js";
import type { LockEvent } from "../../generated/locks.js";
import { DiskInfoCodec, DiskKind, FileInfoCodec, RenameOpCodec, StorageClass, WriteFileRequestCodec } from "../../generated/storage.js";
import type { DiskInfo, FileInfo } from "../../generated/storage.js";

const diskInfo = (): DiskInfo => ({
  id: "disk-1",
  total: 2 ** 40,
  free: 123.5,
  used: 2n ** 60n,
  healing: false,
  endpoint: "http://node1:9000/disk1",
  kind: DiskKind.Nvme,
  state: "healing",
  metrics: { reads: 10, writes: 20.5 },
  tags: ["a", "b"],
  checksum: new Uint8Array([1, 2, 3, 255]),
  since: new Date(1_700_000_000_123),
  lastError: null,
});

const fileInfo = (): FileInfo => ({
  volume: "bucket",
  name: "a/b.txt",
  isDir: false,
  size: 5n,
  modTime: new Date(1_600_000_000_000),
  parity: 4,
  storageClass: StorageClass.ReducedRedundancy,
  parts: new Map([
    [1, { number: 1, size: 10n, etag: "x" }],
    [2, { number: 2, size: 2n ** 63n - 1n, etag: "y" }],
  ]),
  metadata: new Map([["content-type", "text/plain"]]),
  dataDir: null,
  inline: new Uint8Array([9, 8, 7]),
});

/** What a decoded value must equal: Uint8Array views compared by content. */
function normalise(v: unknown): unknown {
  if (v instanceof Uint8Array) return [...v];
  if (v instanceof Map) return new Map([...v].map(([k, x]) => [k, normalise(x)]));
  if (Array.isArray(v)) return v.map(normalise);
  if (v instanceof Date || v === null || typeof v !== "object") return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalise(x)]));
}

function invalid(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidPayloadError);
    return (err as InvalidPayloadError).rawMessage;
  }
  throw new Error("expected InvalidPayloadError");
}

describe("round trip", () => {
  it("every supported type survives encode + decode", () => {
    const d = diskInfo();
    expect(normalise(DiskInfoCodec.decode(DiskInfoCodec.encode(d)))).toEqual(normalise(d));
    const f = fileInfo();
    const back = FileInfoCodec.decode(FileInfoCodec.encode(f));
    expect(back.parts).toBeInstanceOf(Map);
    expect(back.parts.get(2)?.size).toBe(2n ** 63n - 1n);
    expect(back.parts.get(1)?.size).toBe(10n);
    expect(back.metadata.get("content-type")).toBe("text/plain");
    expect(normalise(back)).toEqual(normalise(f));
    const e: LockEvent = { seq: 7, kind: "force-unlock", resource: "r", uid: "u", owner: "o", time: new Date(5) };
    expect(LockEventCodec.decode(LockEventCodec.encode(e))).toEqual(e);
  });

  it("imports between schemas: a nested message from another file is validated by its own codec", () => {
    const op = { srcVolume: "a", src: "x", dstVolume: "b", dst: "y", lock: { resources: ["x"], uid: "u", owner: "n1", quorum: 2 } };
    expect(RenameOpCodec.decode(RenameOpCodec.encode(op))).toEqual(op);
    const bad = encodeMsgpack({ ...op, lock: { ...op.lock, resources: ["x", 3] } });
    expect(invalid(() => RenameOpCodec.decode(bad))).toBe("RenameOp.lock.resources[1]: expected string, got number");
  });

  it("decoded bytes do not alias the message buffer", () => {
    const buf = DiskInfoCodec.encode(diskInfo());
    const copy = new Uint8Array(buf);
    const d = DiskInfoCodec.decode(copy);
    copy.fill(0);
    expect([...d.checksum]).toEqual([1, 2, 3, 255]);
  });

  it("messages at any offset of a shared buffer (frames of one WebSocket message), small or large, decode to themselves", () => {
    const a = DiskInfoCodec.encode(diskInfo());
    const b = FileInfoCodec.encode(fileInfo());
    // The reader keeps views of a buffer up to 1 MiB between decodes, and takes fresh views of a larger one.
    for (const size of [4096, 2 * 1024 * 1024]) {
      const shared = new Uint8Array(size);
      const at = [3, 1000, size - b.length - a.length - 1];
      shared.set(a, at[0]!);
      shared.set(b, at[1]!);
      shared.set(a, at[2]!);
      shared.set(b, at[2]! + a.length);
      for (let round = 0; round < 2; round++) {
        expect(DiskInfoCodec.decode(shared.subarray(at[0]!, at[0]! + a.length))).toEqual(diskInfo());
        expect(FileInfoCodec.decode(shared.subarray(at[1]!, at[1]! + b.length))).toEqual(fileInfo());
        expect(DiskInfoCodec.decode(shared.subarray(at[2]!, at[2]! + a.length))).toEqual(diskInfo());
        expect(FileInfoCodec.decode(Buffer.from(shared.buffer, at[2]! + a.length, b.length))).toEqual(fileInfo());
        // A view that ends early is truncated, whatever follows it in the buffer.
        expect(() => DiskInfoCodec.decode(shared.subarray(at[0]!, at[0]! + a.length - 1))).toThrow(InvalidPayloadError);
      }
      // A reader used directly (no release between messages) reads each one where it is.
      const r = new MsgpackReader();
      for (const [pos, codec, expected] of [[at[0]!, DiskInfoCodec, diskInfo()], [at[1]!, FileInfoCodec, fileInfo()], [at[2]!, DiskInfoCodec, diskInfo()]] as const) {
        r.reset(shared.subarray(pos, pos + (codec === DiskInfoCodec ? a : b).length));
        expect((codec.read as (r: MsgpackReader) => unknown)(r)).toEqual(expected);
        expect(r.atEnd()).toBe(true);
      }
    }
  });
});

describe("decoder fast paths", () => {
  const str8 = (s: string): number[] => [0xd9, s.length, ...Buffer.from(s)];
  const fixstr = (s: string): number[] => [0xa0 | s.length, ...Buffer.from(s)];

  it("a field name sent with a longer header than needed (str8) is still that field", () => {
    // Fields are matched with their encoder's header first; any other encoding of the name matches too.
    const bytes = new Uint8Array([0x84, ...str8("quorum"), 3, ...fixstr("uid"), ...fixstr("u"), ...str8("resources"), 0x91, ...str8("r"), ...str8("owner"), ...fixstr("o")]);
    expect(LockArgsCodec.decode(bytes)).toEqual({ resources: ["r"], uid: "u", owner: "o", quorum: 3 });
  });

  it("arrays of any length decode (presized up to 1024 elements, grown beyond)", () => {
    for (const n of [0, 1, 1024, 1025, 5000]) {
      const v = { resources: Array.from({ length: n }, (_, i) => `r${i}`), uid: "u", owner: "o", quorum: n };
      const d = LockArgsCodec.decode(LockArgsCodec.encode(v));
      expect(d).toEqual(v);
      expect(Object.keys(d.resources)).toHaveLength(n); // no holes
    }
    // A header that claims more elements than follow is refused, presized or not.
    for (const n of [3, 2000]) {
      const bytes = LockArgsCodec.encode({ resources: Array.from({ length: n }, () => "r"), uid: "u", owner: "o", quorum: 1 });
      const first = bytes.indexOf(0xa1); // the first element: fixstr "r" (the keys are longer)
      expect(() => LockArgsCodec.decode(bytes.subarray(0, first + 2))).toThrow(/malformed msgpack/);
    }
  });
});

describe("validation", () => {
  const enc = (v: unknown): Uint8Array => encodeMsgpack(v);
  const cases: [string, Record<string, unknown>, string][] = [
    ["record value", { metrics: { a: "x" } }, 'DiskInfo.metrics["a"]: expected number, got string'],
    ["missing field", { id: undefined }, "DiskInfo.id: expected string, got null"],
    ["array element", { tags: ["a", 1] }, "DiskInfo.tags[1]: expected string, got number"],
    ["array", { tags: "a" }, "DiskInfo.tags: expected string[], got string"],
    ["string literal union", { state: "broken" }, 'DiskInfo.state: expected "ok" | "offline" | "healing", got "broken"'],
    ["numeric enum", { kind: 9 }, "DiskInfo.kind: expected DiskKind (0 | 1 | 2 | 3), got 9"],
    ["bigint", { used: 1.5 }, "DiskInfo.used: expected bigint, got number"],
    ["bytes", { checksum: "abc" }, "DiskInfo.checksum: expected Uint8Array, got string"],
    ["date", { since: 12 }, "DiskInfo.since: expected Date, got number"],
    ["nullable", { lastError: 3 }, "DiskInfo.lastError: expected string | null, got number"],
    ["optional", { endpoint: 1 }, "DiskInfo.endpoint: expected string, got number"],
    ["boolean", { healing: "no" }, "DiskInfo.healing: expected boolean, got string"],
  ];
  for (const [name, patch, message] of cases) {
    it(`names the path: ${name}`, () => {
      expect(invalid(() => DiskInfoCodec.decode(enc({ ...diskInfo(), ...patch })))).toBe(message);
    });
  }

  it("names paths inside maps and number literal unions", () => {
    const f = { ...fileInfo(), parts: { "1": { number: 1, size: 1, etag: 5 } } };
    expect(invalid(() => FileInfoCodec.decode(enc(f)))).toBe("FileInfo.parts[1].etag: expected string, got number");
    const g = { ...fileInfo(), parts: { x: { number: 1, size: 1, etag: "e" } } };
    expect(invalid(() => FileInfoCodec.decode(enc(g)))).toBe('FileInfo.parts["x"]: expected number, got "x"');
    expect(invalid(() => FileInfoCodec.decode(enc({ ...fileInfo(), parity: 5 })))).toBe("FileInfo.parity: expected 2 | 3 | 4, got 5");
    expect(invalid(() => FileInfoCodec.decode(enc({ ...fileInfo(), storageClass: "GLACIER" })))).toBe(
      'FileInfo.storageClass: expected StorageClass ("STANDARD" | "REDUCED_REDUNDANCY"), got "GLACIER"',
    );
    expect(invalid(() => FileInfoCodec.decode(enc({ ...fileInfo(), metadata: [] })))).toBe(
      "FileInfo.metadata: expected Map<string, string>, got array",
    );
  });

  it("rejects a message that is not a map, malformed msgpack, trailing bytes and a missing payload", () => {
    expect(invalid(() => LockArgsCodec.decode(enc([1, 2])))).toBe("LockArgs: expected LockArgs, got array");
    expect(invalid(() => LockArgsCodec.decode(enc(new Date())))).toBe("LockArgs: expected LockArgs, got Date");
    expect(invalid(() => LockArgsCodec.decode(new Uint8Array([0xc1])))).toMatch(/^LockArgs: /);
    expect(invalid(() => LockArgsCodec.decode(new Uint8Array([0xde, 0xff])))).toMatch(/^LockArgs: malformed msgpack/);
    expect(invalid(() => LockArgsCodec.decode(new Uint8Array([0x80, 0x80])))).toBe("LockArgs.resources: expected string[], got undefined");
    expect(invalid(() => LockArgsCodec.decode(LockArgsCodec.encode({ resources: [], uid: "u", owner: "o", quorum: 1 }).slice(0, -1)))).toMatch(
      /^LockArgs: malformed msgpack/,
    );
    const whole = LockArgsCodec.encode({ resources: [], uid: "u", owner: "o", quorum: 1 });
    expect(invalid(() => LockArgsCodec.decode(new Uint8Array([...whole, 0xc0])))).toBe("LockArgs: malformed msgpack (bytes after the message)");
    expect(invalid(() => LockArgsCodec.decode(new Uint8Array()))).toMatch(/^LockArgs: malformed msgpack/);
    expect(invalid(() => LockArgsCodec.decode(undefined))).toBe("LockArgs: missing payload");
  });

  it("ignores unknown fields and accepts missing or nil optional fields (compatible evolution)", () => {
    const v = LockArgsCodec.decode(enc({ resources: [], uid: "u", owner: "o", quorum: 1, addedLater: { x: 1 } }));
    expect(v.source).toBeUndefined();
    const r = LockReplyCodec.decode(enc({ ok: true, reason: null, holder: null }));
    expect(r).toMatchObject({ ok: true, reason: undefined, holder: null });
    const f = LockEventFilterCodec.decode(enc({}));
    expect(f.kinds).toBeUndefined();
    expect(invalid(() => LockEventFilterCodec.decode(enc({ kinds: ["lock", "nope"] })))).toBe(
      'LockEventFilter.kinds[1]: expected "lock" | "rlock" | "unlock" | "runlock" | "refresh" | "expire" | "force-unlock", got "nope"',
    );
  });

  it("names a 64-bit integer beyond 2^53 in a number field a bigint", () => {
    const big = refEncode({ seq: 2n ** 60n, kind: "lock", resource: "r", uid: "u", owner: "o", time: new Date(1) }, { useBigInt64: true });
    expect(invalid(() => LockEventCodec.decode(big))).toBe("LockEvent.seq: expected number, got bigint");
  });

  it("accepts integers for bigint fields and keeps precision beyond 2^53", () => {
    const w = WriteFileRequestCodec.decode(enc({ volume: "v", path: "p", size: 7 }));
    expect(w.size).toBe(7n);
    const big = WriteFileRequestCodec.decode(enc({ volume: "v", path: "p", size: 2n ** 62n + 1n }));
    expect(big.size).toBe(2n ** 62n + 1n);
  });

  it("never throws anything but InvalidPayloadError on random bytes", () => {
    let seed = 42;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 256);
    const valid = DiskInfoCodec.encode(diskInfo());
    for (let n = 0; n < 2000; n++) {
      const b = new Uint8Array(valid);
      for (let k = 0; k < 3; k++) b[rnd() % b.length] = rnd();
      try {
        DiskInfoCodec.decode(b.subarray(0, b.length - (n % 3)));
      } catch (err) {
        expect(err).toBeInstanceOf(InvalidPayloadError);
      }
    }
  });
});

describe("unknown fields of any shape are skipped", () => {
  it("whatever another library writes in an unknown field (fast-check)", () => {
    const event = { seq: 3, kind: "lock", resource: "r", uid: "u", owner: "o", time: new Date(1234) };
    const value = fc.letrec((tie) => ({
      any: fc.oneof(
        { depthSize: "small" },
        fc.string(),
        fc.double(),
        fc.integer(),
        fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
        fc.boolean(),
        fc.constant(null),
        fc.uint8Array({ maxLength: 300 }),
        fc.date({ noInvalidDate: true }),
        fc.array(tie("any"), { maxLength: 20 }),
        fc.dictionary(fc.string(), tie("any"), { maxKeys: 20 }),
      ),
    })).any;
    fc.assert(
      fc.property(value, value, (before, after) => {
        const bytes = refEncode({ unknownFirst: before, ...event, unknownLast: after }, { useBigInt64: true });
        expect(LockEventCodec.decode(bytes)).toEqual(event);
      }),
      { numRuns: 300 },
    );
  });
});

describe("random values written by other encoders (fast-check)", () => {
  it("strings, numbers, dates, bigints and bytes of every size and format decode to themselves", () => {
    const packr = new Packr({ useRecords: false });
    fc.assert(
      fc.property(
        fc.record({
          seq: fc.oneof(fc.double({ noNaN: true }), fc.integer(), fc.maxSafeInteger()),
          resource: fc.string({ unit: "grapheme", maxLength: 300 }),
          uid: fc.string({ maxLength: 40 }),
          owner: fc.string({ unit: "binary", maxLength: 70 }),
          time: fc.date({ noInvalidDate: true, min: new Date(-8.64e15), max: new Date(8.64e15) }),
        }),
        fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
        fc.uint8Array({ maxLength: 70_000 }),
        (e, used, bytes) => {
          // -0 is written as the integer 0 by every encoder.
          const event = { ...e, seq: e.seq === 0 ? 0 : e.seq, kind: "lock" as const };
          expect(LockEventCodec.decode(refEncode(event))).toEqual(event);
          expect(LockEventCodec.decode(packr.pack(event))).toEqual(event);
          const d = { ...diskInfo(), used, checksum: bytes };
          const back = DiskInfoCodec.decode(refEncode(d, { useBigInt64: true }));
          expect(back.used).toBe(used);
          expect(Buffer.from(back.checksum).equals(Buffer.from(bytes))).toBe(true);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe("interop with @msgpack/msgpack", () => {
  it("what a generated encoder writes decodes to the expected plain object", () => {
    const d = refDecode(DiskInfoCodec.encode(diskInfo()), { useBigInt64: true }) as Record<string, unknown>;
    expect(normalise(d)).toEqual({
      id: "disk-1",
      total: 2 ** 40,
      free: 123.5,
      used: 2n ** 60n,
      healing: false,
      endpoint: "http://node1:9000/disk1",
      kind: 3,
      state: "healing",
      metrics: { reads: 10, writes: 20.5 },
      tags: ["a", "b"],
      checksum: [1, 2, 3, 255],
      since: new Date(1_700_000_000_123),
      lastError: null,
    });
    expect(d.checksum).toBeInstanceOf(Uint8Array);
    const f = refDecode(FileInfoCodec.encode(fileInfo()), { useBigInt64: true }) as Record<string, unknown>;
    expect(f.parts).toEqual({ 1: { number: 1, size: 10n, etag: "x" }, 2: { number: 2, size: 2n ** 63n - 1n, etag: "y" } });
    expect(f.metadata).toEqual({ "content-type": "text/plain" });
    expect(f.size).toBe(5n);
    expect(f.storageClass).toBe("REDUCED_REDUNDANCY");
    expect(normalise(f.inline)).toEqual([9, 8, 7]);
  });

  it("an object encoded by @msgpack/msgpack decodes through the generated decoder", () => {
    const src = { ...diskInfo(), extra: { nested: [1, "x", null, { deep: new Uint8Array(3) }] } };
    const d = DiskInfoCodec.decode(refEncode(src, { useBigInt64: true }));
    expect(normalise(d)).toEqual(normalise(diskInfo()));
    expect("extra" in d).toBe(false);
    // Without useBigInt64 the library writes integers: still a bigint after decoding.
    const plain = refEncode({ ...fileInfo(), size: 5, parts: { 1: { number: 1, size: 10, etag: "x" } }, metadata: { k: "v" } });
    const f = FileInfoCodec.decode(plain);
    expect(f.size).toBe(5n);
    expect(f.parts.get(1)).toEqual({ number: 1, size: 10n, etag: "x" });
    expect(f.metadata).toEqual(new Map([["k", "v"]]));
    // A 64-bit integer from the library in a `number` field decodes as a number.
    const e = LockEventCodec.decode(refEncode({ seq: 2 ** 40, kind: "lock", resource: "r", uid: "u", owner: "o", time: new Date(1) }));
    expect(e.seq).toBe(2 ** 40);
  });
});

describe("recursive types", () => {
  it("round trip, and a payload nested deeper than the stack is an InvalidPayloadError", async () => {
    const { TreeCodec } = await import("./fixtures/golden/recursive/out/tree.js");
    const leaf = { name: "leaf", children: [], index: new Map() };
    const tree = { name: "root", children: [leaf], parent: null, index: new Map([["leaf", leaf]]) };
    expect(TreeCodec.decode(TreeCodec.encode(tree))).toEqual(tree);

    const key = (s: string): number[] => [0xa0 | s.length, ...new TextEncoder().encode(s)];
    const head = [0xde, 0, 3, ...key("name"), ...key("x"), ...key("children"), 0x91];
    const tail = [...key("index"), 0x80];
    const innermost = [0xde, 0, 3, ...key("name"), ...key("x"), ...key("children"), 0x90, ...tail];
    for (const depth of [1_000, 200_000]) {
      const bytes = new Uint8Array(depth * (head.length + tail.length) + innermost.length);
      let p = 0;
      for (let i = 0; i < depth; i++) for (const b of head) bytes[p++] = b;
      for (const b of innermost) bytes[p++] = b;
      for (let i = 0; i < depth; i++) for (const b of tail) bytes[p++] = b;
      const run = (): unknown => TreeCodec.decode(bytes);
      if (depth === 1_000) expect((run() as { name: string }).name).toBe("x");
      else expect(invalid(run)).toMatch(/^Tree: /);
    }
  });
});
