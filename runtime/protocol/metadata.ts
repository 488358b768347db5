/**
 * Per-call metadata: string keys to string values (a request id, a tenant, a trace context)
 * that travel with a call's first frame (`Request` or `ConnectMux`).
 *
 * Carried only when present: the frame then has `Flag.HasMetadata`, and its payload area
 * starts with a metadata section, followed by the call's payload (see docs/PROTOCOL.md):
 *
 *   u16 header      low 15 bits: byte length of the pairs; bit 15: the call has NO payload
 *   pairs           per pair: u8 key length | key (ASCII) | u16 value length | value (UTF-8)
 *   payload         the rest of the frame's payload area
 *
 * A call without metadata costs nothing: no flag, no section, no allocation.
 */
import { MessageTooLargeError, ProtocolError } from "../errors.js";

/** A call's metadata: lowercase keys (`[0-9a-z._-]`, 1..255 chars) to string values. */
export type Metadata = Record<string, string>;

/** Largest `maxMetadataBytes` accepted: the section's length field has 15 bits. */
export const MAX_METADATA_BYTES = 0x7fff;
/** Default `maxMetadataBytes` (as gRPC's default bound on metadata): 8 KiB. */
export const DEFAULT_MAX_METADATA_BYTES = 8 * 1024;
/** Bytes of the section's header. */
export const METADATA_HEADER_BYTES = 2;

const NO_PAYLOAD_BIT = 0x8000;
const MAX_KEY_CHARS = 255;
const MAX_VALUE_BYTES = 0xffff;
/** What every call without metadata sees: frozen, shared, allocation-free. */
export const EMPTY_METADATA: Readonly<Metadata> = Object.freeze(Object.create(null) as Metadata);

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function validKey(key: string): boolean {
  if (key.length === 0 || key.length > MAX_KEY_CHARS) return false;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e || c === 0x5f;
    if (!ok) return false;
  }
  return true;
}

/** Whether `metadata` has at least one key (an empty object is sent as no metadata). */
export function hasMetadata(metadata: Readonly<Metadata> | undefined): metadata is Readonly<Metadata> {
  if (metadata === undefined) return false;
  for (const _ in metadata) return true;
  return false;
}

/**
 * Builds the payload area of a call's first frame: the metadata section, then `payload`.
 * Returns (never throws) a TypeError for a bad key or value, or MessageTooLargeError when the
 * pairs take more than `maxBytes`.
 */
export function encodeWithMetadata(
  metadata: Readonly<Metadata>,
  payload: Uint8Array | undefined,
  maxBytes: number,
): Uint8Array | Error {
  if (typeof metadata !== "object" || metadata === null) {
    return new TypeError(`metadata must be an object of string values, got ${metadata === null ? "null" : typeof metadata}`);
  }
  const keys: string[] = [];
  const values: Uint8Array[] = [];
  let size = 0;
  for (const key of Object.keys(metadata)) {
    const value: unknown = metadata[key];
    if (!validKey(key)) {
      return new TypeError(`metadata key ${JSON.stringify(key.slice(0, 64))} must be 1..${MAX_KEY_CHARS} chars of [0-9a-z._-]`);
    }
    if (typeof value !== "string") return new TypeError(`metadata value of "${key}" must be a string, got ${typeof value}`);
    const bytes = encoder.encode(value);
    size += 1 + key.length + 2 + bytes.byteLength;
    if (size > maxBytes || bytes.byteLength > MAX_VALUE_BYTES) {
      let total = size;
      for (const k of Object.keys(metadata)) {
        const v = metadata[k];
        if (k !== key && typeof v === "string") total += 3 + k.length + encoder.encode(v).byteLength;
      }
      return new MessageTooLargeError(`metadata of ${total} bytes exceeds maxMetadataBytes ${maxBytes}`);
    }
    keys.push(key);
    values.push(bytes);
  }
  const body = new Uint8Array(METADATA_HEADER_BYTES + size + (payload?.byteLength ?? 0));
  const header = size | (payload === undefined ? NO_PAYLOAD_BIT : 0);
  body[0] = header & 0xff;
  body[1] = header >>> 8;
  let o = METADATA_HEADER_BYTES;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const value = values[i]!;
    body[o++] = key.length;
    for (let j = 0; j < key.length; j++) body[o++] = key.charCodeAt(j);
    body[o++] = value.byteLength & 0xff;
    body[o++] = value.byteLength >>> 8;
    body.set(value, o);
    o += value.byteLength;
  }
  if (payload !== undefined) body.set(payload, o);
  return body;
}

/** A received call's metadata and payload, split out of its first frame's payload area. */
export interface SplitMetadata {
  metadata: Readonly<Metadata>;
  payload: Uint8Array | undefined;
  /** Bytes of the pairs (what `maxMetadataBytes` bounds). */
  bytes: number;
}

/**
 * Splits the payload area of a frame with `Flag.HasMetadata`. Throws ProtocolError when the
 * section is malformed (the peer's encoder is broken: the connection is dropped), and
 * MessageTooLargeError when it is well-formed but larger than this side's `maxBytes` (a
 * difference of configuration: only that call fails).
 */
export function splitMetadata(area: Uint8Array | undefined, maxBytes: number): SplitMetadata {
  if (area === undefined || area.byteLength < METADATA_HEADER_BYTES) {
    throw new ProtocolError("metadata section shorter than its header");
  }
  const header = area[0]! | (area[1]! << 8);
  const size = header & ~NO_PAYLOAD_BIT;
  const end = METADATA_HEADER_BYTES + size;
  if (end > area.byteLength) throw new ProtocolError(`metadata section of ${size} bytes overruns the frame`);
  const noPayload = (header & NO_PAYLOAD_BIT) !== 0;
  if (noPayload && end !== area.byteLength) throw new ProtocolError("metadata says no payload, but bytes follow");
  if (size === 0) throw new ProtocolError("empty metadata section (a call without metadata has no section)");
  const metadata = Object.create(null) as Metadata;
  let o = METADATA_HEADER_BYTES;
  while (o < end) {
    const keyLength = area[o++]!;
    if (keyLength === 0 || o + keyLength + 2 > end) throw new ProtocolError("bad metadata key length");
    let key = "";
    for (let j = 0; j < keyLength; j++) key += String.fromCharCode(area[o + j]!);
    o += keyLength;
    if (!validKey(key)) throw new ProtocolError("metadata key outside [0-9a-z._-]");
    if (key in metadata) throw new ProtocolError(`metadata key "${key}" repeated`);
    const valueLength = area[o]! | (area[o + 1]! << 8);
    o += 2;
    if (o + valueLength > end) throw new ProtocolError("metadata value overruns its section");
    let value: string;
    try {
      value = decoder.decode(area.subarray(o, o + valueLength));
    } catch {
      throw new ProtocolError(`metadata value of "${key}" is not valid UTF-8`);
    }
    o += valueLength;
    metadata[key] = value;
  }
  if (size > maxBytes) {
    throw new MessageTooLargeError(`metadata of ${size} bytes exceeds maxMetadataBytes ${maxBytes} of the server`);
  }
  return { metadata: Object.freeze(metadata), payload: noPayload ? undefined : area.subarray(end), bytes: size };
}
