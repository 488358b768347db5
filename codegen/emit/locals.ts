/** Local variable names of generated functions: fresh, readable, block-scoped. */
import type { SchemaIndex } from "../model/schema-index.js";

const reserved = new Set(
  (
    "break case catch class const continue debugger default delete do else enum export extends false finally for function if " +
    "import in instanceof new null return super switch this throw true try typeof var void while with yield let static " +
    "implements interface package private protected public await undefined NaN Infinity arguments eval"
  ).split(" "),
);

/** Module-level names a function body may refer to, which locals must not shadow. */
const globals = new Set(["BigInt", "Number", "String", "Array", "Map", "Date", "Uint8Array", "Object", "keyPath", "isRecord", "newArray", "newRecord", "fieldKey", "fieldNames"]);

export const identifier = /^[A-Za-z_$][\w$]*$/;

/** `o.name`, or `o["content-type"]` when the name is not an identifier. */
export function propertyAccess(object: string, name: string): string {
  return identifier.test(name) ? `${object}.${name}` : `${object}[${JSON.stringify(name)}]`;
}

export class Locals {
  #names: Set<string>;

  /** `taken`: the function's parameters. `file`: its schema file, whose declared names are taken too. */
  constructor(
    readonly index: SchemaIndex,
    readonly file: string,
    taken: readonly string[],
  ) {
    this.#names = new Set(taken);
  }

  /** A name not in use, from `hint` (`x` when `hint` is not an identifier). */
  fresh(hint: string): string {
    const base = identifier.test(hint) ? hint : "x";
    let name = base;
    for (let n = 1; this.#taken(name); n++) name = `${base}${n}`;
    this.#names.add(name);
    return name;
  }

  /** Runs `emit` for the content of a `{ ... }` block: names declared in it are free again after it. */
  block(emit: () => void): void {
    const outer = new Set(this.#names);
    emit();
    this.#names = outer;
  }

  #taken(name: string): boolean {
    return (
      this.#names.has(name) ||
      reserved.has(name) ||
      globals.has(name) ||
      name.startsWith("read") ||
      name.startsWith("write") ||
      name.endsWith("Codec") ||
      name.endsWith("Keys") ||
      name.endsWith("Fields") ||
      this.index.decl(this.file, name) !== undefined
    );
  }
}
