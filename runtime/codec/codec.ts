/**
 * `Codec<T>`: what gridgen emits for every schema interface (`DiskInfoCodec`): msgpack encode,
 * and decode WITH validation against the schema.
 */
import { decodeMsgpack } from "./msgpack.js";
import { InvalidPayloadError } from "../errors.js";
import { invalidPayload } from "./check.js";
import { MsgpackWriter } from "./writer.js";

/**
 * Validates a msgpack-decoded value in place (normalising it: nil optional fields become
 * `undefined`, maps become `Map`s, small integers become `bigint`s where the schema says so).
 * Returns undefined when it matches, else the path below the root and the reason:
 * `.metrics["a"]: expected number, got string`.
 */
export type Check = (value: unknown) => string | undefined;

export interface Codec<T> {
  /** The schema type's name; the root of every error path. */
  readonly name: string;
  /**
   * Encodes a value as msgpack (a plain map keyed by field name). The result is a view of a
   * shared chunk that is never written again: keep it as long as needed.
   */
  encode(value: T): Uint8Array;
  /**
   * Decodes and validates. Throws `InvalidPayloadError` naming the path of the first field that
   * does not match (`DiskInfo.metrics["a"]: expected number, got string`), for malformed
   * msgpack, and for a missing (`undefined`) message. Unknown fields are ignored.
   */
  decode(bytes: Uint8Array | undefined): T;
  /** The validator behind `decode`, for generated code of other schemas. */
  readonly check: Check;
  /** The encoder behind `encode`, for generated code of other schemas. */
  readonly write: Write<T>;
}

/** Writes a value into a message being encoded (a generated `writeX`). */
export type Write<T> = (w: MsgpackWriter, value: T) => void;

/** Shared by every codec: encoding is synchronous, so one writer serves them all. */
const writer = new MsgpackWriter();

/** Builds the codec of a schema interface from its generated validator and encoder. */
export function messageCodec<T>(name: string, check: Check, write: Write<T>): Codec<T> {
  return {
    name,
    check,
    write,
    encode(value: T): Uint8Array {
      writer.begin();
      write(writer, value);
      return writer.finish();
    },
    decode(bytes: Uint8Array | undefined): T {
      const value = decodeMsgpack(bytes, name);
      let err: string | undefined;
      try {
        err = check(value);
      } catch (cause) {
        // Only a stack overflow can get here: a recursive type nested deeper than the stack.
        throw new InvalidPayloadError(`${name}: nested too deeply to validate`, { cause });
      }
      if (err !== undefined) throw invalidPayload(name, err);
      return value as T;
    },
  };
}
