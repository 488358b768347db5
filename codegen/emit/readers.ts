/**
 * Emits the decoders behind every codec: one `readX(r)` per schema interface that reads each
 * value straight from the msgpack bytes with the runtime's MsgpackReader, checking its type as
 * it reads (no intermediate object, no schema walker), and builds `X` with a fixed shape at the
 * end. Error paths are string concatenations that run only on the failure path.
 */
import { codecName, fieldsName, outputImportPath, readName, runtimeModule } from "../model/names.js";
import type { SchemaIndex } from "../model/schema-index.js";
import type { InterfaceDecl, TypeRef } from "../model/schema.js";
import { Locals, identifier } from "./locals.js";
import { scalarKinds } from "./scalars.js";
import { pathCode, showsValue, simpleCond } from "./checks.js";
import type { PathPart } from "./checks.js";
import { expectedText, typeText } from "./type-text.js";
import type { TypeScope } from "./type-text.js";

interface FnContext {
  scope: TypeScope;
  index: SchemaIndex;
  locals: Locals;
  out: string[];
}

/** Emits `XFields` (the field names as UTF-8) and `readX` for an interface. */
export function emitInterfaceReader(scope: TypeScope, index: SchemaIndex, decl: InterfaceDecl): void {
  const { f } = scope;
  const reader = f.type("MsgpackReader", runtimeModule);
  const fields = fieldsName(decl.name);
  if (decl.fields.length > 0) {
    f.print(`const ${fields} = ${f.value("fieldNames", runtimeModule)}([${decl.fields.map((x) => JSON.stringify(x.name)).join(", ")}]);`, "");
  }
  const ctx: FnContext = { scope, index, locals: new Locals(index, scope.file, ["r", "n", "i", "field"]), out: [] };
  const vars = decl.fields.map((x) => ctx.locals.fresh(x.name));
  const name = JSON.stringify(decl.name);
  ctx.out.push("  const n = r.mapHeader();", `  if (n < 0) return r.fail("", ${name});`);
  decl.fields.forEach((x, k) => ctx.out.push(`  let ${vars[k]}: ${typeText(x.type, scope)} | undefined;`));
  ctx.out.push("  for (let i = 0, field = -1; i < n; i++) {");
  ctx.out.push(`    field = ${decl.fields.length > 0 ? `r.field(${fields}, field + 1)` : "r.field([], 0)"};`);
  ctx.out.push("    switch (field) {");
  decl.fields.forEach((x, k) => {
    const target = vars[k] as string;
    const path: PathPart[] = [{ lit: identifier.test(x.name) ? `.${x.name}` : `[${JSON.stringify(x.name)}]` }];
    ctx.out.push(`      case ${k}: {`);
    ctx.locals.block(() => {
      const ind = "        ";
      if (x.optional && !allowsNull(index, x.type)) {
        // A nil optional field is an absent one.
        ctx.out.push(`${ind}if (r.nil()) ${target} = undefined;`, `${ind}else {`);
        ctx.locals.block(() => assign(ctx, `${ind}  `, target, emitRead(ctx, `${ind}  `, x.type, path, x.name, target)));
        ctx.out.push(`${ind}}`);
      } else {
        assign(ctx, ind, target, emitRead(ctx, ind, x.type, path, x.name, target));
      }
      ctx.out.push(`${ind}break;`);
    });
    ctx.out.push("      }");
  });
  ctx.out.push("      default:", `        if (field === -2 || !r.skip()) return r.fail("", ${name});`, "    }", "  }");
  decl.fields.forEach((x, k) => {
    if (!x.optional) {
      const path = identifier.test(x.name) ? `.${x.name}` : `[${JSON.stringify(x.name)}]`;
      ctx.out.push(`  if (${vars[k]} === undefined) return r.missing(${JSON.stringify(path)}, ${JSON.stringify(expectedText(x.type, index))});`);
    }
  });
  const props = decl.fields.map((x, k) => {
    const key = identifier.test(x.name) ? x.name : JSON.stringify(x.name);
    return key === vars[k] ? key : `${key}: ${vars[k]}`;
  });
  ctx.out.push(`  return { ${props.join(", ")} };`);
  f.print(`/** Reads a \`${decl.name}\`, checking every value; undefined (\`r.error\` says where and why) when it does not match. */`);
  f.print(`function ${readName(decl.name)}(r: ${reader}): ${decl.name} | undefined {`, ...ctx.out, "}");
}

/**
 * Emits the reading of a value of type `t` and returns the expression of the read value (a
 * local, or a call), after statements that return the failure when it does not match.
 */
function emitRead(ctx: FnContext, ind: string, t: TypeRef, path: PathPart[], hint: string, into?: string): string {
  const r = ctx.index.resolve(t);
  if (r === undefined) return "undefined";
  const expected = JSON.stringify(expectedText(t, ctx.index));
  const p = pathCode(path);
  const fail = `return r.fail(${p}, ${expected});`;
  const direct: Partial<Record<TypeRef["kind"], string>> = {
    string: "r.str()",
    number: "r.num()",
    boolean: "r.bool()",
    bigint: "r.bigint()",
    bytes: "r.bin()",
    date: "r.date()",
  };
  const call = direct[r.kind];
  if (call !== undefined) {
    if (into !== undefined) {
      // Straight into the field's variable: its `undefined` is the failure.
      ctx.out.push(`${ind}${into} = ${call};`, `${ind}if (${into} === undefined) ${fail}`);
      return into;
    }
    const x = ctx.locals.fresh(hint);
    ctx.out.push(`${ind}const ${x} = ${call};`, `${ind}if (${x} === undefined) ${fail}`);
    return x;
  }
  const kinds = scalarKinds(ctx.index, r);
  if (kinds !== undefined) {
    // Literals, enums, null and unions of scalars: read any scalar, then check its value.
    const x = ctx.locals.fresh(hint);
    const read = kinds.size === 1 && kinds.has("string") ? "r.str()" : kinds.size === 1 && kinds.has("number") ? "r.num()" : "r.scalar()";
    const cond = simpleCond(ctx.index, r, x);
    const byValue = showsValue(ctx.index, r);
    ctx.out.push(`${ind}const ${x} = ${read};`);
    ctx.out.push(`${ind}if (${x} === undefined) ${fail}`);
    if (cond !== undefined) ctx.out.push(`${ind}if (${cond}) return r.${byValue ? "failValue" : "failType"}(${p}, ${expected}, ${x});`);
    return `${x} as ${typeText(t, ctx.scope)}`;
  }
  switch (r.kind) {
    case "array": {
      const a = ctx.locals.fresh(`${hint}Length`);
      const items = ctx.locals.fresh(hint);
      ctx.out.push(`${ind}const ${a} = r.arrayHeader();`, `${ind}if (${a} < 0) ${fail}`);
      // Sized from the header (no growth, no spare capacity; a long one grows as it is read).
      ctx.out.push(`${ind}const ${items} = ${ctx.scope.f.value("newArray", runtimeModule)}<${typeText(r.element, ctx.scope)}>(${a});`);
      ctx.locals.block(() => {
        const j = ctx.locals.fresh("j");
        ctx.out.push(`${ind}for (let ${j} = 0; ${j} < ${a}; ${j}++) {`);
        const x = emitRead(ctx, `${ind}  `, r.element, [...path, { lit: "[" }, { code: j }, { lit: "]" }], "x");
        ctx.out.push(`${ind}  ${items}[${j}] = ${x};`, `${ind}}`);
      });
      return items;
    }
    case "record":
    case "map": {
      const count = ctx.locals.fresh(`${hint}Size`);
      const target = ctx.locals.fresh(hint);
      const keyPath = ctx.scope.f.value("keyPath", runtimeModule);
      ctx.out.push(`${ind}const ${count} = r.mapHeader();`, `${ind}if (${count} < 0) ${fail}`);
      const keyType: TypeRef = r.kind === "record" ? { kind: "string" } : r.key;
      const valueType = typeText(r.value, ctx.scope);
      ctx.out.push(
        r.kind === "record"
          ? `${ind}const ${target} = ${ctx.scope.f.value("newRecord", runtimeModule)}<${valueType}>();`
          : `${ind}const ${target} = new Map<${typeText(keyType, ctx.scope)}, ${valueType}>();`,
      );
      ctx.locals.block(() => {
        const j = ctx.locals.fresh("j");
        ctx.out.push(`${ind}for (let ${j} = 0; ${j} < ${count}; ${j}++) {`);
        const key = emitKey(ctx, `${ind}  `, keyType, path, keyPath, r.kind === "record");
        // A key sent twice would silently keep one of the values: refused, like malformed input.
        const dup = r.kind === "record" ? `${key} in ${target}` : `${target}.has(${key})`;
        ctx.out.push(`${ind}  if (${dup}) return r.duplicateKey(${p} + ${keyPath}(${key}));`);
        const x = emitRead(ctx, `${ind}  `, r.value, [...path, { code: `${keyPath}(${key})` }], "x");
        ctx.out.push(r.kind === "record" ? `${ind}  ${target}[${key}] = ${x};` : `${ind}  ${target}.set(${key}, ${x});`, `${ind}}`);
      });
      return target;
    }
    case "union": {
      // Literals, enums and null, plus one other type (scalar unions were handled above).
      const x = ctx.locals.fresh(hint);
      const other = r.members.find((m) => scalarKinds(ctx.index, m) === undefined);
      const scalars = r.members.filter((m) => m !== other);
      ctx.out.push(`${ind}let ${x}: ${typeText(t, ctx.scope)};`);
      const onlyNull = scalars.every((m) => ctx.index.resolve(m)?.kind === "null");
      if (onlyNull) {
        ctx.out.push(`${ind}if (r.nil()) ${x} = null;`, `${ind}else {`);
      } else {
        const s = ctx.locals.fresh("scalar");
        const cond = simpleCond(ctx.index, { kind: "union", members: scalars }, s) ?? "false";
        ctx.out.push(`${ind}const ${s} = r.scalar();`, `${ind}if (${s} !== undefined) {`);
        ctx.out.push(`${ind}  if (${cond}) return r.failValue(${p}, ${expected}, ${s});`, `${ind}  ${x} = ${s} as ${typeText(t, ctx.scope)};`);
        ctx.out.push(`${ind}} else {`);
      }
      if (other !== undefined) ctx.locals.block(() => ctx.out.push(`${ind}  ${x} = ${emitRead(ctx, `${ind}  `, other, path, hint)};`));
      ctx.out.push(`${ind}}`);
      return x;
    }
    case "ref": {
      // An interface (aliases are resolved; enums are scalars).
      const read = r.file === ctx.scope.file ? readName(r.name) : `${ctx.scope.f.value(codecName(r.name), outputImportPath(r.file))}.read`;
      const x = ctx.locals.fresh(hint);
      ctx.out.push(`${ind}const ${x} = ${read}(r);`, `${ind}if (${x} === undefined) return r.nested(${p});`);
      return x;
    }
    default:
      return "undefined";
  }
}

/** `target = value;`, unless the value was read straight into `target`. */
function assign(ctx: FnContext, ind: string, target: string, value: string): void {
  if (value !== target) ctx.out.push(`${ind}${target} = ${value};`);
}

/**
 * Emits the reading of a map key (a string; numbers as ints, or as numeric strings); returns its
 * local. `intoObject`: the key becomes a property of a plain object (a Record).
 */
function emitKey(ctx: FnContext, ind: string, t: TypeRef, path: PathPart[], keyPath: string, intoObject: boolean): string {
  const k = ctx.locals.fresh("key");
  const p = pathCode(path);
  const r = ctx.index.resolve(t) ?? t;
  const numeric = isNumericKey(ctx.index, r);
  const expected = JSON.stringify(expectedText(t, ctx.index));
  if (numeric) {
    const raw = ctx.locals.fresh("rawKey");
    ctx.out.push(`${ind}const ${raw} = r.scalar();`);
    ctx.out.push(`${ind}const ${k} = typeof ${raw} === "string" && ${raw} !== "" ? Number(${raw}) : ${raw};`);
    ctx.out.push(`${ind}if (typeof ${k} !== "number" || Number.isNaN(${k})) return ${raw} === undefined ? r.fail(${p} + " key", ${expected}) : r.failValue(${p} + ${keyPath}(String(${raw})), "number", ${raw});`);
  } else {
    ctx.out.push(`${ind}const ${k} = r.str();`);
    ctx.out.push(`${ind}if (${k} === undefined) return r.fail(${p} + " key", "string");`);
    // An own "__proto__" key would replace a record's prototype instead of adding an entry.
    if (intoObject) ctx.out.push(`${ind}if (${k} === "__proto__") return r.failValue(${p}, "a key other than __proto__", ${k});`);
  }
  const cond = r.kind === "string" || r.kind === "number" ? undefined : simpleCond(ctx.index, r, k);
  if (cond !== undefined) ctx.out.push(`${ind}if (${cond}) return r.failValue(${p} + ${keyPath}(${k}), ${expected}, ${k});`);
  return k;
}

function isNumericKey(index: SchemaIndex, t: TypeRef): boolean {
  const kinds = scalarKinds(index, t);
  return kinds !== undefined && kinds.size === 1 && kinds.has("number");
}

function allowsNull(index: SchemaIndex, t: TypeRef): boolean {
  const r = index.resolve(t);
  if (r === undefined) return false;
  if (r.kind === "null") return true;
  return r.kind === "union" && r.members.some((m) => allowsNull(index, m));
}
