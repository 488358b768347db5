/**
 * Checks that need the whole schema (every file compiled together): handler ids, alias cycles,
 * message types, and the names and files gridgen will write.
 */
import { DiagnosticCode } from "../diagnostics.js";
import type { Diagnostic } from "../diagnostics.js";
import { clientName, codecName, fieldsName, handlerIdName, keysName, outputFileName, readName, registerName, runtimeNames, serverName, writeName } from "./names.js";
import type { Handler, Location, MessageRef, Schema, TypeRef } from "./schema.js";
import { SchemaIndex } from "./schema-index.js";

/**
 * Returns the diagnostics, and rewrites handler messages named through aliases to the
 * interfaces they name (so emitters only ever see interfaces).
 */
export function checkSchema(schema: Schema): Diagnostic[] {
  const out: Diagnostic[] = [];
  const report = (code: Diagnostic["code"], location: Location, message: string): void => {
    out.push({ code, message, location });
  };
  const index = new SchemaIndex(schema);

  checkAliasCycles(schema, index, report);
  checkHandlerIds(schema, report);

  for (const file of schema.files) {
    for (const service of file.services) {
      for (const h of service.handlers) resolveMessages(h, `${service.name}.${h.name}`, index, report);
    }
  }
  checkNames(schema, report);
  return out;
}

type Report = (code: Diagnostic["code"], location: Location, message: string) => void;

function checkAliasCycles(schema: Schema, index: SchemaIndex, report: Report): void {
  for (const file of schema.files) {
    for (const decl of file.types) {
      if (decl.kind !== "alias") continue;
      const seen = new Set<string>();
      if (aliasReaches(decl.type, file.path, decl.name, index, seen)) {
        report(DiagnosticCode.RecursiveAlias, decl.location, `type alias ${decl.name} refers to itself: make the recursive part an interface`);
      }
    }
  }
}

/** Whether `type` reaches alias `name` of `file` without passing through an interface. */
function aliasReaches(type: TypeRef, file: string, name: string, index: SchemaIndex, seen: Set<string>): boolean {
  switch (type.kind) {
    case "array":
      return aliasReaches(type.element, file, name, index, seen);
    case "record":
      return aliasReaches(type.value, file, name, index, seen);
    case "map":
      return aliasReaches(type.key, file, name, index, seen) || aliasReaches(type.value, file, name, index, seen);
    case "union":
      return type.members.some((m) => aliasReaches(m, file, name, index, seen));
    case "ref": {
      if (type.file === file && type.name === name) return true;
      const id = `${type.file}\0${type.name}`;
      if (seen.has(id)) return false;
      seen.add(id);
      const d = index.decl(type.file, type.name);
      return d?.kind === "alias" && aliasReaches(d.type, file, name, index, seen);
    }
    default:
      return false;
  }
}

function checkHandlerIds(schema: Schema, report: Report): void {
  const owners = new Map<number, string>();
  for (const file of schema.files) {
    for (const service of file.services) {
      for (const h of service.handlers) {
        const name = `${service.name}.${h.name}`;
        const first = owners.get(h.id);
        if (first === undefined) owners.set(h.id, name);
        else report(DiagnosticCode.DuplicateHandlerId, h.location, `handler id ${h.id} is used by ${first} and ${name}`);
      }
    }
  }
}

function resolveMessages(h: Handler, what: string, index: SchemaIndex, report: Report): void {
  const resolve = (m: MessageRef, role: string): MessageRef => {
    const t = index.resolve({ kind: "ref", name: m.name, file: m.file });
    if (t?.kind === "ref" && index.decl(t.file, t.name)?.kind === "interface") return { name: t.name, file: t.file };
    report(DiagnosticCode.MessageNotInterface, h.location, `${what} ${role} \`${m.name}\` must be an interface, so fields can be added compatibly`);
    return m;
  };
  if (h.kind === "single") {
    if (h.request) h.request = resolve(h.request, "request");
    h.response = resolve(h.response, "response");
  } else {
    if (h.payload) h.payload = resolve(h.payload, "payload");
    if (h.input) h.input = resolve(h.input, "in");
    h.output = resolve(h.output, "out");
  }
}

function checkNames(schema: Schema, report: Report): void {
  const outputs = new Map<string, string>();
  for (const file of schema.files) {
    const out = outputFileName(file.path);
    const other = outputs.get(out);
    if (other !== undefined) {
      report(DiagnosticCode.OutputClash, { file: file.path, line: 1, column: 1 }, `${file.path} and ${other} would both generate ${out}: rename one`);
    }
    outputs.set(out, file.path);

    const generated = new Map<string, string>();
    for (const n of runtimeNames) generated.set(n, `the tsgrid runtime's ${n}`);
    for (const d of file.types) {
      if (d.kind !== "interface") continue;
      generated.set(codecName(d.name), `the codec of ${d.name}`);
      generated.set(readName(d.name), `the decoder of ${d.name}`);
      generated.set(fieldsName(d.name), `the field names of ${d.name}`);
      generated.set(writeName(d.name), `the encoder of ${d.name}`);
      generated.set(keysName(d.name), `the field keys of ${d.name}`);
    }
    for (const s of file.services) {
      generated.set(clientName(s.name), `the client of ${s.name}`);
      generated.set(serverName(s.name), `the server interface of ${s.name}`);
      generated.set(handlerIdName(s.name), `the handler ids of ${s.name}`);
      generated.set(registerName(s.name), `the register function of ${s.name}`);
    }
    const declared = new Set<string>();
    for (const d of [...file.types, ...file.services]) {
      if (declared.has(d.name)) {
        report(DiagnosticCode.NameClash, d.location, `${d.name} is declared twice: declaration merging is not supported`);
      }
      declared.add(d.name);
      const clash = generated.get(d.name);
      if (clash !== undefined) report(DiagnosticCode.NameClash, d.location, `${d.name} clashes with ${clash}, which gridgen generates: rename it`);
    }
  }
}
