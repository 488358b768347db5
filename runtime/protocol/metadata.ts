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
/**
 * Received metadata objects: no Object.prototype in their chain (so `ctx.metadata["toString"]`
 * is undefined, as for any absent key), yet made by a constructor, so V8 keeps them in fast
 * mode (an `Object.create(null)` object is a slow dictionary from the start).
 */
function ReceivedMetadata(this: Metadata): void {}
ReceivedMetadata.prototype = Object.create(null);
const newMetadata = (): Metadata => new (ReceivedMetadata as unknown as new () => Metadata)();

/** What every call without metadata sees: frozen, shared, allocation-free. */
export const EMPTY_METADATA: Readonly<Metadata> = Object.freeze(newMetadata());

const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function validKey(key: string): boolean {
  if (key.length === 0 || key.length > MAX_KEY_CHARS || key === "__proto__") return false;
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
 *
 * Two passes over the keys (check and size, then write) into one buffer carved from a shared
 * slab: no array of keys or values, no ArrayBuffer of its own per call (a fresh
 * `new Uint8Array` per call was most of the cost of a call with a request id).
 */
export function encodeWithMetadata(
  metadata: Readonly<Metadata>,
  payload: Uint8Array | undefined,
  maxBytes: number,
): Uint8Array | Error {
  if (typeof metadata !== "object" || metadata === null) {
    return new TypeError(`metadata must be an object of string values, got ${metadata === null ? "null" : typeof metadata}`);
  }
  let size = 0;
  for (const key in metadata) {
    if (!hasOwn.call(metadata, key)) continue;
    const value: unknown = metadata[key];
    if (!validKey(key)) {
      return new TypeError(`metadata key ${JSON.stringify(key.slice(0, 64))} must be 1..${MAX_KEY_CHARS} chars of [0-9a-z._-]`);
    }
    if (typeof value !== "string") return new TypeError(`metadata value of "${key}" must be a string, got ${typeof value}`);
    size += 3 + key.length + utf8Length(value);
    if (size > maxBytes || size > MAX_METADATA_BYTES) return tooLarge(metadata, maxBytes);
  }
  const body = carve(METADATA_HEADER_BYTES + size + (payload?.byteLength ?? 0));
  const header = size | (payload === undefined ? NO_PAYLOAD_BIT : 0);
  body[0] = header & 0xff;
  body[1] = header >>> 8;
  let o = METADATA_HEADER_BYTES;
  for (const key in metadata) {
    if (!hasOwn.call(metadata, key)) continue;
    const value = metadata[key]!;
    body[o++] = key.length;
    for (let j = 0; j < key.length; j++) body[o++] = key.charCodeAt(j);
    const at = o;
    o += 2;
    // ASCII: one byte per char, no encoder call; the rest (if any) through Buffer's UTF-8 writer.
    let j = 0;
    for (; j < value.length; j++) {
      const c = value.charCodeAt(j);
      if (c > 0x7f) break;
      body[o++] = c;
    }
    if (j < value.length) o += encoder.encodeInto(value.slice(j), body.subarray(o)).written;
    const length = o - at - 2;
    body[at] = length & 0xff;
    body[at + 1] = length >>> 8;
  }
  // A getter or proxy that answered differently the second time: never send a section whose
  // header disagrees with its pairs (the peer would drop the whole connection).
  if (o !== METADATA_HEADER_BYTES + size) return new TypeError("metadata changed while it was being encoded");
  if (payload !== undefined) body.set(payload, o);
  return body;
}

const hasOwn = Object.prototype.hasOwnProperty;
const encoder = new TextEncoder();

/** Sections up to half a slab are carved from the current slab; a slab is dropped once full. */
const SLAB_BYTES = 8 * 1024;
let slab = new ArrayBuffer(SLAB_BYTES);
let slabOffset = 0;

/** `n` fresh bytes (never handed out before): a view into the slab, or a buffer of their own. */
function carve(n: number): Uint8Array {
  if (n > SLAB_BYTES / 2) return new Uint8Array(n);
  if (slabOffset + n > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES);
    slabOffset = 0;
  }
  const bytes = new Uint8Array(slab, slabOffset, n);
  slabOffset += (n + 7) & ~7;
  return bytes;
}

/** UTF-8 byte length of `value` (a lone surrogate counts as U+FFFD, as it is written). */
function utf8Length(value: string): number {
  for (let i = 0; i < value.length; i++) if (value.charCodeAt(i) > 0x7f) return Buffer.byteLength(value, "utf8");
  return value.length;
}

/** The error of metadata over the bound, with the size of all its pairs (a cold path). */
function tooLarge(metadata: Readonly<Metadata>, maxBytes: number): MessageTooLargeError {
  let total = 0;
  for (const k of Object.keys(metadata)) {
    const v = metadata[k];
    total += 3 + k.length + (typeof v === "string" ? utf8Length(v) : 0);
  }
  return new MessageTooLargeError(`metadata of ${total} bytes exceeds maxMetadataBytes ${maxBytes}`);
}

/** The string of `length` bytes at `offset`: ASCII read directly, anything else through the UTF-8 decoder. */
function readValue(area: Uint8Array, offset: number, length: number): string | undefined {
  const end = offset + length;
  for (let i = offset; i < end; i++) {
    if (area[i]! > 0x7f) {
      try {
        return decoder.decode(area.subarray(offset, end));
      } catch {
        return undefined;
      }
    }
  }
  return asciiString(area, offset, end);
}

/**
 * The ASCII bytes [start, end) of `area` as one flat string. Received frames are Buffers (the
 * socket's), read by Buffer's native latin1 decoder, a quarter of the cost of the generic
 * path; any other Uint8Array goes through `String.fromCharCode` at once (a char-by-char
 * concatenation builds a rope to flatten later).
 */
function asciiString(area: Uint8Array, start: number, end: number): string {
  if (area instanceof Buffer) return area.toString("latin1", start, end);
  return String.fromCharCode.apply(null, area.subarray(start, end) as unknown as number[]);
}

/**
 * The last valid key read of each length: keys repeat from call to call (a request id, a
 * traceparent), so a received key is usually this string again, found without building a
 * string or checking its characters.
 */
const recentKeys: (string | undefined)[] = new Array<string | undefined>(MAX_KEY_CHARS + 1).fill(undefined);

/** The key of `length` bytes at `offset`; throws ProtocolError when it is not a valid key. */
function readKey(area: Uint8Array, offset: number, length: number): string {
  const recent = recentKeys[length];
  if (recent !== undefined) {
    let j = 0;
    while (j < length && recent.charCodeAt(j) === area[offset + j]) j++;
    if (j === length) return recent;
  }
  const key = asciiString(area, offset, offset + length);
  if (!validKey(key)) throw new ProtocolError("metadata key outside [0-9a-z._-]");
  recentKeys[length] = key;
  return key;
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
  const metadata = newMetadata();
  let o = METADATA_HEADER_BYTES;
  while (o < end) {
    const keyLength = area[o++]!;
    if (keyLength === 0 || o + keyLength + 2 > end) throw new ProtocolError("bad metadata key length");
    const key = readKey(area, o, keyLength);
    o += keyLength;
    if (metadata[key] !== undefined) throw new ProtocolError(`metadata key "${key}" repeated`);
    const valueLength = area[o]! | (area[o + 1]! << 8);
    o += 2;
    if (o + valueLength > end) throw new ProtocolError("metadata value overruns its section");
    const value = readValue(area, o, valueLength);
    if (value === undefined) throw new ProtocolError(`metadata value of "${key}" is not valid UTF-8`);
    o += valueLength;
    metadata[key] = value;
  }
  if (size > maxBytes) {
    throw new MessageTooLargeError(`metadata of ${size} bytes exceeds maxMetadataBytes ${maxBytes} of the server`);
  }
  return { metadata: Object.freeze(metadata), payload: noPayload ? undefined : area.subarray(end), bytes: size };
}
