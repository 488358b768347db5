/**
 * Emits the encoders behind every codec: one `writeX(w, v)` per schema interface, writing each
 * field straight into the runtime's MsgpackWriter with its pre-encoded key (no object walk, no
 * type dispatch at run time). Absent optional fields are left out of the map.
 *
 * Every value is checked before it is written, with the decoder's checks and paths (typeof,
 * instanceof, literal comparisons): a value that does not match makes `writeX` return false
 * after `w.fail` recorded where and why, so the sender gets the error the receiver would give.
 */
import { codecName, keysName, outputImportPath, runtimeModule, writeName } from "../model/names.js";
import type { SchemaIndex } from "../model/schema-index.js";
import type { InterfaceDecl, TypeRef } from "../model/schema.js";
import { pathCode, showsValue, simpleCond } from "./checks.js";
import type { PathPart } from "./checks.js";
import type { FileBuilder } from "./file-builder.js";
import { Locals, identifier, propertyAccess } from "./locals.js";
import { scalarKinds } from "./scalars.js";
import { expectedText, typeText } from "./type-text.js";
import type { TypeScope } from "./type-text.js";

interface FnContext {
  f: FileBuilder;
  index: SchemaIndex;
  scope: TypeScope;
  locals: Locals;
  out: string[];
}

/** Emits `XKeys` (the pre-encoded field names) and `writeX` for an interface. */
export function emitInterfaceWriter(scope: TypeScope, index: SchemaIndex, decl: InterfaceDecl): void {
  const { f } = scope;
  const fieldKey = f.value("fieldKey", runtimeModule);
  const writer = f.type("MsgpackWriter", runtimeModule);
  const keys = keysName(decl.name);
  if (decl.fields.length > 0) {
    f.print(`const ${keys} = {`);
    for (const field of decl.fields) {
      f.print(`  ${identifier.test(field.name) ? field.name : JSON.stringify(field.name)}: ${fieldKey}(${JSON.stringify(field.name)}),`);
    }
    f.print("};", "");
  }
  const ctx: FnContext = { f, index, scope, locals: new Locals(index, scope.file, ["w", "v"]), out: [] };
  ctx.out.push(`  if (typeof v !== "object" || v === null) return w.fail("", ${JSON.stringify(decl.name)}, v);`);
  const required = decl.fields.filter((x) => !x.optional).length;
  const optional = decl.fields.filter((x) => x.optional).map((x) => `(${propertyAccess("v", x.name)} !== undefined ? 1 : 0)`);
  ctx.out.push(`  w.fieldsHeader(${[String(required), ...optional].join(" + ")});`);
  for (const field of decl.fields) {
    const value = propertyAccess("v", field.name);
    const key = `w.key(${propertyAccess(keys, field.name)});`;
    const path: PathPart[] = [{ lit: identifier.test(field.name) ? `.${field.name}` : `[${JSON.stringify(field.name)}]` }];
    if (field.optional) {
      ctx.out.push(`  if (${value} !== undefined) {`, `    ${key}`);
      ctx.locals.block(() => emitWrite(ctx, "    ", field.type, value, path, field.name));
      ctx.out.push("  }");
    } else {
      ctx.out.push(`  ${key}`);
      emitWrite(ctx, "  ", field.type, value, path, field.name);
    }
  }
  ctx.out.push("  return true;");
  f.print(`/** Writes a \`${decl.name}\` as a msgpack map keyed by field name, checking every value; false (\`w.error\` says where and why) when one does not match. */`);
  f.print(`function ${writeName(decl.name)}(w: ${writer}, v: ${decl.name}): boolean {`, ...ctx.out, "}");
}

/** Emits the checking and writing of `value` (an expression cheap to evaluate again) as type `t`. */
function emitWrite(ctx: FnContext, ind: string, t: TypeRef, value: string, path: PathPart[], hint: string): void {
  const r = ctx.index.resolve(t);
  if (r === undefined) return;
  const p = pathCode(path);
  const expected = JSON.stringify(expectedText(t, ctx.index));
  const fail = (v: string): string => `return w.fail(${p}, ${expected}, ${v});`;
  const kinds = scalarKinds(ctx.index, r);
  if (kinds !== undefined) {
    // Strings, numbers, booleans, null, literals, enums and unions of those: typeof checks and
    // literal comparisons (on a local typed unknown: an enum's type is not comparable to its
    // values, and the comparisons narrow it to what the write accepts).
    const byValue = showsValue(ctx.index, r);
    let x = value;
    if (byValue) {
      x = ctx.locals.fresh(hint);
      ctx.out.push(`${ind}const ${x}: unknown = ${value};`);
    }
    const cond = simpleCond(ctx.index, r, x) ?? "false";
    ctx.out.push(`${ind}if (${cond}) return w.${byValue ? "failValue" : "fail"}(${p}, ${expected}, ${x});`);
    ctx.out.push(`${ind}${scalarWrite(kinds, x)};`);
    return;
  }
  switch (r.kind) {
    case "bigint":
      ctx.out.push(`${ind}if (typeof ${value} !== "bigint") ${fail(value)}`);
      ctx.out.push(`${ind}if (!w.bigint(${value})) return w.failValue(${p}, "a 64-bit integer", ${value});`);
      return;
    case "bytes":
      ctx.out.push(`${ind}if (!(${value} instanceof Uint8Array)) ${fail(value)}`, `${ind}w.bin(${value});`);
      return;
    case "date":
      // w.date refuses an invalid Date, which error messages name "Invalid Date".
      ctx.out.push(`${ind}if (!(${value} instanceof Date) || !w.date(${value})) ${fail(value)}`);
      return;
    case "array": {
      const a = bind(ctx, ind, value, hint);
      ctx.out.push(`${ind}if (!Array.isArray(${a})) ${fail(a)}`);
      ctx.out.push(`${ind}w.arrayHeader(${a}.length);`);
      ctx.locals.block(() => {
        const i = ctx.locals.fresh("i");
        const x = ctx.locals.fresh("x");
        ctx.out.push(`${ind}for (let ${i} = 0; ${i} < ${a}.length; ${i}++) {`);
        ctx.out.push(`${ind}  const ${x} = ${a}[${i}] as ${typeText(r.element, ctx.scope)};`);
        emitWrite(ctx, `${ind}  `, r.element, x, [...path, { lit: "[" }, { code: i }, { lit: "]" }], "x");
        ctx.out.push(`${ind}}`);
      });
      return;
    }
    case "record": {
      const rec = bind(ctx, ind, value, hint);
      const keyPath = ctx.f.value("keyPath", runtimeModule);
      ctx.out.push(`${ind}if (!${ctx.f.value("isRecord", runtimeModule)}(${rec})) ${fail(rec)}`);
      const keys = ctx.locals.fresh("keys");
      ctx.out.push(`${ind}const ${keys} = Object.keys(${rec});`, `${ind}w.mapHeader(${keys}.length);`);
      ctx.locals.block(() => {
        const k = ctx.locals.fresh("k");
        const x = ctx.locals.fresh("x");
        // An own "__proto__" key would replace the decoded record's prototype: the decoder refuses it.
        ctx.out.push(`${ind}for (const ${k} of ${keys}) {`);
        ctx.out.push(`${ind}  if (${k} === "__proto__") return w.failValue(${p}, "a key other than __proto__", ${k});`, `${ind}  w.str(${k});`);
        ctx.out.push(`${ind}  const ${x} = ${rec}[${k}] as ${typeText(r.value, ctx.scope)};`);
        emitWrite(ctx, `${ind}  `, r.value, x, [...path, { code: `${keyPath}(${k})` }], "x");
        ctx.out.push(`${ind}}`);
      });
      return;
    }
    case "map": {
      const m = bind(ctx, ind, value, hint);
      const keyPath = ctx.f.value("keyPath", runtimeModule);
      ctx.out.push(`${ind}if (!(${m} instanceof Map)) ${fail(m)}`);
      ctx.out.push(`${ind}w.mapHeader(${m}.size);`);
      ctx.locals.block(() => {
        const k = ctx.locals.fresh("k");
        const x = ctx.locals.fresh("x");
        ctx.out.push(`${ind}for (const [${k}, ${x}] of ${m}) {`);
        emitWrite(ctx, `${ind}  `, r.key, k, [...path, { lit: " key" }], "k");
        emitWrite(ctx, `${ind}  `, r.value, x, [...path, { code: `${keyPath}(${k})` }], "x");
        ctx.out.push(`${ind}}`);
      });
      return;
    }
    case "union": {
      // Literals, enums and null, plus one other type: dispatch on the scalar members first.
      const v = bind(ctx, ind, value, hint);
      const other = r.members.find((m) => scalarKinds(ctx.index, m) === undefined);
      const scalars = r.members.filter((m) => m !== other);
      const tests = [...new Set(scalars.flatMap((m) => scalarTests(ctx.index, m, v)))];
      if (other === undefined || tests.length === 0) {
        if (other !== undefined) emitWrite(ctx, ind, other, v, path, hint);
        return;
      }
      ctx.out.push(`${ind}if (${tests.join(" || ")}) {`);
      const scalarUnion: TypeRef = { kind: "union", members: scalars };
      if (showsValue(ctx.index, scalarUnion)) {
        ctx.locals.block(() => {
          const s = ctx.locals.fresh("scalar");
          const cond = simpleCond(ctx.index, scalarUnion, s) ?? "false";
          ctx.out.push(`${ind}  const ${s}: unknown = ${v};`, `${ind}  if (${cond}) return w.failValue(${p}, ${expected}, ${s});`, `${ind}  w.scalar(${s});`);
        });
      } else {
        ctx.out.push(`${ind}  w.scalar(${v});`);
      }
      ctx.out.push(`${ind}} else {`);
      ctx.locals.block(() => emitWrite(ctx, `${ind}  `, other, v, path, hint));
      ctx.out.push(`${ind}}`);
      return;
    }
    case "ref": {
      // An interface: its writer checks that the value is an object.
      const write = r.file === ctx.scope.file ? writeName(r.name) : `${ctx.f.value(codecName(r.name), outputImportPath(r.file))}.write`;
      ctx.out.push(`${ind}if (!${write}(w, ${value})) return w.nested(${p});`);
      return;
    }
    default:
      return;
  }
}

/** The write call of a scalar type (string, number, boolean, null, literals, enums, unions of those). */
function scalarWrite(kinds: ReadonlySet<string>, v: string): string {
  if (kinds.size === 1) {
    if (kinds.has("string")) return `w.str(${v})`;
    if (kinds.has("number")) return `w.num(${v})`;
    if (kinds.has("boolean")) return `w.bool(${v})`;
    return "w.nil()";
  }
  return `w.scalar(${v})`;
}

/** Conditions that tell a scalar member's values apart from the union's other member. */
function scalarTests(index: SchemaIndex, t: TypeRef, v: string): string[] {
  return [...(scalarKinds(index, t) ?? [])].map((k) => (k === "null" ? `${v} === null` : `typeof ${v} === "${k}"`));
}

function bind(ctx: FnContext, ind: string, value: string, hint: string): string {
  if (identifier.test(value)) return value;
  const name = ctx.locals.fresh(hint);
  ctx.out.push(`${ind}const ${name} = ${value};`);
  return name;
}
