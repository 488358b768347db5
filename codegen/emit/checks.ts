/**
 * Emits the validators behind every codec: one `checkX(o)` function per schema interface, made
 * of straight-line `typeof` / `instanceof` / comparison checks (no schema walker at run time).
 * Error paths are string concatenations that run only on the failure path.
 *
 * A validator checks a msgpack-decoded value in place and normalises it where the wire form
 * differs from the TypeScript one: nil optional fields become `undefined`, maps become `Map`s,
 * integers become `bigint`s.
 */
import { checkName, codecName, outputImportPath, runtimeModule } from "../model/names.js";
import type { SchemaIndex } from "../model/schema-index.js";
import type { InterfaceDecl, TypeRef } from "../model/schema.js";
import type { FileBuilder } from "./file-builder.js";
import { Locals, identifier, propertyAccess } from "./locals.js";
import { expectedText, literalText } from "./type-text.js";

/** One piece of an error path: literal text, or code that evaluates to text. */
type PathPart = { lit: string } | { code: string };

interface FnContext {
  f: FileBuilder;
  index: SchemaIndex;
  /** The schema file being generated. */
  file: string;
  locals: Locals;
  out: string[];
}

/** Emits `checkX` for an interface. */
export function emitInterfaceCheck(f: FileBuilder, index: SchemaIndex, file: string, decl: InterfaceDecl): void {
  const ctx: FnContext = { f, index, file, locals: new Locals(index, file, ["o"]), out: [] };
  const isObject = f.value("isObject", runtimeModule);
  const mismatch = f.value("mismatch", runtimeModule);
  f.print(`/** Validates a decoded \`${decl.name}\` in place: undefined when it matches, else where and why not. */`);
  f.print(`function ${checkName(decl.name)}(o: unknown): string | undefined {`);
  f.print(`  if (!${isObject}(o)) return ${mismatch}(${JSON.stringify(decl.name)}, o);`);
  for (const field of decl.fields) {
    const access = propertyAccess("o", field.name);
    const path: PathPart[] = [{ lit: identifier.test(field.name) ? `.${field.name}` : `[${JSON.stringify(field.name)}]` }];
    if (field.optional) emitOptional(ctx, "  ", field.type, access, path, field.name);
    else emitCheck(ctx, "  ", field.type, access, access, path, field.name);
  }
  f.print(...ctx.out);
  f.print("  return undefined;", "}");
}

function emitOptional(ctx: FnContext, ind: string, t: TypeRef, access: string, path: PathPart[], hint: string): void {
  const nullable = allowsNull(ctx.index, t);
  const cond = simpleCond(ctx, t, access);
  if (!nullable) ctx.out.push(`${ind}if (${access} === null) ${access} = undefined;`);
  const prefix = nullable ? "if" : "else if";
  if (cond !== undefined) {
    ctx.out.push(`${ind}${prefix} (${access} !== undefined && ${cond}) ${fail(ctx, t, access, path)}`);
    return;
  }
  ctx.out.push(`${ind}${prefix} (${access} !== undefined) {`);
  block(ctx, () => emitCheck(ctx, `${ind}  `, t, access, access, path, hint));
  ctx.out.push(`${ind}}`);
}

/**
 * Emits the checks of `value` (an expression that is cheap to evaluate again) against `t`.
 * `assign` is where a converted value is stored back.
 */
function emitCheck(ctx: FnContext, ind: string, t: TypeRef, value: string, assign: string, path: PathPart[], hint: string): void {
  const cond = simpleCond(ctx, t, value);
  if (cond !== undefined) {
    ctx.out.push(`${ind}if (${cond}) ${fail(ctx, t, value, path)}`);
    return;
  }
  const r = ctx.index.resolve(t);
  if (r === undefined) return;
  switch (r.kind) {
    case "bigint": {
      const v = bind(ctx, ind, value, hint);
      ctx.out.push(`${ind}if (typeof ${v} !== "bigint") {`);
      ctx.out.push(`${ind}  if (typeof ${v} === "number" && Number.isInteger(${v})) ${assign} = BigInt(${v});`);
      ctx.out.push(`${ind}  else ${fail(ctx, t, v, path)}`);
      ctx.out.push(`${ind}}`);
      return;
    }
    case "array": {
      const a = bind(ctx, ind, value, hint);
      ctx.out.push(`${ind}if (!Array.isArray(${a})) ${fail(ctx, t, a, path)}`);
      block(ctx, () => {
        const i = fresh(ctx, "i");
        ctx.out.push(`${ind}for (let ${i} = 0; ${i} < ${a}.length; ${i}++) {`);
        emitCheck(ctx, `${ind}  `, r.element, `${a}[${i}]`, `${a}[${i}]`, [...path, { lit: "[" }, { code: i }, { lit: "]" }], "x");
        ctx.out.push(`${ind}}`);
      });
      return;
    }
    case "record": {
      const rec = bind(ctx, ind, value, hint);
      ctx.out.push(`${ind}if (!${ctx.f.value("isObject", runtimeModule)}(${rec})) ${fail(ctx, t, rec, path)}`);
      block(ctx, () => {
        const k = fresh(ctx, "k");
        ctx.out.push(`${ind}for (const ${k} in ${rec}) {`);
        emitCheck(ctx, `${ind}  `, r.value, `${rec}[${k}]`, `${rec}[${k}]`, [...path, { code: `${ctx.f.value("keyPath", runtimeModule)}(${k})` }], "x");
        ctx.out.push(`${ind}}`);
      });
      return;
    }
    case "map": {
      const rec = bind(ctx, ind, value, hint);
      ctx.out.push(`${ind}if (!${ctx.f.value("isObject", runtimeModule)}(${rec})) ${fail(ctx, t, rec, path)}`);
      const m = fresh(ctx, "m");
      ctx.out.push(`${ind}const ${m} = new Map<unknown, unknown>();`);
      block(ctx, () => {
        const k = fresh(ctx, "k");
        const itemPath: PathPart[] = [...path, { code: `${ctx.f.value("keyPath", runtimeModule)}(${k})` }];
        ctx.out.push(`${ind}for (const ${k} in ${rec}) {`);
        const key = emitMapKey(ctx, `${ind}  `, r.key, k, itemPath);
        const x = fresh(ctx, "x");
        ctx.out.push(`${ind}  ${needsConversion(ctx.index, r.value) ? "let" : "const"} ${x} = ${rec}[${k}];`);
        emitCheck(ctx, `${ind}  `, r.value, x, x, itemPath, "x");
        ctx.out.push(`${ind}  ${m}.set(${key}, ${x});`);
        ctx.out.push(`${ind}}`);
      });
      ctx.out.push(`${ind}${assign} = ${m};`);
      return;
    }
    case "union": {
      const simple = r.members.filter((m) => simpleCond(ctx, m, value) !== undefined);
      const complex = r.members.filter((m) => simpleCond(ctx, m, value) === undefined);
      const other = complex[0];
      if (other === undefined) return;
      const v = bind(ctx, ind, value, hint);
      const conds = simple.map((m) => simpleCond(ctx, m, v) ?? "true");
      if (conds.length === 0) {
        emitCheck(ctx, ind, other, v, assign, path, hint);
        return;
      }
      ctx.out.push(`${ind}if (${conds.join(" && ")}) {`);
      block(ctx, () => emitCheck(ctx, `${ind}  `, other, v, assign, path, hint));
      ctx.out.push(`${ind}}`);
      return;
    }
    case "ref": {
      // An interface (aliases are resolved, enums are simple).
      const check = r.file === ctx.file ? checkName(r.name) : `${ctx.f.value(codecName(r.name), outputImportPath(r.file))}.check`;
      const e = fresh(ctx, "e");
      ctx.out.push(`${ind}const ${e} = ${check}(${value});`);
      ctx.out.push(`${ind}if (${e} !== undefined) return ${pathCode(path, true)}${e};`);
      return;
    }
    default:
      return;
  }
}

/** Emits the conversion and check of a map key (a string, as msgpack maps decode); returns the key expression. */
function emitMapKey(ctx: FnContext, ind: string, t: TypeRef, k: string, path: PathPart[]): string {
  const r = ctx.index.resolve(t);
  if (r === undefined) return k;
  if (r.kind === "string") return k;
  const numeric = isNumericKey(ctx.index, r);
  let key = k;
  if (numeric) {
    key = fresh(ctx, "key");
    ctx.out.push(`${ind}const ${key} = Number(${k});`);
    if (r.kind === "number") {
      ctx.out.push(`${ind}if (${k} === "" || Number.isNaN(${key})) ${failText(ctx, "number", k, path, true)}`);
      return key;
    }
  }
  const cond = simpleCond(ctx, r, key);
  if (cond !== undefined) ctx.out.push(`${ind}if (${cond}) ${failText(ctx, expectedText(t, ctx.index), k, path, true)}`);
  return key;
}

function isNumericKey(index: SchemaIndex, t: TypeRef): boolean {
  if (t.kind === "number") return true;
  if (t.kind === "literal") return typeof t.value === "number";
  if (t.kind === "union") return t.members.every((m) => m.kind === "literal" && typeof m.value === "number");
  if (t.kind === "ref") {
    const d = index.decl(t.file, t.name);
    return d?.kind === "enum" && d.members.every((m) => typeof m.value === "number");
  }
  return false;
}

/**
 * The failure condition of a type that needs no conversion and no loop (primitives, literals,
 * enums, unions and aliases of those), or undefined. Always a chain of `&&` over simple
 * comparisons, so conditions combine without parentheses.
 */
function simpleCond(ctx: FnContext, t: TypeRef, v: string): string | undefined {
  switch (t.kind) {
    case "string":
    case "number":
    case "boolean":
      return `typeof ${v} !== "${t.kind}"`;
    case "bytes":
      return `!(${v} instanceof Uint8Array)`;
    case "date":
      return `!(${v} instanceof Date)`;
    case "null":
      return `${v} !== null`;
    case "literal":
      return `${v} !== ${literalText(t.value)}`;
    case "union": {
      const conds: string[] = [];
      for (const m of t.members) {
        const c = simpleCond(ctx, m, v);
        if (c === undefined) return undefined;
        conds.push(c);
      }
      return conds.join(" && ");
    }
    case "ref": {
      const d = ctx.index.decl(t.file, t.name);
      if (d?.kind === "alias") return simpleCond(ctx, d.type, v);
      if (d?.kind === "enum") return d.members.map((m) => `${v} !== ${literalText(m.value)}`).join(" && ") || "true";
      return undefined;
    }
    default:
      return undefined;
  }
}

/** Whether a failing value is best shown by value (literals, enums) rather than by type. */
function showsValue(index: SchemaIndex, t: TypeRef): boolean {
  const r = index.resolve(t);
  if (r === undefined) return false;
  if (r.kind === "literal") return true;
  if (r.kind === "union") return r.members.some((m) => showsValue(index, m));
  if (r.kind === "ref") return index.decl(r.file, r.name)?.kind === "enum";
  return false;
}

function fail(ctx: FnContext, t: TypeRef, value: string, path: PathPart[]): string {
  return failText(ctx, expectedText(t, ctx.index), value, path, showsValue(ctx.index, t));
}

function failText(ctx: FnContext, expected: string, value: string, path: PathPart[], byValue: boolean): string {
  const fn = ctx.f.value(byValue ? "mismatchValue" : "mismatch", runtimeModule);
  return `return ${pathCode(path, true)}${fn}(${JSON.stringify(expected)}, ${value});`;
}

/** The code of a path, merging literal parts; with `concat`, followed by ` + ` (empty path: nothing). */
function pathCode(path: PathPart[], concat: boolean): string {
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
  if (lit !== "") parts.push(JSON.stringify(lit));
  if (parts.length === 0) return "";
  return concat ? `${parts.join(" + ")} + ` : parts.join(" + ");
}

/** Binds `value` to a fresh const unless it is already a plain name; returns the name. */
function bind(ctx: FnContext, ind: string, value: string, hint: string): string {
  if (identifier.test(value)) return value;
  const name = fresh(ctx, hint);
  ctx.out.push(`${ind}const ${name} = ${value};`);
  return name;
}

function fresh(ctx: FnContext, hint: string): string {
  return ctx.locals.fresh(hint);
}

function block(ctx: FnContext, emit: () => void): void {
  ctx.locals.block(emit);
}

function allowsNull(index: SchemaIndex, t: TypeRef): boolean {
  const r = index.resolve(t);
  if (r === undefined) return false;
  if (r.kind === "null") return true;
  return r.kind === "union" && r.members.some((m) => allowsNull(index, m));
}

/** Whether checking a value may replace it (bigint from number, Map from object). */
function needsConversion(index: SchemaIndex, t: TypeRef): boolean {
  const r = index.resolve(t);
  if (r === undefined) return false;
  if (r.kind === "bigint" || r.kind === "map") return true;
  return r.kind === "union" && r.members.some((m) => needsConversion(index, m));
}
