/**
 * The text of decoding errors (`<root><path>: expected <type>, got <what>`), built only on the
 * failure path.
 */
import { InvalidPayloadError } from "../errors.js";

/** The type of a value, as error messages name it. */
export function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (v instanceof Uint8Array) return "Uint8Array";
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? "Invalid Date" : "Date";
  if (v instanceof Map) return "Map";
  return typeof v;
}

const maxShownLength = 40;

/** A short rendering of a scalar value (for literal and enum mismatches). */
function show(v: unknown): string {
  if (typeof v === "string") {
    const s = JSON.stringify(v.length > maxShownLength ? `${v.slice(0, maxShownLength)}…` : v);
    return s;
  }
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (typeof v === "bigint") return `${v}n`;
  return typeOf(v);
}

/** `: expected <expected>, got <type of v>`: the tail of a type mismatch. */
export function mismatch(expected: string, v: unknown): string {
  return `: expected ${expected}, got ${typeOf(v)}`;
}

/** Like `mismatch`, but shows scalar values: for literal unions and enums. */
export function mismatchValue(expected: string, v: unknown): string {
  return `: expected ${expected}, got ${show(v)}`;
}

/**
 * Whether a value can be encoded as a `Record<string, T>`: a plain object (its prototype is
 * Object.prototype, or null as decoded Records have), not an array, a Map or a class instance.
 */
export function isRecord(v: unknown): boolean {
  if (typeof v !== "object" || v === null) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * A new decoded `Record`: an object without a prototype, so that no key a peer sends
 * (`constructor`, `hasOwnProperty`, `toString`...) can shadow a method, and a lookup of a key that
 * was not sent is always undefined. (A `"__proto__"` key is refused by decoders and encoders.)
 */
export function newRecord<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/** Arrays up to this length are allocated at their decoded length; longer ones grow as they are read. */
const presizedArrayMax = 1024;

/**
 * A new decoded array for `length` elements (a header's count, at most one per byte left in the
 * message): allocated at its size up to 1024 elements (no growth, no spare capacity); a longer
 * one starts empty and grows as elements are read and checked, so a header that lies costs no
 * memory before its elements do (and V8 keeps it in fast elements).
 */
export function newArray<T>(length: number): T[] {
  return length <= presizedArrayMax ? new Array<T>(length) : [];
}

/** The path segment of a map key: `["key"]`. */
export function keyPath(key: string | number): string {
  return `[${typeof key === "string" ? JSON.stringify(key) : String(key)}]`;
}

/** The error a decoder throws: `<root><path>: expected ..., got ...`. */
export function invalidPayload(root: string, detail: string): InvalidPayloadError {
  return new InvalidPayloadError(root + detail);
}
