/**
 * Builds one generated file: emitters print lines and ask for imports as they use a name; the
 * builder writes the import block itself (type-only names apart, sorted), so an emitter can
 * never forget or duplicate an import.
 */

export class FileBuilder {
  /** module → name → true when only used as a type. */
  readonly #imports = new Map<string, Map<string, boolean>>();
  readonly #lines: string[] = [];

  constructor(readonly header: string) {}

  /** Imports `name` from `from` for use in type positions only; returns the name to print. */
  type(name: string, from: string): string {
    const names = this.#module(from);
    if (!names.has(name)) names.set(name, true);
    return name;
  }

  /** Imports `name` from `from` as a value; returns the name to print. */
  value(name: string, from: string): string {
    this.#module(from).set(name, false);
    return name;
  }

  /** Appends lines (each string may hold several, separated by newlines). */
  print(...lines: string[]): void {
    for (const l of lines) this.#lines.push(...l.split("\n"));
  }

  /** Appends a JSDoc comment (nothing when `doc` is undefined), indented by `indent`. */
  doc(doc: string | undefined, indent = ""): void {
    if (doc === undefined) return;
    const lines = doc.split("\n");
    if (lines.length === 1 && !doc.includes("*/")) {
      this.#lines.push(`${indent}/** ${doc} */`);
      return;
    }
    this.#lines.push(`${indent}/**`);
    for (const l of lines) this.#lines.push(`${indent} *${l === "" ? "" : ` ${l.replaceAll("*/", "*\\/")}`}`);
    this.#lines.push(`${indent} */`);
  }

  toString(): string {
    const out = [this.header, ""];
    const modules = [...this.#imports.keys()].sort(compareModules);
    for (const m of modules) {
      const names = this.#imports.get(m);
      if (names === undefined) continue;
      const types = [...names].filter(([, typeOnly]) => typeOnly).map(([n]) => n).sort();
      const values = [...names].filter(([, typeOnly]) => !typeOnly).map(([n]) => n).sort();
      if (types.length > 0) out.push(`import type { ${types.join(", ")} } from "${m}";`);
      if (values.length > 0) out.push(`import { ${values.join(", ")} } from "${m}";`);
    }
    if (modules.length > 0) out.push("");
    // Collapse runs of blank lines and end with exactly one newline.
    const body: string[] = [];
    for (const l of this.#lines) {
      if (l === "" && (body.length === 0 || body[body.length - 1] === "")) continue;
      body.push(l);
    }
    while (body.length > 0 && body[body.length - 1] === "") body.pop();
    return `${[...out, ...body].join("\n")}\n`;
  }

  #module(from: string): Map<string, boolean> {
    let names = this.#imports.get(from);
    if (names === undefined) {
      names = new Map();
      this.#imports.set(from, names);
    }
    return names;
  }
}

/** Packages first, then relative modules; alphabetical within each. */
function compareModules(a: string, b: string): number {
  const ra = a.startsWith(".");
  const rb = b.startsWith(".");
  if (ra !== rb) return ra ? 1 : -1;
  return a < b ? -1 : a > b ? 1 : 0;
}
