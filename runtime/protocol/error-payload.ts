/**
 * The payload of a frame with Flag.PayloadIsError: an error's code and message.
 *
 *   u8 codeLength, code (ASCII), message (UTF-8, the rest of the payload)
 *
 * A tiny binary format rather than msgpack: it is decoded from hostile bytes, has two fields,
 * and must never depend on a codec's options. The code (not the class) travels, so the
 * receiver rebuilds the matching GridError subclass with `GridError.fromWire`.
 */
import { GridError, ProtocolError } from "../errors.js";

/** Longest error message sent on the wire, in UTF-16 code units; longer ones are cut. */
export const MAX_ERROR_MESSAGE_CHARS = 4096;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: false });

/** Encodes `error` (wrapped with `GridError.from` when it is not a GridError). */
export function encodeErrorPayload(error: unknown): Uint8Array {
  const grid = GridError.from(error);
  let message = grid.rawMessage;
  if (message.length > MAX_ERROR_MESSAGE_CHARS) message = `${message.slice(0, MAX_ERROR_MESSAGE_CHARS)}…`;
  const code = encoder.encode(grid.code);
  const text = encoder.encode(message);
  const out = new Uint8Array(1 + code.byteLength + text.byteLength);
  out[0] = code.byteLength;
  out.set(code, 1);
  out.set(text, 1 + code.byteLength);
  return out;
}

/** Decodes an error payload; throws ProtocolError when the bytes cannot be one. */
export function decodeErrorPayload(payload: Uint8Array | undefined): GridError {
  if (payload === undefined || payload.byteLength < 1) throw new ProtocolError("empty error payload");
  const codeLength = payload[0]!;
  if (codeLength === 0 || 1 + codeLength > payload.byteLength) {
    throw new ProtocolError(`bad error payload: code length ${codeLength} of ${payload.byteLength} bytes`);
  }
  const code = decoder.decode(payload.subarray(1, 1 + codeLength));
  const message = decoder.decode(payload.subarray(1 + codeLength));
  return GridError.fromWire(code, message);
}
