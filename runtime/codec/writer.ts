/**
 * The msgpack writer behind generated encoders. A generated encoder knows its message's shape,
 * so it writes each field straight into the buffer: map keys are pre-encoded once per schema
 * (`fieldKey`), and no value goes through a type dispatch or an object walk. The bytes are
 * exactly what a msgpack library writes for the same plain object (a map keyed by field name).
 *
 * Buffer management follows msgpackr's: messages are written one after another into a shared
 * chunk and returned as views of it, so no copy is made and a returned message is never
 * overwritten (a full chunk is replaced by a new one; old views keep theirs alive).
 */
import { mismatch, mismatchValue } from "./check.js";

/** Size of a fresh chunk. A message larger than this gets a chunk of its own size (doubled). */
const chunkSize = 64 * 1024;
/** Strings up to this length are UTF-8 encoded by hand (faster than a native call for short strings). */
const shortString = 64;

const textEncoder = new TextEncoder();

/** A pre-encoded map key: a msgpack str, written with `MsgpackWriter.key`. */
export type FieldKey = Uint8Array;

/** Pre-encodes a field name as a msgpack str (once per schema field, at module load). */
export function fieldKey(name: string): FieldKey {
  const w = new MsgpackWriter(16 + name.length * 3);
  w.str(name);
  return w.finish().slice();
}

export class MsgpackWriter {
  /**
   * Why the last `fail` failed: the path below the root and the reason (`.entry.value: expected
   * Uint8Array, got string`). Generated encoders check every value before writing it, as the
   * decoders do, and return false through every level when one does not match.
   */
  error = "";
  #buf: Uint8Array;
  #view: DataView;
  /** `#buf`'s ArrayBuffer (its `buffer` getter is a builtin call V8 does not inline). */
  #ab: ArrayBuffer;
  /** Where the message being written starts. */
  #start = 0;
  #pos = 0;

  constructor(size = chunkSize) {
    this.#ab = new ArrayBuffer(size);
    this.#buf = new Uint8Array(this.#ab);
    this.#view = new DataView(this.#ab);
  }

  /** Starts a message. */
  begin(): void {
    // 8-byte alignment keeps the DataView writes of the next message aligned.
    this.#pos = this.#start = (this.#pos + 7) & ~7;
    if (this.#pos >= this.#buf.length) this.#grow(0);
  }

  /** Drops the message started by `begin` (an encoder refused a value): its bytes are reused. */
  discard(): void {
    this.#pos = this.#start;
  }

  /** Records a value that does not match at `path`, naming its type; returns false. */
  fail(path: string, expected: string, value: unknown): false {
    this.error = path + mismatch(expected, value);
    return false;
  }

  /** Records a value that does not match at `path`, showing it (literals, enums); returns false. */
  failValue(path: string, expected: string, value: unknown): false {
    this.error = path + mismatchValue(expected, value);
    return false;
  }

  /** Prefixes the path of the failure a nested write recorded; returns false. */
  nested(path: string): false {
    this.error = path + this.error;
    return false;
  }

  /** Ends the message; returns it as a view that stays valid. */
  finish(): Uint8Array {
    // The constructor, not `subarray`: about half the cost (subarray looks up the species
    // constructor, which Node's Buffer subclass keeps off V8's fast path).
    return new Uint8Array(this.#ab, this.#start, this.#pos - this.#start);
  }

  /** Makes room for `n` more bytes, moving the message started so far into a new chunk if needed. */
  #ensure(n: number): void {
    if (this.#pos + n > this.#buf.length) this.#grow(n);
  }

  #grow(n: number): void {
    const used = this.#pos - this.#start;
    const size = Math.max(chunkSize, (used + n) * 2);
    const ab = new ArrayBuffer(size);
    const next = new Uint8Array(ab);
    next.set(this.#buf.subarray(this.#start, this.#pos));
    this.#ab = ab;
    this.#buf = next;
    this.#view = new DataView(ab);
    this.#start = 0;
    this.#pos = used;
  }

  nil(): void {
    this.#ensure(1);
    this.#buf[this.#pos++] = 0xc0;
  }

  bool(v: boolean): void {
    this.#ensure(1);
    this.#buf[this.#pos++] = v ? 0xc3 : 0xc2;
  }

  /** A number: the smallest int format for 32-bit integers, float64 otherwise (as msgpackr). */
  num(v: number): void {
    this.#ensure(9);
    const buf = this.#buf;
    if (v >>> 0 === v) {
      if (v < 0x80) buf[this.#pos++] = v;
      else if (v < 0x100) {
        buf[this.#pos++] = 0xcc;
        buf[this.#pos++] = v;
      } else if (v < 0x10000) {
        buf[this.#pos++] = 0xcd;
        buf[this.#pos++] = v >> 8;
        buf[this.#pos++] = v & 0xff;
      } else {
        buf[this.#pos++] = 0xce;
        this.#view.setUint32(this.#pos, v);
        this.#pos += 4;
      }
    } else if (v >> 0 === v) {
      if (v >= -0x20) buf[this.#pos++] = v & 0xff;
      else if (v >= -0x80) {
        buf[this.#pos++] = 0xd0;
        buf[this.#pos++] = v & 0xff;
      } else if (v >= -0x8000) {
        buf[this.#pos++] = 0xd1;
        this.#view.setInt16(this.#pos, v);
        this.#pos += 2;
      } else {
        buf[this.#pos++] = 0xd2;
        this.#view.setInt32(this.#pos, v);
        this.#pos += 4;
      }
    } else {
      buf[this.#pos++] = 0xcb;
      this.#view.setFloat64(this.#pos, v);
      this.#pos += 8;
    }
  }

  /** A bigint as int64 (or uint64 above 2^63 - 1). False (nothing written) outside 64 bits. */
  bigint(v: bigint): boolean {
    this.#ensure(9);
    if (v >= -0x8000000000000000n && v < 0x8000000000000000n) {
      this.#buf[this.#pos++] = 0xd3;
      this.#view.setBigInt64(this.#pos, v);
    } else if (v > 0n && v < 0x10000000000000000n) {
      this.#buf[this.#pos++] = 0xcf;
      this.#view.setBigUint64(this.#pos, v);
    } else {
      return false;
    }
    this.#pos += 8;
    return true;
  }

  str(v: string): void {
    const len = v.length;
    if (len < shortString) {
      // At most 3 bytes per UTF-16 unit, plus a 2-byte header.
      this.#ensure(2 + len * 3);
      const buf = this.#buf;
      const header = this.#pos;
      // Guess the header from the length in units (fixstr holds 31 bytes); fixed up below when
      // non-ASCII text turns out longer. Minimal headers matter: msgpackr decodes fixstr faster.
      const headerSize = len < 32 ? 1 : 2;
      let pos = header + headerSize;
      for (let i = 0; i < len; i++) {
        let c = v.charCodeAt(i);
        if (c < 0x80) buf[pos++] = c;
        else if (c < 0x800) {
          buf[pos++] = 0xc0 | (c >> 6);
          buf[pos++] = 0x80 | (c & 0x3f);
        } else if ((c & 0xfc00) === 0xd800 && i + 1 < len && (v.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
          c = 0x10000 + ((c & 0x3ff) << 10) + (v.charCodeAt(++i) & 0x3ff);
          buf[pos++] = 0xf0 | (c >> 18);
          buf[pos++] = 0x80 | ((c >> 12) & 0x3f);
          buf[pos++] = 0x80 | ((c >> 6) & 0x3f);
          buf[pos++] = 0x80 | (c & 0x3f);
        } else {
          // A lone surrogate is not UTF-8: written as U+FFFD, as TextEncoder does for long strings.
          if ((c & 0xf800) === 0xd800) c = 0xfffd;
          buf[pos++] = 0xe0 | (c >> 12);
          buf[pos++] = 0x80 | ((c >> 6) & 0x3f);
          buf[pos++] = 0x80 | (c & 0x3f);
        }
      }
      const bytes = pos - header - headerSize;
      if (bytes < 32 && headerSize === 1) buf[header] = 0xa0 | bytes;
      else {
        if (headerSize === 1) {
          buf.copyWithin(header + 2, header + 1, pos);
          pos++;
        }
        buf[header] = 0xd9;
        buf[header + 1] = bytes;
      }
      this.#pos = pos;
      return;
    }
    const max = len * 3;
    const headerSize = max < 0x100 ? 2 : max < 0x10000 ? 3 : 5;
    this.#ensure(headerSize + max);
    const header = this.#pos;
    const { written } = textEncoder.encodeInto(v, this.#buf.subarray(header + headerSize));
    if (headerSize === 2) {
      this.#buf[header] = 0xd9;
      this.#buf[header + 1] = written;
    } else if (headerSize === 3) {
      this.#buf[header] = 0xda;
      this.#view.setUint16(header + 1, written);
    } else {
      this.#buf[header] = 0xdb;
      this.#view.setUint32(header + 1, written);
    }
    this.#pos = header + headerSize + written;
  }

  /** A pre-encoded key (see `fieldKey`). */
  key(k: FieldKey): void {
    const n = k.length;
    this.#ensure(n);
    const buf = this.#buf;
    let pos = this.#pos;
    for (let i = 0; i < n; i++) buf[pos++] = k[i] as number;
    this.#pos = pos;
  }

  bin(v: Uint8Array): void {
    const n = v.length;
    this.#ensure(n + 5);
    if (n < 0x100) {
      this.#buf[this.#pos++] = 0xc4;
      this.#buf[this.#pos++] = n;
    } else if (n < 0x10000) {
      this.#buf[this.#pos++] = 0xc5;
      this.#view.setUint16(this.#pos, n);
      this.#pos += 2;
    } else {
      this.#buf[this.#pos++] = 0xc6;
      this.#view.setUint32(this.#pos, n);
      this.#pos += 4;
    }
    this.#buf.set(v, this.#pos);
    this.#pos += n;
  }

  /** A Date as the msgpack timestamp extension (type -1), in its smallest format. False (nothing written) for an invalid Date. */
  date(v: Date): boolean {
    const ms = v.getTime();
    if (Number.isNaN(ms)) return false;
    this.#ensure(15);
    const seconds = Math.floor(ms / 1000);
    const nanos = (ms - seconds * 1000) * 1_000_000;
    const buf = this.#buf;
    if (nanos === 0 && seconds >= 0 && seconds < 0x100000000) {
      buf[this.#pos++] = 0xd6;
      buf[this.#pos++] = 0xff;
      this.#view.setUint32(this.#pos, seconds);
      this.#pos += 4;
    } else if (seconds >= 0 && seconds < 0x400000000) {
      buf[this.#pos++] = 0xd7;
      buf[this.#pos++] = 0xff;
      this.#view.setUint32(this.#pos, nanos * 4 + Math.floor(seconds / 0x100000000));
      this.#view.setUint32(this.#pos + 4, seconds >>> 0);
      this.#pos += 8;
    } else {
      buf[this.#pos++] = 0xc7;
      buf[this.#pos++] = 12;
      buf[this.#pos++] = 0xff;
      this.#view.setUint32(this.#pos, nanos);
      this.#view.setBigInt64(this.#pos + 4, BigInt(seconds));
      this.#pos += 12;
    }
    return true;
  }

  arrayHeader(n: number): void {
    this.#ensure(5);
    if (n < 0x10) this.#buf[this.#pos++] = 0x90 | n;
    else if (n < 0x10000) {
      this.#buf[this.#pos++] = 0xdc;
      this.#view.setUint16(this.#pos, n);
      this.#pos += 2;
    } else {
      this.#buf[this.#pos++] = 0xdd;
      this.#view.setUint32(this.#pos, n);
      this.#pos += 4;
    }
  }

  mapHeader(n: number): void {
    this.#ensure(5);
    if (n < 0x10) this.#buf[this.#pos++] = 0x80 | n;
    else if (n < 0x10000) {
      this.#buf[this.#pos++] = 0xde;
      this.#view.setUint16(this.#pos, n);
      this.#pos += 2;
    } else {
      this.#buf[this.#pos++] = 0xdf;
      this.#view.setUint32(this.#pos, n);
      this.#pos += 4;
    }
  }

  /**
   * The header of a message's map (a schema interface): always map16, as msgpackr writes plain
   * objects. msgpackr decodes map16 objects about twice as fast as fixmap ones (its fixmap path
   * shares one allocation site with every other small map), and map16 holds 65535 fields.
   */
  fieldsHeader(n: number): void {
    this.#ensure(3);
    this.#buf[this.#pos++] = 0xde;
    this.#buf[this.#pos++] = n >> 8;
    this.#buf[this.#pos++] = n & 0xff;
  }

  /** A value of a literal union or enum: its string or number. */
  scalar(v: string | number | boolean | null): void {
    if (typeof v === "string") this.str(v);
    else if (typeof v === "number") this.num(v);
    else if (typeof v === "boolean") this.bool(v);
    else this.nil();
  }
}
