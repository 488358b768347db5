import { crc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import { GridError, ProtocolError } from "../../runtime/errors.js";
import {
  decodeFrameAt,
  decodeMessage,
  emptyFrame,
  encodeFrame,
  encodeFrameInto,
  encodeSubroute,
  Flag,
  frameSize,
  HEADER_SIZE,
  MAX_HANDLER_ID,
  MAX_U32,
  Op,
  opName,
  type DecodeLimits,
  type Frame,
} from "../../runtime/protocol/frame.js";

const limits: DecodeLimits = { maxPayloadBytes: 1 << 20 };
const allOps: readonly Op[] = Object.values(Op);
/** Flags the caller sets; HasSubroute and NoPayload are derived by the encoder. */
const callerFlags = [Flag.EOF, Flag.PayloadIsError, Flag.Checksum] as const;

function frame(fields: Partial<Frame>): Frame {
  return { ...emptyFrame(), ...fields };
}

/** Every frame decodeMessage delivers, copied out of the reused `out` object. */
function decodeAll(message: Uint8Array, decodeLimits: DecodeLimits = limits): Frame[] {
  const frames: Frame[] = [];
  decodeMessage(message, decodeLimits, emptyFrame(), (f) => frames.push({ ...f }));
  return frames;
}

function decodeOne(message: Uint8Array, decodeLimits: DecodeLimits = limits): Frame {
  const frames = decodeAll(message, decodeLimits);
  expect(frames).toHaveLength(1);
  return frames[0]!;
}

/** The flags the encoder puts on the wire for `f`. */
function wireFlags(f: Frame): number {
  let flags = f.flags & ~(Flag.HasSubroute | Flag.NoPayload);
  if (f.subroute !== undefined) flags |= Flag.HasSubroute;
  if (f.payload === undefined) flags |= Flag.NoPayload;
  return flags;
}

function expectSameFrame(decoded: Frame, sent: Frame): void {
  expect(decoded.op).toBe(sent.op);
  expect(decoded.flags).toBe(wireFlags(sent));
  expect(decoded.handler).toBe(sent.handler);
  expect(decoded.muxId).toBe(sent.muxId);
  expect(decoded.seq).toBe(sent.seq);
  expect(decoded.deadlineMs).toBe(sent.deadlineMs);
  expect(decoded.subroute).toBe(sent.subroute);
  if (sent.payload === undefined) {
    expect(decoded.payload).toBeUndefined();
  } else {
    expect(decoded.payload).toBeInstanceOf(Uint8Array);
    expect(Array.from(decoded.payload!)).toEqual(Array.from(sent.payload));
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.byteLength;
  }
  return out;
}

/** A Merged frame holding `frames`, declaring `count` of them (default: the true count). */
function merged(frames: readonly Frame[], count = frames.length, flags = 0): Uint8Array {
  return encodeFrame(frame({ op: Op.Merged, flags, seq: count, payload: concat(frames.map(encodeFrame)) }));
}

/** Asserts `fn` throws a ProtocolError (and nothing else) whose message matches `message`. */
function expectProtocolError(fn: () => unknown, message: RegExp): ProtocolError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, "expected a ProtocolError to be thrown").toBeInstanceOf(ProtocolError);
  const err = caught as ProtocolError;
  expect(err).toBeInstanceOf(GridError);
  expect(err.code).toBe("protocol");
  expect(err.message).toMatch(/^\[protocol\] /);
  expect(err.rawMessage).toMatch(message);
  return err;
}

const bytes = (...values: number[]) => Uint8Array.from(values);

describe("frame layout", () => {
  it("writes the documented little-endian header", () => {
    const encoded = encodeFrame(
      frame({
        op: Op.Request,
        flags: Flag.EOF,
        handler: 0x0102,
        muxId: 0x03040506,
        seq: 0x0708090a,
        deadlineMs: 0x0b0c0d0e,
        payload: bytes(0xaa, 0xbb),
      }),
    );
    expect(Array.from(encoded)).toEqual([
      Op.Request, Flag.EOF,
      0x02, 0x01,
      0x06, 0x05, 0x04, 0x03,
      0x0a, 0x09, 0x08, 0x07,
      0x0e, 0x0d, 0x0c, 0x0b,
      2, 0, 0, 0,
      0xaa, 0xbb,
    ]);
  });

  it("puts the subroute (u8 length + UTF-8) after the header and before the payload", () => {
    const encoded = encodeFrame(frame({ op: Op.Request, subroute: "ab", payload: bytes(9) }));
    expect(encoded[1]).toBe(Flag.HasSubroute);
    expect(Array.from(encoded.subarray(HEADER_SIZE))).toEqual([2, 0x61, 0x62, 9]);
  });

  it("appends a CRC32 (zlib) of every byte before it", () => {
    const encoded = encodeFrame(frame({ op: Op.Response, flags: Flag.Checksum, subroute: "s", payload: bytes(1, 2, 3) }));
    const body = encoded.subarray(0, encoded.byteLength - 4);
    const view = new DataView(encoded.buffer, encoded.byteOffset, encoded.byteLength);
    expect(view.getUint32(encoded.byteLength - 4, true)).toBe(crc32(body));
  });

  it("frameSize is the encoded length", () => {
    for (const f of [
      frame({}),
      frame({ payload: new Uint8Array(0) }),
      frame({ payload: new Uint8Array(7), subroute: "xyz", flags: Flag.Checksum }),
    ]) {
      const sub = f.subroute === undefined ? undefined : encodeSubroute(f.subroute);
      expect(frameSize(f, sub)).toBe(encodeFrame(f).byteLength);
    }
  });

  it("encodeFrameInto writes at an offset of a larger buffer and returns the end", () => {
    const f = frame({ op: Op.MuxServerMsg, flags: Flag.Checksum, muxId: 7, seq: 3, payload: bytes(1, 2) });
    const size = frameSize(f, undefined);
    const buf = new Uint8Array(5 + size + 3).fill(0xee);
    const view = new DataView(buf.buffer);
    expect(encodeFrameInto(buf, view, 5, f, undefined)).toBe(5 + size);
    expect(Array.from(buf.subarray(0, 5))).toEqual([0xee, 0xee, 0xee, 0xee, 0xee]);
    expect(Array.from(buf.subarray(5 + size))).toEqual([0xee, 0xee, 0xee]);
    expect(Array.from(buf.subarray(5, 5 + size))).toEqual(Array.from(encodeFrame(f)));
    const out = emptyFrame();
    expect(decodeFrameAt(buf, 5, limits, out)).toBe(5 + size);
    expectSameFrame(out, f);
  });

  it("names ops, and unknown ones by number", () => {
    expect(opName(Op.Connect)).toBe("Connect");
    expect(opName(Op.Merged)).toBe("Merged");
    expect(opName(0)).toBe("op(0)");
    expect(opName(99)).toBe("op(99)");
  });

  it("emptyFrame returns a fresh zeroed object each time", () => {
    const a = emptyFrame();
    a.muxId = 5;
    expect(emptyFrame().muxId).toBe(0);
    expect(emptyFrame().payload).toBeUndefined();
  });
});

describe("round trip", () => {
  it("every op with every caller flag combination, with and without subroute and payload", () => {
    let cases = 0;
    for (const op of allOps) {
      if (op === Op.Merged) continue; // decodeMessage unpacks it; covered below
      for (let mask = 0; mask < 1 << callerFlags.length; mask++) {
        const flags = callerFlags.reduce((acc, bit, i) => ((mask >> i) & 1 ? acc | bit : acc), 0);
        for (const subroute of [undefined, "bucket/object"]) {
          for (const payload of [undefined, new Uint8Array(0), bytes(1, 2, 3, 255)]) {
            const f = frame({ op, flags, handler: 42, muxId: 1000 + op, seq: mask, deadlineMs: 60_000, subroute, payload });
            expectSameFrame(decodeOne(encodeFrame(f)), f);
            cases++;
          }
        }
      }
    }
    expect(cases).toBe((allOps.length - 1) * 8 * 2 * 3);
  });

  it("Merged itself round trips through decodeFrameAt", () => {
    const f = frame({ op: Op.Merged, flags: Flag.Checksum, seq: 2, payload: bytes(1, 2, 3) });
    const encoded = encodeFrame(f);
    const out = emptyFrame();
    expect(decodeFrameAt(encoded, 0, limits, out)).toBe(encoded.byteLength);
    expectSameFrame(out, f);
  });

  it("keeps the extreme values of every header field", () => {
    for (const value of [0, 1, MAX_U32]) {
      const f = frame({ op: Op.Request, handler: Math.min(value, MAX_HANDLER_ID), muxId: value, seq: value, deadlineMs: value, payload: bytes() });
      expectSameFrame(decodeOne(encodeFrame(f)), f);
    }
  });

  it("derives HasSubroute and NoPayload from the frame, whatever the caller set", () => {
    const lying = frame({ op: Op.Request, flags: Flag.HasSubroute | Flag.NoPayload, payload: bytes(1) });
    const decoded = decodeOne(encodeFrame(lying));
    expect(decoded.flags).toBe(0);
    expect(decoded.subroute).toBeUndefined();
    expect(Array.from(decoded.payload!)).toEqual([1]);
    const omitted = decodeOne(encodeFrame(frame({ op: Op.Ping, subroute: "r" })));
    expect(omitted.flags).toBe(Flag.HasSubroute | Flag.NoPayload);
  });

  it("resets the subroute of a reused decode target", () => {
    const out = emptyFrame();
    const withSub = encodeFrame(frame({ op: Op.Request, subroute: "a", payload: bytes(1) }));
    const without = encodeFrame(frame({ op: Op.Request, payload: bytes(2) }));
    decodeFrameAt(withSub, 0, limits, out);
    expect(out.subroute).toBe("a");
    decodeFrameAt(without, 0, limits, out);
    expect(out.subroute).toBeUndefined();
  });
});

describe("payload: empty vs none", () => {
  it("an empty payload decodes as a zero-length Uint8Array", () => {
    const decoded = decodeOne(encodeFrame(frame({ op: Op.Response, payload: new Uint8Array(0) })));
    expect(decoded.flags & Flag.NoPayload).toBe(0);
    expect(decoded.payload).toBeInstanceOf(Uint8Array);
    expect(decoded.payload!.byteLength).toBe(0);
  });

  it("no payload decodes as undefined, with NoPayload on the wire", () => {
    const encoded = encodeFrame(frame({ op: Op.Response }));
    expect(encoded.byteLength).toBe(HEADER_SIZE);
    expect(encoded[1]).toBe(Flag.NoPayload);
    expect(decodeOne(encoded).payload).toBeUndefined();
  });

  it("rejects NoPayload with a non-zero length", () => {
    const encoded = encodeFrame(frame({ op: Op.Response, payload: bytes(1, 2) }));
    encoded[1] = Flag.NoPayload;
    expectProtocolError(() => decodeAll(encoded), /NoPayload set but a length of 2/);
  });
});

describe("subroute", () => {
  it.each([
    ["1 byte", "x"],
    ["255 bytes", "r".repeat(255)],
    ["multi-byte UTF-8", "bücket/オブジェクト/🪣"],
    ["255 bytes of 3-byte characters", "あ".repeat(85)],
    ["a leading BOM (TextDecoder strips it by default)", "\uFEFFroute"],
    ["a lone BOM", "\uFEFF"],
  ])("round trips %s", (_name, subroute) => {
    const f = frame({ op: Op.ConnectMux, handler: 3, subroute, payload: bytes(7) });
    expectSameFrame(decodeOne(encodeFrame(f)), f);
  });

  it.each([
    ["0 bytes", ""],
    ["256 bytes", "r".repeat(256)],
    ["256 bytes of multi-byte characters", "é".repeat(128)],
  ])("refuses to encode %s", (_name, subroute) => {
    expectProtocolError(() => encodeSubroute(subroute), /subroute must be 1\.\.255 UTF-8 bytes/);
    expectProtocolError(() => encodeFrame(frame({ op: Op.Request, subroute })), /subroute must be 1\.\.255 UTF-8 bytes/);
  });

  it("rejects a zero length on the wire", () => {
    const encoded = concat([encodeFrame(frame({ op: Op.Request, flags: Flag.HasSubroute })), bytes(0)]);
    encoded[1] = Flag.HasSubroute | Flag.NoPayload;
    expectProtocolError(() => decodeAll(encoded), /bad subroute length 0 on Request/);
  });

  it("rejects invalid UTF-8 on the wire", () => {
    const encoded = encodeFrame(frame({ op: Op.Request, subroute: "ab" }));
    encoded[HEADER_SIZE + 1] = 0xff;
    expectProtocolError(() => decodeAll(encoded), /subroute on Request is not valid UTF-8/);
  });
});

describe("checksum", () => {
  const f = frame({ op: Op.MuxClientMsg, flags: Flag.Checksum | Flag.EOF, handler: 9, muxId: 77, seq: 5, subroute: "sub", payload: bytes(10, 20, 30) });

  it("accepts a valid checksum", () => {
    expectSameFrame(decodeOne(encodeFrame(f)), f);
  });

  it("rejects a corruption of any byte it covers, or of the checksum itself", () => {
    const good = encodeFrame(f);
    // Skip op/flags/length bytes (offsets 0, 1, 16..19): changing them fails earlier checks.
    const covered = [2, 3, 4, 8, 12, HEADER_SIZE + 1, good.byteLength - 5, good.byteLength - 1];
    for (const at of covered) {
      const bad = good.slice();
      bad[at]! ^= 0x01;
      expectProtocolError(() => decodeAll(bad), /checksum mismatch on MuxClientMsg/);
    }
  });
});

describe("limits", () => {
  it("accepts a payload of exactly maxPayloadBytes", () => {
    const f = frame({ op: Op.Request, payload: new Uint8Array(100) });
    expectSameFrame(decodeOne(encodeFrame(f), { maxPayloadBytes: 100 }), f);
  });

  it("rejects a payload over maxPayloadBytes before reading it", () => {
    expectProtocolError(
      () => decodeAll(encodeFrame(frame({ op: Op.Request, payload: new Uint8Array(101) })), { maxPayloadBytes: 100 }),
      /Request payload of 101 bytes exceeds the limit of 100/,
    );
    // A header alone that claims 4 GiB fails on the limit, not on truncation.
    const header = encodeFrame(frame({ op: Op.Response, payload: bytes() }));
    header.fill(0xff, 16, 20);
    expectProtocolError(() => decodeAll(header), /Response payload of 4294967295 bytes exceeds the limit/);
  });

  it("applies the limit to the frames inside a Merged frame", () => {
    // The inner header claims more than the limit; the Merged frame itself is small.
    const innerHeader = encodeFrame(frame({ op: Op.Request, payload: bytes() }));
    innerHeader.fill(0xff, 16, 20);
    const message = encodeFrame(frame({ op: Op.Merged, seq: 1, payload: innerHeader }));
    expectProtocolError(() => decodeAll(message, { maxPayloadBytes: 100 }), /Request payload of 4294967295 bytes exceeds the limit of 100/);
  });
});

describe("malformed input", () => {
  const good = encodeFrame(frame({ op: Op.Request, flags: Flag.Checksum, handler: 1, muxId: 2, subroute: "route", payload: bytes(1, 2, 3, 4) }));
  const subrouteAt = HEADER_SIZE;
  const payloadAt = HEADER_SIZE + 1 + 5;
  const checksumAt = payloadAt + 4;

  it.each(Array.from({ length: HEADER_SIZE }, (_, n) => n))("rejects a header truncated to %i bytes", (n) => {
    expectProtocolError(() => decodeAll(good.subarray(0, n)), new RegExp(`truncated frame header: ${n} of ${HEADER_SIZE} bytes`));
  });

  it("rejects a truncated subroute", () => {
    expectProtocolError(() => decodeAll(good.subarray(0, subrouteAt)), /truncated subroute on Request/);
    for (let n = subrouteAt + 1; n < payloadAt; n++) {
      expectProtocolError(() => decodeAll(good.subarray(0, n)), /bad subroute length 5 on Request/);
    }
  });

  it("rejects a truncated payload", () => {
    for (let n = payloadAt; n < checksumAt; n++) {
      expectProtocolError(() => decodeAll(good.subarray(0, n)), new RegExp(`truncated Request payload: ${n - payloadAt} of 4 bytes`));
    }
  });

  it("rejects a truncated checksum", () => {
    for (let n = checksumAt; n < good.byteLength; n++) {
      expectProtocolError(() => decodeAll(good.subarray(0, n)), /truncated checksum on Request/);
    }
  });

  it("rejects trailing bytes after a frame", () => {
    expectProtocolError(() => decodeAll(concat([good, bytes(0)])), /1 trailing bytes after Request/);
    expectProtocolError(() => decodeAll(concat([good, good])), new RegExp(`${good.byteLength} trailing bytes after Request`));
  });

  it.each([0, 20, 100, 255])("rejects unknown op %i", (op) => {
    const bad = good.slice();
    bad[0] = op;
    expectProtocolError(() => decodeAll(bad), new RegExp(`unknown op ${op}$`));
  });

  it.each(["0x40", "0x80", "0xc0"])("rejects unknown flag bits %s", (hex) => {
    const bit = Number(hex);
    const bad = good.slice();
    bad[1]! |= bit;
    expectProtocolError(() => decodeAll(bad), new RegExp(`unknown flag bits 0x${bit.toString(16)} on Request`));
  });

  it("reports every error as a ProtocolError, never a RangeError from DataView", () => {
    // Every prefix of a valid encoding, each with its own (shorter) ArrayBuffer so that an
    // out-of-bounds DataView read would throw RangeError rather than read stale bytes.
    for (let n = 0; n < good.byteLength; n++) {
      const exact = good.slice(0, n);
      expectProtocolError(() => decodeAll(exact), /./);
    }
  });
});

describe("encode rejects fields that do not fit the wire", () => {
  it.each<[string, Partial<Frame>, RegExp]>([
    ["op 0", { op: 0 as Op }, /cannot encode unknown op 0/],
    ["op 20", { op: 20 as Op }, /cannot encode unknown op 20/],
    ["fractional op", { op: 1.5 as Op }, /cannot encode unknown op 1.5/],
    ["unknown flag bit", { flags: 0x40 }, /cannot encode Ping: bad flags 64/],
    ["negative flags", { flags: -1 }, /bad flags -1/],
    ["handler 0x10000", { handler: 0x10000 }, /handler 65536 is not a u16/],
    ["negative handler", { handler: -1 }, /handler -1 is not a u16/],
    ["muxId 2^32", { muxId: 2 ** 32 }, /muxId 4294967296 is not a u32/],
    ["negative muxId", { muxId: -1 }, /muxId -1 is not a u32/],
    ["NaN seq", { seq: Number.NaN }, /seq NaN is not a u32/],
    ["fractional seq", { seq: 0.5 }, /seq 0.5 is not a u32/],
    ["deadline over 49.7 days", { deadlineMs: 5e9 }, /deadlineMs 5000000000 is not a u32/],
  ])("%s", (_name, fields, message) => {
    expectProtocolError(() => encodeFrame(frame(fields)), message);
  });

  it("writes nothing when it refuses", () => {
    const buf = new Uint8Array(64);
    expectProtocolError(() => encodeFrameInto(buf, new DataView(buf.buffer), 0, frame({ muxId: -1, payload: bytes(1) }), undefined), /muxId/);
    expect(buf.every((b) => b === 0)).toBe(true);
  });
});

describe("Merged", () => {
  const inner = [
    frame({ op: Op.Request, handler: 1, muxId: 10, deadlineMs: 1000, payload: bytes(1) }),
    frame({ op: Op.MuxServerMsg, flags: Flag.EOF | Flag.Checksum, muxId: 11, seq: 4, subroute: "s", payload: bytes() }),
    frame({ op: Op.UnblockClientMux, muxId: 12, seq: 16 }),
  ];

  it("delivers every frame in order", () => {
    const frames = decodeAll(merged(inner));
    expect(frames).toHaveLength(inner.length);
    frames.forEach((f, i) => expectSameFrame(f, inner[i]!));
  });

  it("accepts a checksum on the Merged frame itself", () => {
    expect(decodeAll(merged(inner, inner.length, Flag.Checksum))).toHaveLength(3);
    const corrupted = merged(inner, inner.length, Flag.Checksum);
    corrupted[HEADER_SIZE + 4]! ^= 0xff;
    expectProtocolError(() => decodeAll(corrupted), /checksum mismatch on Merged/);
  });

  it("reuses one decode target for every frame", () => {
    const seen: Frame[] = [];
    const out = emptyFrame();
    decodeMessage(merged(inner), limits, out, (f) => seen.push(f));
    expect(seen).toHaveLength(3);
    for (const f of seen) expect(f).toBe(out);
  });

  it("rejects a count larger than the frames it holds", () => {
    expectProtocolError(() => decodeAll(merged(inner, 4)), /Merged frame declares 4 frames but holds 3/);
  });

  it("rejects a count smaller than the frames it holds", () => {
    expectProtocolError(() => decodeAll(merged(inner, 2)), /Merged frame declares 2 frames but has \d+ bytes left/);
  });

  it("rejects trailing bytes inside the Merged payload", () => {
    const payload = concat([...inner.map(encodeFrame), bytes(1, 2)]);
    const message = encodeFrame(frame({ op: Op.Merged, seq: 3, payload }));
    expectProtocolError(() => decodeAll(message), /Merged frame declares 3 frames but has 2 bytes left/);
  });

  it("rejects an empty Merged frame (count 0, empty payload, or no payload)", () => {
    expectProtocolError(() => decodeAll(merged(inner, 0)), /empty Merged frame/);
    expectProtocolError(() => decodeAll(merged([], 0)), /empty Merged frame/);
    expectProtocolError(() => decodeAll(encodeFrame(frame({ op: Op.Merged, seq: 1 }))), /empty Merged frame/);
  });

  it("rejects a nested Merged frame", () => {
    const nested = merged(inner);
    const message = encodeFrame(frame({ op: Op.Merged, seq: 1, payload: nested }));
    expectProtocolError(() => decodeAll(message), /nested Merged frame/);
  });

  it("rejects a malformed inner frame after delivering the ones before it", () => {
    const payload = concat([encodeFrame(inner[0]!), encodeFrame(inner[2]!), bytes(Op.Request, 0x80, ...new Array<number>(18).fill(0))]);
    const message = encodeFrame(frame({ op: Op.Merged, seq: 3, payload }));
    const delivered: number[] = [];
    expectProtocolError(
      () => decodeMessage(message, limits, emptyFrame(), (f) => delivered.push(f.muxId)),
      /unknown flag bits 0x80 on Request/,
    );
    expect(delivered).toEqual([10, 12]);
  });

  it("rejects a truncated inner frame", () => {
    const payload = encodeFrame(inner[0]!).subarray(0, HEADER_SIZE - 1);
    const message = encodeFrame(frame({ op: Op.Merged, seq: 1, payload }));
    expectProtocolError(() => decodeAll(message), /truncated frame header: 19 of 20 bytes/);
  });
});

describe("decoded payload is a view of the input", () => {
  it("shares the input's buffer, at the right offset, for a single frame", () => {
    const f = frame({ op: Op.Response, subroute: "abc", payload: bytes(5, 6, 7) });
    // The message itself sits at a non-zero offset of a larger buffer, as a pooled Buffer does.
    const backing = new Uint8Array(64);
    const encoded = encodeFrame(f);
    backing.set(encoded, 11);
    const message = backing.subarray(11, 11 + encoded.byteLength);
    const decoded = decodeOne(message);
    expect(decoded.payload!.buffer).toBe(backing.buffer);
    expect(decoded.payload!.byteOffset).toBe(11 + HEADER_SIZE + 4);
    message[HEADER_SIZE + 4] = 99;
    expect(decoded.payload![0]).toBe(99);
  });

  it("shares the input's buffer for every frame of a Merged message", () => {
    const message = merged([frame({ op: Op.Request, payload: bytes(1, 2) }), frame({ op: Op.Request, payload: bytes(3) })]);
    const frames = decodeAll(message);
    for (const f of frames) expect(f.payload!.buffer).toBe(message.buffer);
    expect(frames[0]!.payload!.byteOffset).toBe(2 * HEADER_SIZE);
    expect(frames[1]!.payload!.byteOffset).toBe(3 * HEADER_SIZE + 2);
  });
});
