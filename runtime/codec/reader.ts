/**
 * The msgpack reader behind generated decoders. A generated decoder knows its message's shape,
 * so it reads each value straight from the bytes, checking its type as it goes (validation is
 * the decoding), and builds the object with a fixed shape at the end. It accepts every encoding
 * of a value that msgpack allows (any int width, str8 for short strings, another library's
 * choices), ignores unknown keys and never recurses into values it skips.
 *
 * Every `read` method returns undefined (or -1) without consuming anything when the next value
 * is not of the asked type; `fail` then describes what is there. Truncated input sets
 * `malformed`.
 */
import { mismatch, mismatchValue } from "./check.js";
import { fieldKey } from "./writer.js";

/**
 * Strict: invalid UTF-8 is refused, not replaced by U+FFFD (two different byte strings must never
 * decode to one key), and a leading byte order mark is kept as the character it is.
 */
const textDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
/** Nanoseconds of a timestamp are below this (msgpack spec). */
const nanosPerSecond = 1_000_000_000;
/** The largest time a Date holds, in ms either side of 1970 (ECMAScript). */
const maxDateMs = 8.64e15;
const empty = new Uint8Array(0);
/** Strings up to this many bytes are decoded by hand when they are ASCII (faster than a native call). */
const shortString = 32;

/**
 * A message whose ArrayBuffer is at most this big keeps its views cached in the reader until
 * the next one (frames of one WebSocket message share a buffer, so most decodes reuse them);
 * a larger one gets fresh views that are dropped after its decode, so the shared reader never
 * keeps a large buffer alive.
 */
const cachedBufferLimit = 1024 * 1024;

export class MsgpackReader {
  /**
   * The whole ArrayBuffer of the message, as bytes and as a DataView: positions are absolute
   * (`#pos` starts at the message's byteOffset), so messages that share a buffer share these.
   */
  #buf: Uint8Array = empty;
  #view: DataView = new DataView(empty.buffer);
  /**
   * The ArrayBuffer `#buf` covers whole, or null when `#buf` covers one large message. Kept
   * apart because a typed array's `buffer` getter is a builtin call (about 20 ns) that V8 does
   * not inline: a decode reads it once, from its message.
   */
  #ab: ArrayBufferLike | null = null;
  #pos = 0;
  #end = 0;
  /** The bytes ended in the middle of a value, or hold a byte msgpack never uses. */
  malformed = false;
  /** Why the last `fail` failed: the path below the root and the reason. */
  error = "";

  reset(bytes: Uint8Array): void {
    const ab = bytes.buffer;
    let base = bytes.byteOffset;
    // Views of the whole buffer are reused while messages share it.
    if (ab !== this.#ab) {
      if (ab.byteLength <= cachedBufferLimit) {
        this.#buf = new Uint8Array(ab);
        this.#view = new DataView(ab);
        this.#ab = ab;
      } else {
        // Views of just this message, dropped by `release` after its decode.
        this.#buf = new Uint8Array(ab, base, bytes.byteLength);
        this.#view = new DataView(ab, base, bytes.byteLength);
        this.#ab = null;
        base = 0;
      }
    }
    // Absolute positions in #buf (the buffer's, or the large message's).
    this.#pos = base;
    this.#end = base + bytes.byteLength;
    this.malformed = false;
    this.error = "";
  }

  /** Drops the views of a large message (see `cachedBufferLimit`) once it is decoded. */
  release(): void {
    if (this.#ab === null && this.#buf !== empty) {
      this.#buf = empty;
      this.#view = new DataView(empty.buffer);
    }
  }

  /** Whether every byte was read. */
  atEnd(): boolean {
    return this.#pos === this.#end;
  }

  /** Records a type mismatch at `path` (what is there is described from the next value) and returns undefined. */
  fail(path: string, expected: string): undefined {
    // Nothing left to read: the message was cut short, whatever the schema expected.
    if (this.#pos >= this.#end) this.malformed = true;
    this.error = `${path}: expected ${expected}, got ${this.#describe()}`;
    return undefined;
  }

  /** Records a mismatch of a value already read, naming its type. */
  failType(path: string, expected: string, value: unknown): undefined {
    this.error = path + mismatch(expected, value);
    return undefined;
  }

  /** Records a mismatch of a value already read, showing it (a literal or enum that is not one of the expected values). */
  failValue(path: string, expected: string, value: unknown): undefined {
    this.error = path + mismatchValue(expected, value);
    return undefined;
  }

  /** Records a missing field. */
  missing(path: string, expected: string): undefined {
    this.error = path + mismatch(expected, undefined);
    return undefined;
  }

  /** Records a map key that appears twice (one of its values would be silently dropped). */
  duplicateKey(path: string): undefined {
    this.error = `${path}: duplicate key`;
    return undefined;
  }

  /** Prefixes the path of the failure a nested read recorded. */
  nested(path: string): undefined {
    this.error = path + this.error;
    return undefined;
  }

  #need(n: number): boolean {
    if (this.#pos + n <= this.#end) return true;
    this.malformed = true;
    return false;
  }

  /** The type of the next value, as error messages name it. */
  #describe(): string {
    if (this.#pos >= this.#end) return "end of message";
    const t = this.#buf[this.#pos] as number;
    if ((t === 0xcf || t === 0xd3) && this.#pos + 9 <= this.#end) {
      const n = t === 0xcf ? this.#view.getBigUint64(this.#pos + 1) : this.#view.getBigInt64(this.#pos + 1);
      return n > 9007199254740991n || n < -9007199254740991n ? "bigint" : "number";
    }
    if (t < 0x80 || t >= 0xe0 || (t >= 0xca && t <= 0xd3)) return "number";
    if (t < 0x90 || t === 0xde || t === 0xdf) return "object";
    if (t < 0xa0 || t === 0xdc || t === 0xdd) return "array";
    if (t < 0xc0 || (t >= 0xd9 && t <= 0xdb)) return this.#invalidUtf8() ? "invalid UTF-8" : "string";
    if (t === 0xc0) return "null";
    if (t === 0xc2 || t === 0xc3) return "boolean";
    if (t >= 0xc4 && t <= 0xc6) return "Uint8Array";
    if (this.#extType() === -1) {
      const save = this.#pos;
      const ok = this.date() !== undefined;
      this.#pos = save;
      return ok ? "Date" : this.#timestampProblem();
    }
    if (t === 0xc1) return "an unused byte (0xc1)";
    return "extension";
  }

  #extType(): number | undefined {
    const t = this.#buf[this.#pos];
    const at = t === undefined ? -1 : t >= 0xd4 && t <= 0xd8 ? 1 : t === 0xc7 ? 2 : t === 0xc8 ? 3 : t === 0xc9 ? 5 : -1;
    if (at < 0 || this.#pos + at >= this.#end) return undefined;
    return this.#view.getInt8(this.#pos + at);
  }

  /** Consumes a nil; false (nothing consumed) when the next value is not nil. */
  nil(): boolean {
    if (this.#pos < this.#end && this.#buf[this.#pos] === 0xc0) {
      this.#pos++;
      return true;
    }
    return false;
  }

  bool(): boolean | undefined {
    const t = this.#buf[this.#pos];
    if (t === 0xc3 || t === 0xc2) {
      this.#pos++;
      return t === 0xc3;
    }
    return undefined;
  }

  /** Any scalar: a string, number, boolean or nil (null); undefined (nothing consumed) for anything else. */
  scalar(): string | number | boolean | null | undefined {
    const t = this.#buf[this.#pos];
    if (t === undefined) return this.#truncated();
    if (t === 0xc0) {
      this.#pos++;
      return null;
    }
    if (t === 0xc2 || t === 0xc3) return this.bool();
    if ((t >= 0xa0 && t < 0xc0) || (t >= 0xd9 && t <= 0xdb)) return this.str();
    return this.num();
  }

  /** A number: any int that fits in 53 bits, or a float. */
  num(): number | undefined {
    if (this.#pos >= this.#end) return this.#truncated();
    const t = this.#buf[this.#pos] as number;
    if (t < 0x80) {
      this.#pos++;
      return t;
    }
    if (t >= 0xe0) {
      this.#pos++;
      return t - 0x100;
    }
    const p = this.#pos + 1;
    const v = this.#view;
    let n: number;
    switch (t) {
      case 0xcc:
        if (!this.#need(2)) return undefined;
        n = this.#buf[p] as number;
        this.#pos += 2;
        return n;
      case 0xcd:
        if (!this.#need(3)) return undefined;
        n = v.getUint16(p);
        this.#pos += 3;
        return n;
      case 0xce:
        if (!this.#need(5)) return undefined;
        n = v.getUint32(p);
        this.#pos += 5;
        return n;
      case 0xd0:
        if (!this.#need(2)) return undefined;
        n = v.getInt8(p);
        this.#pos += 2;
        return n;
      case 0xd1:
        if (!this.#need(3)) return undefined;
        n = v.getInt16(p);
        this.#pos += 3;
        return n;
      case 0xd2:
        if (!this.#need(5)) return undefined;
        n = v.getInt32(p);
        this.#pos += 5;
        return n;
      case 0xca:
        if (!this.#need(5)) return undefined;
        n = v.getFloat32(p);
        this.#pos += 5;
        return n;
      case 0xcb:
        if (!this.#need(9)) return undefined;
        n = v.getFloat64(p);
        this.#pos += 9;
        return n;
      case 0xcf:
      case 0xd3: {
        if (!this.#need(9)) return undefined;
        const big = t === 0xcf ? v.getBigUint64(p) : v.getBigInt64(p);
        if (big > 9007199254740991n || big < -9007199254740991n) return undefined; // a bigint
        this.#pos += 9;
        return Number(big);
      }
      default:
        return undefined;
    }
  }

  /** A bigint: any int. */
  bigint(): bigint | undefined {
    const t = this.#buf[this.#pos];
    if (t === 0xcf || t === 0xd3) {
      if (!this.#need(9)) return undefined;
      const n = t === 0xcf ? this.#view.getBigUint64(this.#pos + 1) : this.#view.getBigInt64(this.#pos + 1);
      this.#pos += 9;
      return n;
    }
    if (t === 0xca || t === 0xcb) return undefined;
    const start = this.#pos;
    const n = this.num();
    if (n === undefined) return undefined;
    if (!Number.isInteger(n)) {
      this.#pos = start;
      return undefined;
    }
    return BigInt(n);
  }

  #truncated(): undefined {
    this.malformed = true;
    return undefined;
  }

  /** The byte length of the str at the cursor and moves past its header, or -1 (nothing consumed). */
  #strHeader(): number {
    const t = this.#buf[this.#pos];
    if (t === undefined) {
      this.malformed = true;
      return -1;
    }
    let len: number;
    let h: number;
    if (t >= 0xa0 && t < 0xc0) {
      len = t & 0x1f;
      h = 1;
    } else if (t === 0xd9) {
      if (!this.#need(2)) return -1;
      len = this.#buf[this.#pos + 1] as number;
      h = 2;
    } else if (t === 0xda) {
      if (!this.#need(3)) return -1;
      len = this.#view.getUint16(this.#pos + 1);
      h = 3;
    } else if (t === 0xdb) {
      if (!this.#need(5)) return -1;
      len = this.#view.getUint32(this.#pos + 1);
      h = 5;
    } else return -1;
    if (!this.#need(h + len)) return -1;
    this.#pos += h;
    return len;
  }

  /** A str of valid UTF-8; undefined (nothing consumed) for anything else, invalid UTF-8 included. */
  str(): string | undefined {
    const save = this.#pos;
    const len = this.#strHeader();
    if (len < 0) return undefined;
    const start = this.#pos;
    this.#pos += len;
    if (len <= shortString) {
      // Short ASCII text (most keys, ids, names): char codes straight from the bytes, which is
      // faster than a decoder call for a few bytes.
      const text = asciiText(this.#buf, start, len);
      if (text !== undefined) return text;
    }
    try {
      return textDecoder.decode(this.#buf.subarray(start, start + len));
    } catch {
      // Invalid UTF-8: nothing consumed, so `fail` can name it.
      this.#pos = save;
      return undefined;
    }
  }

  /** Whether the str at the cursor holds invalid UTF-8 (failure path only). */
  #invalidUtf8(): boolean {
    const save = this.#pos;
    const len = this.#strHeader();
    if (len < 0) return false;
    const start = this.#pos;
    this.#pos = save;
    try {
      textDecoder.decode(this.#buf.subarray(start, start + len));
      return false;
    } catch {
      return true;
    }
  }

  /**
   * Reads a map key and returns its index in `keys` (field names as msgpack strs, see
   * `fieldNames`), or -1 for a key of another name or type (consumed either way; the value is
   * then to be skipped). Fields usually arrive in declaration order, so `hint` (the index
   * expected next) is tried first, byte for byte with its header: no header to decode.
   */
  field(keys: readonly Uint8Array[], hint: number): number {
    const buf = this.#buf;
    const pos = this.#pos;
    const n = keys.length;
    if (hint < n) {
      const key = keys[hint] as Uint8Array;
      const len = key.length;
      if (pos + len <= this.#end) {
        let j = 0;
        while (j < len && key[j] === buf[pos + j]) j++;
        if (j === len) {
          this.#pos = pos + len;
          return hint;
        }
      }
    }
    // Another field, or another encoding of its header (str8 for a short name): by name.
    const len = this.#strHeader();
    if (len < 0) {
      this.#pos = pos;
      return this.skip() ? -1 : -2;
    }
    const start = this.#pos;
    this.#pos += len;
    for (let i = 0; i < n; i++) {
      const key = keys[i] as Uint8Array;
      const h = key.length - nameLength(key);
      if (key.length - h !== len) continue;
      let j = 0;
      while (j < len && key[h + j] === buf[start + j]) j++;
      if (j === len) return i;
    }
    return -1;
  }

  bin(): Uint8Array | undefined {
    const t = this.#buf[this.#pos];
    let len: number;
    let h: number;
    if (t === 0xc4) {
      if (!this.#need(2)) return undefined;
      len = this.#buf[this.#pos + 1] as number;
      h = 2;
    } else if (t === 0xc5) {
      if (!this.#need(3)) return undefined;
      len = this.#view.getUint16(this.#pos + 1);
      h = 3;
    } else if (t === 0xc6) {
      if (!this.#need(5)) return undefined;
      len = this.#view.getUint32(this.#pos + 1);
      h = 5;
    } else return undefined;
    if (!this.#need(h + len)) return undefined;
    const start = this.#pos + h;
    this.#pos = start + len;
    // A copy: the message's buffer may be reused by the transport.
    return this.#buf.slice(start, start + len);
  }

  /**
   * A Date: the timestamp extension (type -1), in any of its three formats. Refused (undefined,
   * nothing consumed): nanoseconds of 10^9 or more, and a time outside what a Date holds.
   */
  date(): Date | undefined {
    const ts = this.#timestamp();
    if (ts === undefined) return undefined;
    const [size, seconds, nanos] = ts;
    const ms = seconds * 1000 + Math.floor(nanos / 1_000_000);
    if (nanos >= nanosPerSecond || !(Math.abs(ms) <= maxDateMs)) return undefined;
    this.#pos += size;
    return new Date(ms);
  }

  /** The timestamp extension at the cursor as [bytes, seconds, nanoseconds], unchecked; undefined if there is none. */
  #timestamp(): [number, number, number] | undefined {
    const t = this.#buf[this.#pos];
    const p = this.#pos;
    const v = this.#view;
    if (t === 0xd6 && this.#extType() === -1) {
      if (!this.#need(6)) return undefined;
      return [6, v.getUint32(p + 2), 0];
    }
    if (t === 0xd7 && this.#extType() === -1) {
      if (!this.#need(10)) return undefined;
      const hi = v.getUint32(p + 2);
      return [10, (hi & 0x3) * 0x100000000 + v.getUint32(p + 6), hi >>> 2];
    }
    if (t === 0xc7 && this.#extType() === -1) {
      if (!this.#need(15) || this.#buf[p + 1] !== 12) return undefined;
      return [15, Number(v.getBigInt64(p + 7)), v.getUint32(p + 3)];
    }
    return undefined;
  }

  /** Why the timestamp at the cursor is not a Date (failure path only). */
  #timestampProblem(): string {
    const ts = this.#timestamp();
    if (ts === undefined) return "a malformed timestamp";
    if (ts[2] >= nanosPerSecond) return `a timestamp with ${ts[2]} nanoseconds (at most 999999999)`;
    return `a timestamp outside the range of Date (${ts[1]} s)`;
  }

  /** The length of the array at the cursor (header consumed), or -1. */
  arrayHeader(): number {
    const t = this.#buf[this.#pos];
    if (t === undefined) return (this.malformed = true), -1;
    let n: number;
    if (t >= 0x90 && t < 0xa0) {
      this.#pos++;
      n = t & 0x0f;
    } else if (t === 0xdc) {
      if (!this.#need(3)) return -1;
      n = this.#view.getUint16(this.#pos + 1);
      this.#pos += 3;
    } else if (t === 0xdd) {
      if (!this.#need(5)) return -1;
      n = this.#view.getUint32(this.#pos + 1);
      this.#pos += 5;
    } else return -1;
    // Each element takes at least a byte: a length beyond the message is a lie.
    if (n > this.#end - this.#pos) return (this.malformed = true), -1;
    return n;
  }

  /** The number of entries of the map at the cursor (header consumed), or -1. */
  mapHeader(): number {
    const t = this.#buf[this.#pos];
    if (t === undefined) return (this.malformed = true), -1;
    let n: number;
    if (t >= 0x80 && t < 0x90) {
      this.#pos++;
      n = t & 0x0f;
    } else if (t === 0xde) {
      if (!this.#need(3)) return -1;
      n = this.#view.getUint16(this.#pos + 1);
      this.#pos += 3;
    } else if (t === 0xdf) {
      if (!this.#need(5)) return -1;
      n = this.#view.getUint32(this.#pos + 1);
      this.#pos += 5;
    } else return -1;
    if (n * 2 > this.#end - this.#pos) return (this.malformed = true), -1;
    return n;
  }

  /** Skips one value of any type without recursion; false when the bytes are malformed. */
  skip(): boolean {
    const buf = this.#buf;
    const v = this.#view;
    let pending = 1;
    while (pending > 0) {
      pending--;
      if (this.#pos >= this.#end) return !(this.malformed = true);
      const t = buf[this.#pos] as number;
      let size = 1; // bytes to move past (header and payload)
      if (t < 0x80 || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) size = 1;
      else if (t < 0x90) pending += (t & 0x0f) * 2;
      else if (t < 0xa0) pending += t & 0x0f;
      else if (t < 0xc0) size = 1 + (t & 0x1f);
      else {
        const at = this.#pos + 1;
        const u8 = (): number => (at < this.#end ? (buf[at] as number) : Number.NaN);
        const u16 = (): number => (at + 2 <= this.#end ? v.getUint16(at) : Number.NaN);
        const u32 = (): number => (at + 4 <= this.#end ? v.getUint32(at) : Number.NaN);
        switch (t) {
          case 0xc4: case 0xd9: size = 2 + u8(); break;
          case 0xc5: case 0xda: size = 3 + u16(); break;
          case 0xc6: case 0xdb: size = 5 + u32(); break;
          case 0xc7: size = 3 + u8(); break;
          case 0xc8: size = 4 + u16(); break;
          case 0xc9: size = 6 + u32(); break;
          case 0xcc: case 0xd0: size = 2; break;
          case 0xcd: case 0xd1: size = 3; break;
          case 0xca: case 0xce: case 0xd2: size = 5; break;
          case 0xcb: case 0xcf: case 0xd3: size = 9; break;
          case 0xd4: size = 3; break;
          case 0xd5: size = 4; break;
          case 0xd6: size = 6; break;
          case 0xd7: size = 10; break;
          case 0xd8: size = 18; break;
          case 0xdc: size = 3; pending += u16(); break;
          case 0xdd: size = 5; pending += u32(); break;
          case 0xde: size = 3; pending += u16() * 2; break;
          case 0xdf: size = 5; pending += u32() * 2; break;
          default: return !(this.malformed = true); // 0xc1
        }
        if (Number.isNaN(size) || Number.isNaN(pending)) return !(this.malformed = true);
      }
      if (!this.#need(size) || pending > this.#end - this.#pos) return false;
      this.#pos += size;
    }
    return true;
  }
}

const fromCharCode = String.fromCharCode;

/**
 * The `len` bytes at `start` as a string when they are all ASCII (undefined otherwise), without
 * a native call or an array: up to 8 bytes in one `fromCharCode`, longer text in pieces of 8
 * (joined by `+`, flat once read).
 */
function asciiText(buf: Uint8Array, start: number, len: number): string | undefined {
  const end = start + len;
  let or = 0;
  for (let i = start; i < end; i++) or |= buf[i] as number;
  if (or >= 0x80) return undefined;
  let text = "";
  let i = start;
  for (; i + 8 <= end; i += 8) {
    text += fromCharCode(buf[i]!, buf[i + 1]!, buf[i + 2]!, buf[i + 3]!, buf[i + 4]!, buf[i + 5]!, buf[i + 6]!, buf[i + 7]!);
  }
  switch (end - i) {
    case 0: return text;
    case 1: return text + fromCharCode(buf[i]!);
    case 2: return text + fromCharCode(buf[i]!, buf[i + 1]!);
    case 3: return text + fromCharCode(buf[i]!, buf[i + 1]!, buf[i + 2]!);
    case 4: return text + fromCharCode(buf[i]!, buf[i + 1]!, buf[i + 2]!, buf[i + 3]!);
    case 5: return text + fromCharCode(buf[i]!, buf[i + 1]!, buf[i + 2]!, buf[i + 3]!, buf[i + 4]!);
    case 6: return text + fromCharCode(buf[i]!, buf[i + 1]!, buf[i + 2]!, buf[i + 3]!, buf[i + 4]!, buf[i + 5]!);
    default: return text + fromCharCode(buf[i]!, buf[i + 1]!, buf[i + 2]!, buf[i + 3]!, buf[i + 4]!, buf[i + 5]!, buf[i + 6]!);
  }
}

/** The byte length of the name in a pre-encoded key (a msgpack str). */
function nameLength(key: Uint8Array): number {
  const t = key[0] as number;
  if (t < 0xc0) return t & 0x1f;
  if (t === 0xd9) return key[1] as number;
  if (t === 0xda) return ((key[1] as number) << 8) | (key[2] as number);
  return new DataView(key.buffer, key.byteOffset, key.byteLength).getUint32(1);
}

/**
 * An interface's field names in declaration order, each as the msgpack str an encoder writes
 * (`fieldKey`: header and UTF-8), which is what `MsgpackReader.field` matches.
 */
export function fieldNames(names: readonly string[]): readonly Uint8Array[] {
  return names.map(fieldKey);
}
