/**
 * Property-based tests of the frame codec: valid frames round trip exactly, and any bytes a
 * peer could send either decode or are rejected with ProtocolError, in bounded work.
 * Runs are bounded (NUM_RUNS) so the file stays within a few seconds on 2 cores.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ProtocolError } from "../../runtime/errors.js";
import {
  decodeMessage,
  decodeParts,
  emptyFrame,
  encodeFrame,
  Flag,
  HEADER_SIZE,
  MAX_HANDLER_ID,
  MAX_U32,
  Op,
  type DecodeLimits,
  type Frame,
} from "../../runtime/protocol/frame.js";

const NUM_RUNS = 2000;
const limits: DecodeLimits = { maxPayloadBytes: 4096 };
const encoder = new TextEncoder();

const singleOps = Object.values(Op).filter((op) => op !== Op.Merged);

/** A subroute of 1..255 UTF-8 bytes; biased toward a BOM, ASCII and multi-byte characters. */
const subrouteArb = fc
  .string({
    unit: fc.oneof(
      fc.constantFrom("\uFEFF", "/", "a", "é", "オ", "🪣"),
      fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
    ),
    minLength: 1,
    maxLength: 70,
  })
  .filter((s) => {
    const n = encoder.encode(s).byteLength;
    return n >= 1 && n <= 255;
  });

const u32 = fc.oneof(fc.constantFrom(0, 1, MAX_U32), fc.integer({ min: 0, max: MAX_U32 }));

const frameArb: fc.Arbitrary<Frame> = fc.record({
  op: fc.constantFrom(...singleOps),
  flags: fc.subarray([Flag.EOF, Flag.PayloadIsError, Flag.Checksum]).map((bits) => bits.reduce((a, b) => a | b, 0)),
  handler: fc.integer({ min: 0, max: MAX_HANDLER_ID }),
  muxId: u32,
  seq: u32,
  deadlineMs: u32,
  subroute: fc.option(subrouteArb, { nil: undefined }),
  payload: fc.option(fc.uint8Array({ maxLength: 64 }), { nil: undefined }),
});

/** Frames a Merged frame may hold: anything but Merged itself and the handshake ops. */
const innerFrameArb = frameArb.filter((f) => f.op !== Op.Connect && f.op !== Op.ConnectResponse);

function wireFlags(f: Frame): number {
  let flags = f.flags & ~(Flag.HasSubroute | Flag.NoPayload);
  if (f.subroute !== undefined) flags |= Flag.HasSubroute;
  if (f.payload === undefined) flags |= Flag.NoPayload;
  return flags;
}

/** A comparable plain copy of a frame as it should decode. */
function expected(f: Frame) {
  return { ...f, flags: wireFlags(f), payload: f.payload === undefined ? undefined : Array.from(f.payload) };
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

function encodeMerged(frames: readonly Frame[], checksum: boolean): Uint8Array {
  return encodeFrame({
    ...emptyFrame(),
    op: Op.Merged,
    flags: checksum ? Flag.Checksum : 0,
    seq: frames.length,
    payload: concat(frames.map(encodeFrame)),
  });
}

function decodeAll(message: Uint8Array) {
  const frames: ReturnType<typeof expected>[] = [];
  decodeMessage(message, limits, emptyFrame(), (f) => frames.push(expected(f)));
  return frames;
}

/**
 * Decodes `message` and checks the only outcomes allowed for untrusted bytes: a ProtocolError,
 * or success with at most one frame per HEADER_SIZE bytes (bounded work); a successfully
 * decoded plain frame must re-encode to exactly the same bytes (the encoding is canonical).
 */
function decodeOrReject(message: Uint8Array): "ok" | "rejected" {
  const frames: Frame[] = [];
  try {
    decodeMessage(message, limits, emptyFrame(), (f) => {
      frames.push({ ...f, payload: f.payload?.slice() });
      if (frames.length > message.byteLength / HEADER_SIZE) throw new Error("more frames than the bytes can hold");
    });
  } catch (err) {
    if (err instanceof ProtocolError && err.code === "protocol") return "rejected";
    throw err;
  }
  expect(frames.length).toBeGreaterThan(0);
  if (message[0] !== Op.Merged) {
    expect(frames).toHaveLength(1);
    expect(Array.from(encodeFrame(frames[0]!))).toEqual(Array.from(message));
  }
  return "ok";
}

/** A valid message: a single frame or a Merged one. */
const validMessageArb = fc.oneof(
  frameArb.map(encodeFrame),
  fc.tuple(fc.array(innerFrameArb, { minLength: 1, maxLength: 8 }), fc.boolean()).map(([fs, ck]) => encodeMerged(fs, ck)),
);

describe("frame codec properties", () => {
  it("round trips any valid frame", () => {
    fc.assert(
      fc.property(frameArb, (f) => {
        expect(decodeAll(encodeFrame(f))).toEqual([expected(f)]);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("round trips any list of valid frames merged into one message", () => {
    fc.assert(
      fc.property(fc.array(innerFrameArb, { minLength: 1, maxLength: 16 }), fc.boolean(), (fs, checksum) => {
        expect(decodeAll(encodeMerged(fs, checksum))).toEqual(fs.map(expected));
      }),
      { numRuns: NUM_RUNS / 2 },
    );
  });

  it("arbitrary bytes decode or throw ProtocolError", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (m) => void decodeOrReject(m)), { numRuns: NUM_RUNS });
  });

  it("arbitrary bytes behind a plausible header decode or throw ProtocolError", () => {
    // A valid op and known flags, so the decoder gets past the first checks into the fields.
    const arb = fc
      .tuple(
        fc.constantFrom(...Object.values(Op)),
        fc.integer({ min: 0, max: 0x1f }),
        fc.uint8Array({ minLength: 14, maxLength: 14 }),
        fc.integer({ min: 0, max: 80 }),
        fc.uint8Array({ maxLength: 120 }),
      )
      .map(([op, flags, fields, length, rest]) => {
        const m = concat([Uint8Array.of(op, flags), fields, Uint8Array.of(length, 0, 0, 0), rest]);
        return m;
      });
    fc.assert(fc.property(arb, (m) => void decodeOrReject(m)), { numRuns: NUM_RUNS });
  });

  it("single-byte mutations of valid messages decode or throw ProtocolError", () => {
    const arb = validMessageArb.chain((m) =>
      fc.tuple(fc.constant(m), fc.nat({ max: m.byteLength - 1 }), fc.integer({ min: 0, max: 255 })),
    );
    fc.assert(
      fc.property(arb, ([m, at, value]) => {
        const mutated = m.slice();
        mutated[at] = value;
        decodeOrReject(mutated);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("multi-byte mutations and truncations of valid messages decode or throw ProtocolError", () => {
    const arb = validMessageArb.chain((m) =>
      fc.tuple(
        fc.constant(m),
        fc.array(fc.tuple(fc.nat({ max: m.byteLength - 1 }), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
        fc.nat({ max: m.byteLength }),
      ),
    );
    fc.assert(
      fc.property(arb, ([m, mutations, keep]) => {
        const mutated = m.slice();
        for (const [at, value] of mutations) mutated[at] = value;
        // slice, not subarray: a read past the end must not find stale bytes in the buffer.
        decodeOrReject(mutated.slice(0, keep));
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("a message in parts (any split, any mutation) decodes as the joined message does: same frames or same error", () => {
    /** Frames or the error message of a decode. */
    const outcome = (decode: (onFrame: (f: Frame) => void) => void): unknown => {
      const frames: ReturnType<typeof expected>[] = [];
      try {
        decode((f) => frames.push(expected(f)));
      } catch (err) {
        if (err instanceof ProtocolError) return err.message;
        throw err;
      }
      return frames;
    };
    const arb = validMessageArb.chain((m) =>
      fc.tuple(
        fc.constant(m),
        fc.array(fc.tuple(fc.nat({ max: m.byteLength - 1 }), fc.integer({ min: 0, max: 255 })), { maxLength: 2 }),
        // One or two cuts; the head part of encodeParts's own split (header and subroute) is
        // among the cuts often enough through the bias to small offsets.
        fc.array(fc.oneof(fc.integer({ min: HEADER_SIZE, max: HEADER_SIZE + 8 }), fc.nat({ max: m.byteLength })), { minLength: 1, maxLength: 2 }),
      ),
    );
    fc.assert(
      fc.property(arb, ([m, mutations, cuts]) => {
        const mutated = m.slice();
        for (const [at, value] of mutations) mutated[at] = value;
        const at = [...new Set(cuts.map((c) => Math.min(c, mutated.byteLength)))].sort((a, b) => a - b);
        const parts: Uint8Array[] = [];
        let from = 0;
        for (const cut of at) {
          parts.push(mutated.slice(from, cut));
          from = cut;
        }
        parts.push(mutated.slice(from));
        const joined = outcome((onFrame) => decodeMessage(mutated, limits, emptyFrame(), onFrame));
        expect(outcome((onFrame) => decodeParts(parts, limits, emptyFrame(), onFrame))).toEqual(joined);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("every truncation of a valid message is rejected with ProtocolError", () => {
    fc.assert(
      fc.property(validMessageArb, (m) => {
        for (let n = 0; n < m.byteLength; n++) expect(decodeOrReject(m.slice(0, n))).toBe("rejected");
      }),
      { numRuns: 200 },
    );
  });
});
