/**
 * Emits the encoders behind every codec: one `writeX(w, v)` per schema interface, writing each
 * field straight into the runtime's MsgpackWriter with its pre-encoded key (no object walk, no
 * type dispatch at run time). Absent optional fields are left out of the map.
 */
import { codecName, keysName, outputImportPath, runtimeModule, writeName } from "../model/names.js";
import type { SchemaIndex } from "../model/schema-index.js";
import type { InterfaceDecl, TypeRef } from "../model/schema.js";
import type { FileBuilder } from "./file-builder.js";
import { Locals, identifier, propertyAccess } from "./locals.js";
import { scalarKinds } from "./scalars.js";
import { typeText } from "./type-text.js";
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
  const required = decl.fields.filter((x) => !x.optional).length;
  const optional = decl.fields.filter((x) => x.optional).map((x) => `(${propertyAccess("v", x.name)} !== undefined ? 1 : 0)`);
  ctx.out.push(`  w.fieldsHeader(${[String(required), ...optional].join(" + ")});`);
  for (const field of decl.fields) {
    const value = propertyAccess("v", field.name);
    const key = `w.key(${propertyAccess(keys, field.name)});`;
    if (field.optional) {
      ctx.out.push(`  if (${value} !== undefined) {`, `    ${key}`);
      ctx.locals.block(() => emitWrite(ctx, "    ", field.type, value, field.name));
      ctx.out.push("  }");
    } else {
      ctx.out.push(`  ${key}`);
      emitWrite(ctx, "  ", field.type, value, field.name);
    }
  }
  f.print(`/** Writes a \`${decl.name}\` as a msgpack map keyed by field name. */`);
  const param = decl.fields.length === 0 ? "_v" : "v";
  f.print(`function ${writeName(decl.name)}(w: ${writer}, ${param}: ${decl.name}): void {`, ...ctx.out, "}");
}

/** Emits the writing of `value` (an expression cheap to evaluate again) as type `t`. */
function emitWrite(ctx: FnContext, ind: string, t: TypeRef, value: string, hint: string): void {
  const scalar = scalarWrite(ctx, t, value);
  if (scalar !== undefined) {
    ctx.out.push(`${ind}${scalar};`);
    return;
  }
  const r = ctx.index.resolve(t);
  if (r === undefined) return;
  switch (r.kind) {
    case "bigint":
      ctx.out.push(`${ind}w.bigint(${value});`);
      return;
    case "bytes":
      ctx.out.push(`${ind}w.bin(${value});`);
      return;
    case "date":
      ctx.out.push(`${ind}w.date(${value});`);
      return;
    case "array": {
      const a = bind(ctx, ind, value, hint);
      ctx.out.push(`${ind}w.arrayHeader(${a}.length);`);
      ctx.locals.block(() => {
        const i = ctx.locals.fresh("i");
        ctx.out.push(`${ind}for (let ${i} = 0; ${i} < ${a}.length; ${i}++) {`);
        emitWrite(ctx, `${ind}  `, r.element, `(${a}[${i}] as ${typeText(r.element, ctx.scope)})`, "x");
        ctx.out.push(`${ind}}`);
      });
      return;
    }
    case "record": {
      const rec = bind(ctx, ind, value, hint);
      const keys = ctx.locals.fresh("keys");
      ctx.out.push(`${ind}const ${keys} = Object.keys(${rec});`, `${ind}w.mapHeader(${keys}.length);`);
      ctx.locals.block(() => {
        const k = ctx.locals.fresh("k");
        ctx.out.push(`${ind}for (const ${k} of ${keys}) {`, `${ind}  w.str(${k});`);
        emitWrite(ctx, `${ind}  `, r.value, `(${rec}[${k}] as ${typeText(r.value, ctx.scope)})`, "x");
        ctx.out.push(`${ind}}`);
      });
      return;
    }
    case "map": {
      const m = bind(ctx, ind, value, hint);
      ctx.out.push(`${ind}w.mapHeader(${m}.size);`);
      ctx.locals.block(() => {
        const k = ctx.locals.fresh("k");
        const x = ctx.locals.fresh("x");
        ctx.out.push(`${ind}for (const [${k}, ${x}] of ${m}) {`);
        emitWrite(ctx, `${ind}  `, r.key, k, "k");
        emitWrite(ctx, `${ind}  `, r.value, x, "x");
        ctx.out.push(`${ind}}`);
      });
      return;
    }
    case "union": {
      // Literals, enums and null, plus one other type: dispatch on the scalar members first.
      const v = bind(ctx, ind, value, hint);
      const other = r.members.find((m) => scalarWrite(ctx, m, v) === undefined);
      const tests = [...new Set(r.members.filter((m) => m !== other).flatMap((m) => scalarTests(ctx.index, m, v)))];
      if (other === undefined || tests.length === 0) {
        if (other !== undefined) emitWrite(ctx, ind, other, v, hint);
        return;
      }
      ctx.out.push(`${ind}if (${tests.join(" || ")}) w.scalar(${v});`, `${ind}else {`);
      ctx.locals.block(() => emitWrite(ctx, `${ind}  `, other, v, hint));
      ctx.out.push(`${ind}}`);
      return;
    }
    case "ref": {
      const write = r.file === ctx.scope.file ? writeName(r.name) : `${ctx.f.value(codecName(r.name), outputImportPath(r.file))}.write`;
      ctx.out.push(`${ind}${write}(w, ${value});`);
      return;
    }
    default:
      return;
  }
}

/** The write call of a scalar type (string, number, boolean, null, literals, enums, unions of those), or undefined. */
function scalarWrite(ctx: FnContext, t: TypeRef, v: string): string | undefined {
  const kinds = scalarKinds(ctx.index, t);
  if (kinds === undefined) return undefined;
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
