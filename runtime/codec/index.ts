// What generated codecs, clients and `register*` functions call at run time.
export type { Codec, Read, Write } from "./codec.js";
export { MsgpackReader, fieldNames } from "./reader.js";
export type { FieldKey } from "./writer.js";
export { MsgpackWriter, fieldKey } from "./writer.js";
export { messageCodec } from "./codec.js";
export { encodeMsgpack } from "./msgpack.js";
export { invalidPayload, isRecord, keyPath, newArray, newRecord, mismatch, mismatchValue, typeOf } from "./check.js";
export type { RegisterOptions } from "./register.js";
export { requestTyped, requestTypedEmpty } from "./typed-single.js";
export type { BidiStream, ServerStream, TypedStreamWriter } from "./typed-stream.js";
export { bidiStream, decodeInput, mapAsyncIterable, serveStream, serverStream } from "./typed-stream.js";
