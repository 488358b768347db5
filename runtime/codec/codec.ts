/**
 * `Codec<T>`: what gridgen emits for every schema interface (`DiskInfoCodec`): msgpack encode,
 * and decode WITH validation against the schema.
 */
import { InvalidPayloadError } from "../errors.js";
import { invalidPayload } from "./check.js";
import { MsgpackReader } from "./reader.js";
import { MsgpackWriter } from "./writer.js";

/**
 * Reads one value of a schema interface from a message, checking every value as it goes (a
 * generated `readX`). Undefined when it does not match; `r.error` then says where and why.
 */
export type Read<T> = (r: MsgpackReader) => T | undefined;

/** `encode` and `decode` do not use `this`: they can be passed on as functions (`.then(XCodec.decode)`). */
export interface Codec<T> {
  /** The schema type's name; the root of every error path. */
  readonly name: string;
  /**
   * Encodes a value as msgpack (a plain map keyed by field name). The result is a view of a
   * shared chunk that is never written again: keep it as long as needed. Checks every value
   * against the schema first, as `decode` does: throws `InvalidPayloadError` naming the path of
   * the first one that does not match (`PutRequest.entry.value: expected Uint8Array, got
   * string`), so nothing a peer would refuse is ever sent.
   */
  encode(value: T): Uint8Array;
  /**
   * Decodes and validates. Throws `InvalidPayloadError` naming the path of the first value that
   * does not match (`DiskInfo.metrics["a"]: expected number, got string`), for malformed
   * msgpack, and for a missing (`undefined`) message. Unknown fields are ignored.
   */
  decode(bytes: Uint8Array | undefined): T;
  /** The decoder behind `decode`, for generated code of other schemas. */
  readonly read: Read<T>;
  /** The encoder behind `encode`, for generated code of other schemas. */
  readonly write: Write<T>;
}

/**
 * Writes a value into a message being encoded (a generated `writeX`), checking it as it goes.
 * False when a value does not match the schema; `w.error` then says where and why.
 */
export type Write<T> = (w: MsgpackWriter, value: T) => boolean;

/** Shared by every codec: encoding and decoding are synchronous, so one of each serves them all. */
const writer = new MsgpackWriter();
const reader = new MsgpackReader();

/** Builds the codec of a schema interface from its generated decoder and encoder. */
export function messageCodec<T>(name: string, read: Read<T>, write: Write<T>): Codec<T> {
  return {
    name,
    read,
    write,
    encode(value: T): Uint8Array {
      writer.begin();
      let ok: boolean;
      try {
        ok = write(writer, value);
      } catch (cause) {
        // Only a stack overflow can get here: a value that contains itself, or nests deeper than the stack.
        writer.discard();
        throw new InvalidPayloadError(`${name}: nested too deeply to encode (does the value contain itself?)`, { cause });
      }
      if (!ok) {
        writer.discard();
        throw invalidPayload(name, writer.error);
      }
      return writer.finish();
    },
    decode(bytes: Uint8Array | undefined): T {
      if (bytes === undefined) throw new InvalidPayloadError(`${name}: missing payload`);
      reader.reset(bytes);
      let value: T | undefined;
      try {
        value = read(reader);
      } catch (cause) {
        // Only a stack overflow can get here: a recursive type nested deeper than the stack.
        throw new InvalidPayloadError(`${name}: nested too deeply to decode`, { cause });
      } finally {
        reader.release();
      }
      if (reader.malformed) throw new InvalidPayloadError(`${name}: malformed msgpack (truncated, or a byte msgpack never uses)`);
      if (value === undefined) throw invalidPayload(name, reader.error);
      if (!reader.atEnd()) throw new InvalidPayloadError(`${name}: malformed msgpack (bytes after the message)`);
      return value;
    },
  };
}
