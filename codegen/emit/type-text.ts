/** TypeScript text of schema types, as generated declarations and error messages print them. */
import { outputImportPath } from "../model/names.js";
import type { SchemaIndex } from "../model/schema-index.js";
import type { TypeRef } from "../model/schema.js";
import type { FileBuilder } from "./file-builder.js";

/** Where type text is printed: names of other schema files are imported into `f`. */
export interface TypeScope {
  f: FileBuilder;
  /** The schema file being generated. */
  file: string;
}

/** A reference to a declaration of `file`, importing it when it lives in another schema. */
export function refName(scope: TypeScope | undefined, ref: { name: string; file: string }): string {
  if (scope === undefined || ref.file === scope.file) return ref.name;
  return scope.f.type(ref.name, outputImportPath(ref.file));
}

/** The TypeScript text of a type. Without a scope (error messages), nothing is imported. */
export function typeText(t: TypeRef, scope?: TypeScope): string {
  switch (t.kind) {
    case "string":
    case "number":
    case "bigint":
    case "boolean":
    case "null":
      return t.kind;
    case "bytes":
      return "Uint8Array";
    case "date":
      return "Date";
    case "literal":
      return literalText(t.value);
    case "array": {
      const inner = typeText(t.element, scope);
      return t.element.kind === "union" ? `(${inner})[]` : `${inner}[]`;
    }
    case "record":
      return `Record<string, ${typeText(t.value, scope)}>`;
    case "map":
      return `Map<${typeText(t.key, scope)}, ${typeText(t.value, scope)}>`;
    case "union":
      return t.members.map((m) => typeText(m, scope)).join(" | ");
    case "ref":
      return refName(scope, t);
  }
}

export function literalText(v: string | number | boolean): string {
  return typeof v === "string" ? JSON.stringify(v) : String(v);
}

/**
 * What a validator says it expected: aliases expanded (a peer may not have the schema), enums
 * named with their values.
 */
export function expectedText(t: TypeRef, index: SchemaIndex): string {
  switch (t.kind) {
    case "array": {
      const inner = expectedText(t.element, index);
      return index.resolve(t.element)?.kind === "union" ? `(${inner})[]` : `${inner}[]`;
    }
    case "record":
      return `Record<string, ${expectedText(t.value, index)}>`;
    case "map":
      return `Map<${expectedText(t.key, index)}, ${expectedText(t.value, index)}>`;
    case "union":
      return t.members.map((m) => expectedText(m, index)).join(" | ");
    case "ref": {
      const d = index.decl(t.file, t.name);
      if (d?.kind === "alias") return expectedText(d.type, index);
      if (d?.kind === "enum") return `${d.name} (${d.members.map((m) => literalText(m.value)).join(" | ")})`;
      return t.name;
    }
    default:
      return typeText(t);
  }
}
