/**
 * The frame: the unit of the wire protocol (see docs/PROTOCOL.md).
 *
 * A fixed 20-byte little-endian header, an optional subroute, the payload, an optional CRC32.
 * A binary header (not a msgpack tuple) because it is written with a handful of DataView
 * calls into the writer's buffer and read back with byte arithmetic, with no allocation but
 * the payload view; every field is bounds-checked on decode because the bytes come from
 * another process. bench/micro/frame-encoding.ts measures the choice against msgpackr.
 *
 *   off size field
 *     0    1 op           Op
 *     1    1 flags        Flag bits
 *     2    2 handler      handler id (0 when the op has none)
 *     4    4 muxId        call id, allocated by the side that starts the call
 *     8    4 seq          per-mux sequence number of MUX_*_MSG frames; credits on UNBLOCK_*;
 *                         frame count on MERGED
 *    12    4 deadlineMs   relative deadline in ms (0 = none), on REQUEST and CONNECT_MUX
 *    16    4 length       payload length in bytes
 *    20    -  [subroute]  u8 length + UTF-8 bytes, when Flag.HasSubroute
 *     -    -  payload     `length` bytes
 *     -    4  [crc32]     of every byte of the frame before it, when Flag.Checksum
 */
import { crc32 } from "node:zlib";
import { ProtocolError } from "../errors.js";
import { MAX_METADATA_BYTES, METADATA_HEADER_BYTES } from "./metadata.js";

/** Frame operations. Numbers are stable wire values. */
export const Op = {
  /** Handshake, dialling side → listening side. */
  Connect: 1,
  /** Handshake answer: accepted, or the reason for refusal. */
  ConnectResponse: 2,
  /** Liveness probe; connection-level when muxId is 0, stream-level otherwise. */
  Ping: 3,
  /** Answer to Ping, echoing its payload. */
  Pong: 4,
  /** Single request, caller → server. */
  Request: 5,
  /** Single response (or error, with Flag.PayloadIsError), server → caller. */
  Response: 6,
  /** Opens a stream, caller → server: handler, deadline, initial payload. */
  ConnectMux: 7,
  /** Stream could not be opened (unknown handler, ...), server → caller. */
  MuxConnectError: 8,
  /** Stream opened, server → caller: carries the capacities. */
  AckMux: 9,
  /** A stream message from the caller (the input stream). */
  MuxClientMsg: 10,
  /** A stream message from the server (the output stream); Flag.EOF ends it. */
  MuxServerMsg: 11,
  /** Credits for the caller's input stream, server → caller (seq = credits). */
  UnblockClientMux: 12,
  /** Credits for the server's output stream, caller → server (seq = credits). */
  UnblockServerMux: 13,
  /** The caller cancels a request or stream it started, caller → server. */
  DisconnectClientMux: 14,
  /** The server ends or fails a stream it serves, server → caller. */
  DisconnectServerMux: 15,
  /** The whole connection is being closed; the payload says why. */
  Disconnect: 16,
  /** Several frames in one WebSocket message: the payload is their concatenation. */
  Merged: 17,
  /**
   * The sender is draining: the receiver starts no new call on this link (they fail with
   * DrainingError); calls already started, by either side, finish. deadlineMs = the drain's
   * timeout. Answered with GoAwayAck.
   */
  GoAway: 18,
  /** Answer to GoAway: every call the sender started before it is already on the wire. */
  GoAwayAck: 19,
} as const;
export type Op = (typeof Op)[keyof typeof Op];

const opNames: readonly string[] = (() => {
  const names: string[] = [];
  for (const [name, value] of Object.entries(Op)) names[value] = name;
  return names;
})();

/** Human-readable name of an op, for logs and errors. */
export function opName(op: number): string {
  return opNames[op] ?? `op(${op})`;
}

/** Frame flag bits. */
export const Flag = {
  /** Last message of its direction of the stream (travels in band, after the data). */
  EOF: 0x01,
  /** The payload is an encoded error (see `encodeErrorPayload`). */
  PayloadIsError: 0x02,
  /** A subroute follows the header. */
  HasSubroute: 0x04,
  /** A CRC32 of the frame follows the payload. */
  Checksum: 0x08,
  /** The frame carries no payload at all (distinct from an empty one). */
  NoPayload: 0x10,
  /** Request/ConnectMux: the payload area starts with the call's metadata (protocol/metadata.ts). */
  HasMetadata: 0x20,
} as const;
export type Flag = (typeof Flag)[keyof typeof Flag];

const knownFlags =
  Flag.EOF | Flag.PayloadIsError | Flag.HasSubroute | Flag.Checksum | Flag.NoPayload | Flag.HasMetadata;

export const HEADER_SIZE = 20;
const CHECKSUM_SIZE = 4;
const MAX_SUBROUTE_BYTES = 255;
const MAX_OP = Op.GoAwayAck;
/** Largest value of a u32 header field (muxId, seq, deadlineMs). */
export const MAX_U32 = 0xffff_ffff;
export const MAX_HANDLER_ID = 0xffff;
/**
 * Most frames one Merged frame may hold (a protocol constant, like the stream capacities):
 * a receiver refuses a bigger count before decoding any of them, so one message cannot keep
 * the event loop busy for long (838,855 requests in one 16 MiB message took 1.2 s).
 */
export const MAX_MERGED_FRAMES = 1024;

/**
 * A decoded frame, or one to encode. On decode, `payload` is a view into the received
 * message (no copy): copy it if it must outlive the message, or not pin a large one.
 */
export interface Frame {
  op: Op;
  flags: number;
  handler: number;
  muxId: number;
  seq: number;
  deadlineMs: number;
  subroute: string | undefined;
  payload: Uint8Array | undefined;
}

/** A frame with every field zeroed, to fill in (or to reuse as a decode target). */
export function emptyFrame(): Frame {
  return {
    op: Op.Ping,
    flags: 0,
    handler: 0,
    muxId: 0,
    seq: 0,
    deadlineMs: 0,
    subroute: undefined,
    payload: undefined,
  };
}

const encoder = new TextEncoder();
// ignoreBOM: keep a leading U+FEFF in a subroute; the default strips it, so "\uFEFFa"
// decoded as "a" and a lone BOM as an empty (unencodable) subroute.
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Bytes `frame` takes on the wire. The subroute's bytes are passed in to encode them once. */
export function frameSize(frame: Frame, subrouteBytes: Uint8Array | undefined): number {
  let size = HEADER_SIZE + (frame.payload?.byteLength ?? 0);
  if (subrouteBytes !== undefined) size += 1 + subrouteBytes.byteLength;
  if ((frame.flags & Flag.Checksum) !== 0) size += CHECKSUM_SIZE;
  return size;
}

/** UTF-8 bytes of a subroute, checked against the one-byte length prefix. */
export function encodeSubroute(subroute: string): Uint8Array {
  const bytes = encoder.encode(subroute);
  if (bytes.byteLength === 0 || bytes.byteLength > MAX_SUBROUTE_BYTES) {
    throw new ProtocolError(`subroute must be 1..${MAX_SUBROUTE_BYTES} UTF-8 bytes, got ${bytes.byteLength}`);
  }
  return bytes;
}

/**
 * Throws ProtocolError if a header field does not fit its wire width. DataView setters
 * silently wrap (a 2^32 ms deadline would go out as 0) and unknown flag bits would make the
 * peer close the connection, so a bad field must fail the one call, here.
 */
function checkHeader(op: number, flags: number, handler: number, muxId: number, seq: number, deadlineMs: number): void {
  if (!(op >= 1 && op <= MAX_OP && (op | 0) === op)) throw new ProtocolError(`cannot encode unknown op ${op}`);
  if ((flags & knownFlags) !== flags) throw new ProtocolError(`cannot encode ${opName(op)}: bad flags ${flags}`);
  if ((handler & MAX_HANDLER_ID) !== handler) {
    throw new ProtocolError(`cannot encode ${opName(op)}: handler ${handler} is not a u16`);
  }
  if (muxId >>> 0 !== muxId) throw new ProtocolError(`cannot encode ${opName(op)}: muxId ${muxId} is not a u32`);
  if (seq >>> 0 !== seq) throw new ProtocolError(`cannot encode ${opName(op)}: seq ${seq} is not a u32`);
  if (deadlineMs >>> 0 !== deadlineMs) {
    throw new ProtocolError(`cannot encode ${opName(op)}: deadlineMs ${deadlineMs} is not a u32`);
  }
}

/**
 * Writes `frame` into `buf` at `offset` and returns the offset after it. The caller sized
 * `buf` with `frameSize`. Flags HasSubroute and NoPayload are derived from the frame, so a
 * caller never has to keep them in step by hand. Throws ProtocolError (before writing) if a
 * header field does not fit its wire width.
 */
export function encodeFrameInto(
  buf: Uint8Array,
  view: DataView,
  offset: number,
  frame: Frame,
  subrouteBytes: Uint8Array | undefined,
): number {
  return encodeFieldsInto(
    buf, view, offset, frame.op, frame.flags, frame.handler, frame.muxId, frame.seq, frame.deadlineMs,
    subrouteBytes, frame.payload,
  );
}

/**
 * `encodeFrameInto` from the frame's fields, for a writer that queues fields instead of
 * Frame objects (no object per frame on the hot path).
 */
export function encodeFieldsInto(
  buf: Uint8Array,
  view: DataView,
  offset: number,
  op: number,
  frameFlags: number,
  handler: number,
  muxId: number,
  seq: number,
  deadlineMs: number,
  subrouteBytes: Uint8Array | undefined,
  payload: Uint8Array | undefined,
): number {
  const start = offset;
  offset = encodeHeadInto(buf, view, offset, op, frameFlags, handler, muxId, seq, deadlineMs, subrouteBytes, payload);
  if (payload !== undefined) {
    buf.set(payload, offset);
    offset += payload.byteLength;
  }
  if ((frameFlags & Flag.Checksum) !== 0) {
    view.setUint32(offset, crc32(buf.subarray(start, offset)), true);
    offset += CHECKSUM_SIZE;
  }
  return offset;
}

/**
 * Writes the head of a frame (the header and the subroute, everything before the payload)
 * into `buf` at `offset` and returns the offset after it: the payload and the checksum are
 * the caller's (`encodeFieldsInto`, or a writer that hands the payload to the socket as a
 * part of its own, see `encodeParts`). Throws ProtocolError (before writing) if a header
 * field does not fit its wire width.
 */
export function encodeHeadInto(
  buf: Uint8Array,
  view: DataView,
  offset: number,
  op: number,
  frameFlags: number,
  handler: number,
  muxId: number,
  seq: number,
  deadlineMs: number,
  subrouteBytes: Uint8Array | undefined,
  payload: Uint8Array | undefined,
): number {
  checkHeader(op, frameFlags, handler, muxId, seq, deadlineMs);
  let flags = frameFlags & ~(Flag.HasSubroute | Flag.NoPayload);
  if (subrouteBytes !== undefined) flags |= Flag.HasSubroute;
  if (payload === undefined) flags |= Flag.NoPayload;
  view.setUint8(offset, op);
  view.setUint8(offset + 1, flags);
  view.setUint16(offset + 2, handler, true);
  view.setUint32(offset + 4, muxId, true);
  view.setUint32(offset + 8, seq, true);
  view.setUint32(offset + 12, deadlineMs, true);
  view.setUint32(offset + 16, payload?.byteLength ?? 0, true);
  offset += HEADER_SIZE;
  if (subrouteBytes !== undefined) {
    buf[offset++] = subrouteBytes.byteLength;
    buf.set(subrouteBytes, offset);
    offset += subrouteBytes.byteLength;
  }
  return offset;
}

/**
 * One frame as the parts of one message, without copying its payload: `[head, payload]`, or
 * `[head, payload, crc32]` with Flag.Checksum (the CRC over the head and the payload, as
 * `encodeFieldsInto` computes it over the joined bytes). The bytes on the wire, joined, are
 * exactly `encodeFieldsInto`'s. For payloads large enough that a copy costs more than the
 * extra WebSocket fragment per part (see runtime/mux/frame-writer.ts).
 */
export function encodeParts(
  op: number,
  flags: number,
  handler: number,
  muxId: number,
  seq: number,
  deadlineMs: number,
  subrouteBytes: Uint8Array | undefined,
  payload: Uint8Array,
): Uint8Array[] {
  const headSize = HEADER_SIZE + (subrouteBytes === undefined ? 0 : 1 + subrouteBytes.byteLength);
  const head = Buffer.allocUnsafe(headSize);
  const view = new DataView(head.buffer, head.byteOffset, headSize);
  encodeHeadInto(head, view, 0, op, flags, handler, muxId, seq, deadlineMs, subrouteBytes, payload);
  if ((flags & Flag.Checksum) === 0) return [head, payload];
  const crc = Buffer.allocUnsafe(CHECKSUM_SIZE);
  crc.writeUInt32LE(crc32(payload, crc32(head)), 0);
  return [head, payload, crc];
}

/** Encodes one frame into a new buffer (for tests and cold paths; the writer batches). */
export function encodeFrame(frame: Frame): Uint8Array {
  const subrouteBytes = frame.subroute === undefined ? undefined : encodeSubroute(frame.subroute);
  const buf = new Uint8Array(frameSize(frame, subrouteBytes));
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  encodeFrameInto(buf, view, 0, frame, subrouteBytes);
  return buf;
}

/** Limits the decoder enforces; every one is an option of the Manager. */
export interface DecodeLimits {
  /**
   * Largest payload accepted in one frame. A frame with HasMetadata may exceed it by the
   * largest metadata section (the metadata is bounded on its own, then the payload by this).
   */
  maxPayloadBytes: number;
}

/** What a metadata section may add to a frame's payload area. */
const METADATA_SLACK = METADATA_HEADER_BYTES + MAX_METADATA_BYTES;

/** Little-endian u32 at `offset` of `buf`; the caller checked the bounds. */
function readU32(buf: Uint8Array, offset: number): number {
  return (buf[offset]! | (buf[offset + 1]! << 8) | (buf[offset + 2]! << 16) | (buf[offset + 3]! << 24)) >>> 0;
}

/**
 * Decodes the frame at `offset` of `buf` into `out` (reused by the caller to avoid an
 * allocation per frame) and returns the offset after it. Throws ProtocolError on any
 * malformed field; the caller closes the connection. Reads bytes, not a DataView: building a
 * DataView per received message cost more than the rest of the decode (see the benchmark).
 */
export function decodeFrameAt(
  buf: Uint8Array,
  offset: number,
  limits: DecodeLimits,
  out: Frame,
): number {
  const start = offset;
  offset = decodeHeadAt(buf, offset, limits, out);
  const op = out.op;
  const flags = out.flags;
  const length = readU32(buf, start + 16);
  if (offset + length > buf.byteLength) {
    throw new ProtocolError(`truncated ${opName(op)} payload: ${buf.byteLength - offset} of ${length} bytes`);
  }
  out.payload = (flags & Flag.NoPayload) !== 0 ? undefined : buf.subarray(offset, offset + length);
  offset += length;
  if ((flags & Flag.Checksum) !== 0) {
    if (offset + CHECKSUM_SIZE > buf.byteLength) throw new ProtocolError(`truncated checksum on ${opName(op)}`);
    checkCrc(op, readU32(buf, offset), crc32(buf.subarray(start, offset)));
    offset += CHECKSUM_SIZE;
  }
  return offset;
}

/** Throws ProtocolError unless `actual`, the CRC32 of a frame's bytes, is the one it carries. */
function checkCrc(op: number, carried: number, actual: number): void {
  if (carried !== actual) throw new ProtocolError(`checksum mismatch on ${opName(op)}`);
}

/**
 * Bytes of the head (header and subroute) of the frame at `offset`, read from its flags and
 * subroute length without checking them; -1 when `buf` ends before they can be read.
 */
function headSizeAt(buf: Uint8Array, offset: number): number {
  const available = buf.byteLength - offset;
  if (available < HEADER_SIZE) return -1;
  if ((buf[offset + 1]! & Flag.HasSubroute) === 0) return HEADER_SIZE;
  return available > HEADER_SIZE ? HEADER_SIZE + 1 + buf[offset + HEADER_SIZE]! : -1;
}

/**
 * Decodes the head of the frame at `offset` (header and subroute, every field checked) into
 * `out`, leaving `out.payload` to the caller, and returns the offset of the payload; its
 * length is the header's u32 at `offset + 16`.
 */
function decodeHeadAt(buf: Uint8Array, offset: number, limits: DecodeLimits, out: Frame): number {
  const available = buf.byteLength - offset;
  if (available < HEADER_SIZE) {
    throw new ProtocolError(`truncated frame header: ${available} of ${HEADER_SIZE} bytes`);
  }
  const op = buf[offset]!;
  if (op === 0 || op > MAX_OP) throw new ProtocolError(`unknown op ${op}`);
  const flags = buf[offset + 1]!;
  if ((flags & ~knownFlags) !== 0) {
    throw new ProtocolError(`unknown flag bits 0x${(flags & ~knownFlags).toString(16)} on ${opName(op)}`);
  }
  const length = readU32(buf, offset + 16);
  if (length > limits.maxPayloadBytes + ((flags & Flag.HasMetadata) === 0 ? 0 : METADATA_SLACK)) {
    throw new ProtocolError(`${opName(op)} payload of ${length} bytes exceeds the limit of ${limits.maxPayloadBytes}`);
  }
  if ((flags & Flag.NoPayload) !== 0 && length !== 0) {
    throw new ProtocolError(`${opName(op)} has NoPayload set but a length of ${length}`);
  }
  out.op = op as Op;
  out.flags = flags;
  out.handler = buf[offset + 2]! | (buf[offset + 3]! << 8);
  out.muxId = readU32(buf, offset + 4);
  out.seq = readU32(buf, offset + 8);
  out.deadlineMs = readU32(buf, offset + 12);
  offset += HEADER_SIZE;
  out.subroute = undefined;
  if ((flags & Flag.HasSubroute) !== 0) {
    if (offset >= buf.byteLength) throw new ProtocolError(`truncated subroute on ${opName(op)}`);
    const subrouteLength = buf[offset]!;
    offset += 1;
    if (subrouteLength === 0 || offset + subrouteLength > buf.byteLength) {
      throw new ProtocolError(`bad subroute length ${subrouteLength} on ${opName(op)}`);
    }
    try {
      out.subroute = decoder.decode(buf.subarray(offset, offset + subrouteLength));
    } catch {
      throw new ProtocolError(`subroute on ${opName(op)} is not valid UTF-8`);
    }
    offset += subrouteLength;
  }
  return offset;
}

/**
 * Decodes one WebSocket message (a frame, or a Merged frame holding several) and calls
 * `onFrame` for each frame in order, with the same reused `out` object. Throws
 * ProtocolError on malformed input; frames already delivered stay delivered.
 */
export function decodeMessage(
  message: Uint8Array,
  limits: DecodeLimits,
  out: Frame,
  onFrame: (frame: Frame) => void,
): void {
  const end = decodeFrameAt(message, 0, limits, out);
  if (end !== message.byteLength) {
    throw new ProtocolError(`${message.byteLength - end} trailing bytes after ${opName(out.op)}`);
  }
  if (out.op !== Op.Merged) {
    onFrame(out);
    return;
  }
  const inner = out.payload;
  const count = out.seq;
  if (out.muxId !== 0) throw new ProtocolError(`Merged frame with mux id ${out.muxId}`);
  if (inner === undefined || count === 0) throw new ProtocolError("empty Merged frame");
  if (count > MAX_MERGED_FRAMES) {
    throw new ProtocolError(`Merged frame declares ${count} frames, more than the limit of ${MAX_MERGED_FRAMES}`);
  }
  let offset = 0;
  for (let i = 0; i < count; i++) {
    if (offset === inner.byteLength) throw new ProtocolError(`Merged frame declares ${count} frames but holds ${i}`);
    offset = decodeFrameAt(inner, offset, limits, out);
    const op = out.op;
    if (op === Op.Merged) throw new ProtocolError("nested Merged frame");
    // The handshake is one frame alone in its message, never part of a batch.
    if (op === Op.Connect || op === Op.ConnectResponse) throw new ProtocolError(`Merged frame wraps ${opName(op)}`);
    onFrame(out);
  }
  if (offset !== inner.byteLength) {
    throw new ProtocolError(`Merged frame declares ${count} frames but has ${inner.byteLength - offset} bytes left`);
  }
}

/**
 * `decodeMessage` for a message that arrived in several parts (WebSocket fragments). The
 * shape `encodeParts` sends, `[head, payload]` or `[head, payload, crc32]` with a head that
 * is exactly one frame's header and subroute, is decoded without joining the parts: the
 * payload is the second part itself. Any other split (another sender's fragmentation) is
 * joined into one buffer and decoded as one message. Either way every check of
 * `decodeMessage` applies.
 */
export function decodeParts(
  parts: readonly Uint8Array[],
  limits: DecodeLimits,
  out: Frame,
  onFrame: (frame: Frame) => void,
): void {
  const head = parts[0]!;
  // encodeParts's split: a head part that is exactly one frame's header and subroute...
  if ((parts.length === 2 || parts.length === 3) && headSizeAt(head, 0) === head.byteLength) {
    // ...checked as the head of a whole message is (it throws what the joined parts would).
    decodeHeadAt(head, 0, limits, out);
    const payload = parts[1]!;
    const crcPart = parts[2];
    const checksum = (out.flags & Flag.Checksum) !== 0;
    // ...then a payload part that is the frame's whole payload, and the checksum, if any.
    if (
      out.op !== Op.Merged &&
      (out.flags & Flag.NoPayload) === 0 &&
      readU32(head, 16) === payload.byteLength &&
      (checksum ? crcPart !== undefined && crcPart.byteLength === CHECKSUM_SIZE : crcPart === undefined)
    ) {
      if (checksum) checkCrc(out.op, readU32(crcPart!, 0), crc32(payload, crc32(head)));
      out.payload = payload;
      onFrame(out);
      return;
    }
  }
  decodeMessage(parts.length === 1 ? head : Buffer.concat(parts), limits, out, onFrame);
}
