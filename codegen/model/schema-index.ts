/** Lookups over a parsed schema: declarations by file and name, aliases followed. */
import type { Schema, SchemaFile, TypeDecl, TypeRef } from "./schema.js";

export class SchemaIndex {
  readonly #decls = new Map<string, TypeDecl>();

  constructor(readonly schema: Schema) {
    for (const f of schema.files) for (const d of f.types) this.#decls.set(key(f.path, d.name), d);
  }

  decl(file: string, name: string): TypeDecl | undefined {
    return this.#decls.get(key(file, name));
  }

  file(path: string): SchemaFile | undefined {
    return this.schema.files.find((f) => f.path === path);
  }

  /**
   * Follows aliases until a type that is not an alias reference. Undefined for an unknown
   * declaration or an alias cycle (both reported elsewhere).
   */
  resolve(type: TypeRef): TypeRef | undefined {
    let t = type;
    for (let hops = 0; hops < 64; hops++) {
      if (t.kind !== "ref") return t;
      const d = this.decl(t.file, t.name);
      if (d === undefined) return undefined;
      if (d.kind !== "alias") return t;
      t = d.type;
    }
    return undefined;
  }
}

function key(file: string, name: string): string {
  return `${file}\0${name}`;
}
