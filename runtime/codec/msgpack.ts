/**
 * The msgpack configuration of generated decoders (and of `encodeMsgpack`, for untyped values;
 * generated encoders write with `MsgpackWriter` instead).
 *
 * Plain msgpack maps keyed by field name (no msgpackr records), so any msgpack library reads
 * what we write and we read what it writes:
 * - `undefined` is written as nil by `encodeMsgpack`; decoders turn a nil optional field back
 *   into `undefined`.
 * - 64-bit integers decode as a `number` when they fit in 53 bits, else as a `bigint`; the
 *   generated checks convert to the schema's type (`bigint` fields accept both).
 * - `bin` values are copied out of the message, so a decoded `Uint8Array` never aliases a
 *   transport buffer that may be reused.
 */
import { Packr, Unpackr } from "msgpackr";
import type { Options } from "msgpackr";
import { InvalidPayloadError } from "../errors.js";

const options: Options = {
  useRecords: false,
  mapsAsObjects: true,
  encodeUndefinedAsNil: true,
  copyBuffers: true,
  // "auto" exists in msgpackr 2.x but is missing from its typings.
  int64AsType: "auto" as Options["int64AsType"],
};

const packr = new Packr(options);
const unpackr = new Unpackr(options);

/**
 * Encodes a value as one msgpack message. The result is a view that stays valid: msgpackr
 * never writes over bytes it has returned.
 */
export function encodeMsgpack(value: unknown): Uint8Array {
  return packr.pack(value);
}

/**
 * Decodes one msgpack message (exactly one value, no trailing bytes). Malformed bytes, and no
 * bytes at all (`undefined`: a stream opened without its payload), throw `InvalidPayloadError`
 * naming `what` was being decoded.
 */
export function decodeMsgpack(bytes: Uint8Array | undefined, what: string): unknown {
  if (bytes === undefined) throw new InvalidPayloadError(`${what}: missing payload`);
  try {
    return unpackr.unpack(bytes);
  } catch (err) {
    throw new InvalidPayloadError(`${what}: malformed msgpack (${err instanceof Error ? err.message : String(err)})`);
  }
}
