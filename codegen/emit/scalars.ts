/** Scalar schema types (strings, numbers, booleans, null, their literals, enums and unions of those). */
import type { SchemaIndex } from "../model/schema-index.js";
import type { TypeRef } from "../model/schema.js";

export type ScalarKind = "string" | "number" | "boolean" | "null";

/** The JS types a scalar type's values have (strings, numbers, booleans, null), or undefined for other types. */
export function scalarKinds(index: SchemaIndex, t: TypeRef): Set<ScalarKind> | undefined {
  switch (t.kind) {
    case "string":
    case "number":
    case "boolean":
    case "null":
      return new Set([t.kind]);
    case "literal":
      return new Set([typeof t.value as "string" | "number" | "boolean"]);
    case "union": {
      const all = new Set<ScalarKind>();
      for (const m of t.members) {
        const k = scalarKinds(index, m);
        if (k === undefined) return undefined;
        for (const x of k) all.add(x);
      }
      return all;
    }
    case "ref": {
      const d = index.decl(t.file, t.name);
      if (d?.kind === "alias") return scalarKinds(index, d.type);
      if (d?.kind === "enum") return new Set(d.members.map((m) => typeof m.value as "string" | "number"));
      return undefined;
    }
    default:
      return undefined;
  }
}
