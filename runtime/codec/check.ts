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
  if (v instanceof Date) return "Date";
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

/** The path segment of a map key: `["key"]`. */
export function keyPath(key: string | number): string {
  return `[${typeof key === "string" ? JSON.stringify(key) : String(key)}]`;
}

/** The error a decoder throws: `<root><path>: expected ..., got ...`. */
export function invalidPayload(root: string, detail: string): InvalidPayloadError {
  return new InvalidPayloadError(root + detail);
}
