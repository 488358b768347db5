/**
 * Wire compatibility between two versions of the same schemas (a baseline, as deployed, and the
 * current one): what `gridgen --against <baseline>` reports, like `buf breaking`.
 *
 * In a cluster upgraded one node at a time, old and new nodes call each other in both
 * directions, so every message of a handler must be readable both ways: what an old node writes
 * must pass a new node's validator, and the other way round. Handlers are matched by id (names
 * are not on the wire); messages field by field (field names are the wire keys).
 */
import { DiagnosticCode } from "../diagnostics.js";
import type { Diagnostic } from "../diagnostics.js";
import type { Handler, Location, MessageRef, Schema, TypeRef } from "./schema.js";
import { SchemaIndex } from "./schema-index.js";

interface Side {
  index: SchemaIndex;
  handlers: Map<number, { service: string; handler: Handler }>;
}

function side(schema: Schema): Side {
  const handlers = new Map<number, { service: string; handler: Handler }>();
  for (const f of schema.files) for (const s of f.services) for (const h of s.handlers) handlers.set(h.id, { service: s.name, handler: h });
  return { index: new SchemaIndex(schema), handlers };
}

/** The breaking changes from `before` to `after`, located in `after` (or in `before` for removals). */
export function compareSchemas(before: Schema, after: Schema): Diagnostic[] {
  const b = side(before);
  const a = side(after);
  const out: Diagnostic[] = [];
  const report = (location: Location, message: string, code: Diagnostic["code"] = DiagnosticCode.IncompatibleMessage): void => {
    out.push({ code, message, location });
  };
  for (const [id, old] of [...b.handlers].sort((x, y) => x[0] - y[0])) {
    const cur = a.handlers.get(id);
    const oldName = `${old.service}.${old.handler.name}`;
    if (cur === undefined) {
      report(old.handler.location, `handler id ${id} (${oldName}) was removed: deployed callers still call it (keep it, or retire it once no caller is left)`, DiagnosticCode.RemovedHandler);
      continue;
    }
    const name = `${cur.service}.${cur.handler.name}`;
    const form = formOf(old.handler);
    if (form !== formOf(cur.handler)) {
      report(cur.handler.location, `handler id ${id} (${name}) changed form from ${form} to ${formOf(cur.handler)}: give the new form a new id`, DiagnosticCode.ChangedHandler);
      continue;
    }
    for (const [role, bm, am] of messagePairs(old.handler, cur.handler)) {
      const oldToNew = readable(b.index, bm, a.index, am);
      const why = oldToNew !== undefined ? `${oldToNew} (new nodes would reject what old nodes send)` : withWho(readable(a.index, am, b.index, bm), "old nodes would reject what new nodes send");
      if (why !== undefined) report(cur.handler.location, `${name} ${role} (handler id ${id}) is not wire-compatible with the baseline: ${why}`);
    }
  }
  return out;
}

function formOf(h: Handler): string {
  if (h.kind === "single") return h.request ? "Single" : "Single without request (void)";
  return `Stream{${[h.payload && "payload", h.input && "in", "out"].filter(Boolean).join(", ")}}`;
}

function messagePairs(b: Handler, a: Handler): [string, MessageRef, MessageRef][] {
  if (b.kind === "single" && a.kind === "single") {
    const pairs: [string, MessageRef, MessageRef][] = [["response", b.response, a.response]];
    if (b.request && a.request) pairs.unshift(["request", b.request, a.request]);
    return pairs;
  }
  if (b.kind === "stream" && a.kind === "stream") {
    const pairs: [string, MessageRef, MessageRef][] = [["out", b.output, a.output]];
    if (b.payload && a.payload) pairs.unshift(["payload", b.payload, a.payload]);
    if (b.input && a.input) pairs.push(["in", b.input, a.input]);
    return pairs;
  }
  return [];
}

function withWho(why: string | undefined, who: string): string | undefined {
  return why === undefined ? undefined : `${why} (${who})`;
}

/** Why a reader of `reader` (in `ri`) cannot read every value a writer of `writer` (in `wi`) writes, or undefined. */
function readable(wi: SchemaIndex, writer: MessageRef, ri: SchemaIndex, reader: MessageRef): string | undefined {
  const ctx: Ctx = { wi, ri, seen: new Set() };
  return check(ctx, { kind: "ref", ...writer }, { kind: "ref", ...reader }, reader.name);
}

interface Ctx {
  wi: SchemaIndex;
  ri: SchemaIndex;
  /** Interface pairs being compared (recursive types). */
  seen: Set<string>;
}

/** The alternatives a type's values can be: union members flattened, aliases resolved. */
function alternatives(index: SchemaIndex, t: TypeRef): TypeRef[] {
  const r = index.resolve(t);
  if (r === undefined) return [];
  if (r.kind === "union") return r.members.flatMap((m) => alternatives(index, m));
  if (r.kind === "ref") {
    const d = index.decl(r.file, r.name);
    if (d?.kind === "enum") return d.members.map((m) => ({ kind: "literal", value: m.value }));
  }
  return [r];
}

function describe(t: TypeRef): string {
  return t.kind === "literal" ? JSON.stringify(t.value) : t.kind === "ref" ? t.name : t.kind === "bytes" ? "Uint8Array" : t.kind === "date" ? "Date" : t.kind;
}

function check(ctx: Ctx, w: TypeRef, r: TypeRef, path: string): string | undefined {
  const readers = alternatives(ctx.ri, r);
  for (const wa of alternatives(ctx.wi, w)) {
    let why: string | undefined = `${path}: ${describe(wa)} is not accepted`;
    for (const ra of readers) {
      const w2 = accepts(ctx, wa, ra, path);
      if (w2 === undefined) {
        why = undefined;
        break;
      }
      // Keep the most specific reason (from a reader of the same kind).
      if (ra.kind === wa.kind && ra.kind !== "literal") why = w2;
    }
    if (why !== undefined) return why;
  }
  return undefined;
}

/** Whether the reader alternative `r` accepts every value of the writer alternative `w`. */
function accepts(ctx: Ctx, w: TypeRef, r: TypeRef, path: string): string | undefined {
  const no = `${path}: ${describe(w)} is not accepted`;
  switch (r.kind) {
    case "string":
    case "number":
    case "boolean":
      return w.kind === r.kind || (w.kind === "literal" && typeof w.value === r.kind) ? undefined : no;
    case "bigint":
    case "bytes":
    case "date":
    case "null":
      return w.kind === r.kind ? undefined : no;
    case "literal":
      return w.kind === "literal" && w.value === r.value ? undefined : no;
    case "array":
      return w.kind === "array" ? check(ctx, w.element, r.element, `${path}[]`) : no;
    case "record":
    case "map": {
      // Records and Maps with string keys are the same on the wire.
      if (w.kind !== "record" && w.kind !== "map") return no;
      const wKey: TypeRef = w.kind === "record" ? { kind: "string" } : w.key;
      const rKey: TypeRef = r.kind === "record" ? { kind: "string" } : r.key;
      return check(ctx, wKey, rKey, `${path} key`) ?? check(ctx, w.value, r.value, `${path}[k]`);
    }
    case "ref": {
      const rd = ctx.ri.decl(r.file, r.name);
      const wd = w.kind === "ref" ? ctx.wi.decl(w.file, w.name) : undefined;
      if (rd?.kind !== "interface" || wd?.kind !== "interface") return no;
      const key = `${wd.name}\0${rd.name}`;
      if (ctx.seen.has(key)) return undefined;
      ctx.seen.add(key);
      const wFields = new Map(wd.fields.map((f) => [f.name, f]));
      for (const rf of rd.fields) {
        const wf = wFields.get(rf.name);
        const at = `${path}.${rf.name}`;
        if (wf === undefined || (wf.optional && !rf.optional)) {
          if (rf.optional) continue;
          return `${at} is required but may be absent (add fields as optional)`;
        }
        const why = check(ctx, wf.type, rf.type, at);
        if (why !== undefined) return why;
      }
      return undefined;
    }
    default:
      return no;
  }
}
