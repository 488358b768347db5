/** Value checks shared by the emitted decoders and encoders: conditions and error paths. */
import type { SchemaIndex } from "../model/schema-index.js";
import type { TypeRef } from "../model/schema.js";
import { literalText } from "./type-text.js";

/** One piece of an error path: literal text, or code that evaluates to text. */
export type PathPart = { lit: string } | { code: string };

/**
 * The failure condition of a scalar value `v` against `t` (typeof checks and literal
 * comparisons, joined by `&&`), or undefined when `t` is not a scalar type.
 */
export function simpleCond(index: SchemaIndex, t: TypeRef, v: string): string | undefined {
  switch (t.kind) {
    case "string":
    case "number":
    case "boolean":
      return `typeof ${v} !== "${t.kind}"`;
    case "null":
      return `${v} !== null`;
    case "literal":
      return `${v} !== ${literalText(t.value)}`;
    case "union": {
      const conds: string[] = [];
      for (const m of t.members) {
        const c = simpleCond(index, m, v);
        if (c === undefined) return undefined;
        conds.push(c);
      }
      return conds.join(" && ");
    }
    case "ref": {
      const d = index.decl(t.file, t.name);
      if (d?.kind === "alias") return simpleCond(index, d.type, v);
      if (d?.kind === "enum") return d.members.map((m) => `${v} !== ${literalText(m.value)}`).join(" && ") || "true";
      return undefined;
    }
    default:
      return undefined;
  }
}

/** Whether a failing value is best shown by value (literals, enums) rather than by type. */
export function showsValue(index: SchemaIndex, t: TypeRef): boolean {
  const r = index.resolve(t);
  if (r === undefined) return false;
  if (r.kind === "literal") return true;
  if (r.kind === "union") return r.members.some((m) => showsValue(index, m));
  if (r.kind === "ref") return index.decl(r.file, r.name)?.kind === "enum";
  return false;
}

/** The code of a path, merging literal parts (`""` when empty). */
export function pathCode(path: PathPart[]): string {
  const parts: string[] = [];
  let lit = "";
  for (const p of path) {
    if ("lit" in p) lit += p.lit;
    else {
      if (lit !== "") parts.push(JSON.stringify(lit));
      lit = "";
      parts.push(p.code);
    }
  }
  if (lit !== "" || parts.length === 0) parts.push(JSON.stringify(lit));
  return parts.join(" + ");
}
