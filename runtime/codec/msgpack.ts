/**
 * `encodeMsgpack`: plain msgpack for values without a schema (tests, tools, hand-made payloads).
 * Generated codecs do not use it: they write with `MsgpackWriter` and read with `MsgpackReader`.
 *
 * Plain msgpack maps keyed by field name (no msgpackr records), so any msgpack library reads it;
 * `undefined` is written as nil.
 */
import { Packr } from "msgpackr";

const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true });

/**
 * Encodes a value as one msgpack message. The result is a view that stays valid: msgpackr
 * never writes over bytes it has returned.
 */
export function encodeMsgpack(value: unknown): Uint8Array {
  return packr.pack(value);
}
