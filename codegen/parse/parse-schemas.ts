/**
 * Reads `.grid.ts` files with ts-morph (the only module folder that touches the compiler) and
 * builds the schema model, reporting everything it cannot encode as diagnostics.
 */
import path from "node:path";
import { Node, Project, SyntaxKind, ts } from "ts-morph";
import type { EnumDeclaration, ImportDeclaration, InterfaceDeclaration, PropertySignature, SourceFile, TypeNode } from "ts-morph";
import { MAX_STREAM_CAPACITY } from "../../runtime/handlers/handler-registry.js";
import { DiagnosticCode } from "../diagnostics.js";
import type { Diagnostic } from "../diagnostics.js";
import type { EnumMember, Field, Handler, MessageRef, Schema, SchemaFile, ServiceDecl, TypeDecl } from "../model/schema.js";
import { ParseContext } from "./context.js";
import { docOf, fileDocOf } from "./docs.js";
import { parseType } from "./parse-type.js";
import { idlModule, markerOf } from "./resolve.js";

export interface ParseResult {
  schema: Schema;
  diagnostics: Diagnostic[];
  /**
   * A file could not be read as a schema at all (a syntax error, markers not imported): its
   * errors are reported alone, and the model checks are skipped (they would only cascade).
   */
  incomplete: boolean;
}

/**
 * The standard library schemas are checked against: what a schema may name (`Date`,
 * `Uint8Array`, `Map`, `Record`, `Array`), the types the compiler cannot do without, and the other
 * common globals as empty declarations, so that using one is GG010 ("only schema declarations and
 * ... can be used"), not "cannot find name". Loading and binding TypeScript's own lib files
 * (lib.es2023.d.ts and the files it references) took most of a run of gridgen.
 */
const schemaLibPath = "/__gridgen__/lib.schema.d.ts";
const schemaLib = `
interface Array<T> { length: number; [n: number]: T; }
interface ReadonlyArray<T> { readonly length: number; readonly [n: number]: T; }
interface Boolean {}
interface Function {}
interface CallableFunction {}
interface NewableFunction {}
interface IArguments {}
interface Number {}
interface Object {}
interface RegExp {}
interface String {}
interface Symbol {}
interface BigInt {}
interface TemplateStringsArray extends ReadonlyArray<string> {}
interface Date { getTime(): number; }
interface Uint8Array { readonly length: number; [n: number]: number; }
interface Map<K, V> { readonly size: number; get(key: K): V | undefined; }
interface ReadonlyMap<K, V> { readonly size: number; get(key: K): V | undefined; }
type Record<K extends keyof any, T> = { [P in K]: T };
type Partial<T> = { [P in keyof T]?: T[P] };
type Required<T> = { [P in keyof T]-?: T[P] };
type Readonly<T> = { readonly [P in keyof T]: T[P] };
type Pick<T, K extends keyof T> = { [P in K]: T[P] };
type Exclude<T, U> = T extends U ? never : T;
type Omit<T, K extends keyof any> = Pick<T, Exclude<keyof T, K>>;
interface Set<T> {}
interface ReadonlySet<T> {}
interface WeakMap<K, V> {}
interface WeakSet<T> {}
interface Promise<T> {}
interface PromiseLike<T> {}
interface Error {}
interface ArrayBuffer {}
interface SharedArrayBuffer {}
interface DataView {}
interface Int8Array {}
interface Uint8ClampedArray {}
interface Int16Array {}
interface Uint16Array {}
interface Int32Array {}
interface Uint32Array {}
interface Float32Array {}
interface Float64Array {}
interface BigInt64Array {}
interface BigUint64Array {}
interface Iterable<T> {}
interface AsyncIterable<T> {}
`;

/** Compiler options for reading schemas: strict, with the schema library above instead of TypeScript's. */
const compilerOptions: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  noLib: true,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  // Resolves `tsgrid/idl` to the TypeScript source where the package ships it.
  customConditions: ["tsgrid-source"],
  strict: true,
  noEmit: true,
  skipLibCheck: true,
  types: [],
};

/**
 * One Project per process, emptied before each use: the compiler keeps the parsed standard
 * library between runs (`--watch`, tests), which is most of the cost of a run.
 */
let shared: Project | undefined;

function freshProject(): Project {
  shared ??= new Project({ compilerOptions, skipAddingFilesFromTsConfig: true });
  for (const sf of shared.getSourceFiles()) if (sf.getFilePath() !== schemaLibPath) shared.removeSourceFile(sf);
  if (shared.getSourceFile(schemaLibPath) === undefined) shared.createSourceFile(schemaLibPath, schemaLib, { overwrite: true });
  return shared;
}

/** Parses the given schema files (absolute or relative to `cwd`), compiled together. */
export function parseSchemas(files: readonly string[], cwd: string): ParseResult {
  const ctx = new ParseContext(cwd);
  const project = freshProject();
  const sources: SourceFile[] = [];
  for (const file of files) {
    const absolute = path.resolve(cwd, file);
    ctx.schemaPaths.set(absolute, ctx.displayPath(absolute));
    sources.push(project.addSourceFileAtPath(absolute));
  }
  project.resolveSourceFileDependencies();

  const readable = sources.filter((sf) => reportCompilerErrors(ctx, project, sf));
  const schemaFiles = readable.map((sf) => parseFile(ctx, sf));
  return { schema: { files: schemaFiles }, diagnostics: ctx.diagnostics, incomplete: readable.length < sources.length };
}

/** TS2304, "Cannot find name 'X'." */
const cannotFindName = 2304;

/**
 * Reports the compiler's errors of a schema file; false when the file cannot be read as a
 * schema, so that nothing else is reported about it: its first syntax error is reported alone
 * (the parser's recovery turns what follows into garbage statements), and markers used without their import get one error that
 * says what to import (instead of "Cannot find name" for each use, and an interface that
 * extends an unknown `Service` taken for a message).
 */
function reportCompilerErrors(ctx: ParseContext, project: Project, sf: SourceFile): boolean {
  // Only the first syntax error: the parser's recovery makes the next ones consequences of it.
  const syntax = project.getProgram().getSyntacticDiagnostics(sf).slice(0, 1);
  const errors = (syntax.length > 0 ? syntax : sf.getPreEmitDiagnostics()).filter((d) => d.getCategory() === ts.DiagnosticCategory.Error);
  const missing = new Map<string, Diagnostic["location"]>();
  for (const d of errors) {
    const dsf = d.getSourceFile() ?? sf;
    const { line, column } = dsf.getLineAndColumnAtPos(d.getStart() ?? 0);
    const location = { file: ctx.displayPath(dsf.getFilePath()), line, column };
    const text = d.getMessageText();
    const message = typeof text === "string" ? text : ts.flattenDiagnosticMessageText(text.compilerObject, "\n");
    const name = d.getCode() === cannotFindName ? /'([^']+)'/.exec(message)?.[1] : undefined;
    if (name !== undefined && markerNames.has(name) && dsf === sf) {
      if (!missing.has(name)) missing.set(name, location);
      continue;
    }
    ctx.diagnostics.push({ code: DiagnosticCode.TypeScript, message: `TS${d.getCode()}: ${message}`, location });
  }
  if (missing.size > 0) {
    const names = [...missing.keys()].sort((a, b) => markerOrder.indexOf(a) - markerOrder.indexOf(b));
    const idlImport = sf.getImportDeclarations().find((imp) => imp.getModuleSpecifierValue() === idlModule);
    const fix =
      idlImport === undefined
        ? `add \`import type { ${names.join(", ")} } from "${idlModule}";\` at the top of the schema`
        : `add ${names.join(", ")} to the import from "${idlModule}"`;
    const list = names.length === 1 ? `${names[0]} is` : `${names.slice(0, -1).join(", ")} and ${names.at(-1)} are`;
    ctx.diagnostics.push({
      code: DiagnosticCode.MissingIdlImport,
      message: `${list} used but not imported: ${fix}`,
      location: [...missing.values()][0],
    });
  }
  return syntax.length === 0 && missing.size === 0;
}

const markerOrder = ["Service", "Single", "Stream"];
const markerNames: ReadonlySet<string> = new Set(markerOrder);

function parseFile(ctx: ParseContext, sf: SourceFile): SchemaFile {
  const statements = sf.getStatements();
  const file: SchemaFile = { path: ctx.displayPath(sf.getFilePath()), doc: fileDocOf(statements), types: [], services: [] };
  for (const st of statements) {
    if (Node.isImportDeclaration(st)) {
      checkImport(ctx, st);
    } else if (Node.isInterfaceDeclaration(st)) {
      if (isService(st)) {
        const service = parseService(ctx, st);
        if (service) file.services.push(service);
      } else {
        const decl = parseInterface(ctx, st);
        if (decl) file.types.push(decl);
      }
    } else if (Node.isTypeAliasDeclaration(st)) {
      if (st.getTypeParameters().length > 0) {
        ctx.report(DiagnosticCode.Generic, st.getNameNode(), `type alias ${st.getName()} is generic: generic types cannot be encoded`);
        continue;
      }
      const type = parseType(ctx, st.getTypeNodeOrThrow());
      if (type) file.types.push({ kind: "alias", name: st.getName(), doc: docOf(st), type, location: ctx.location(st.getNameNode()) });
    } else if (Node.isEnumDeclaration(st)) {
      const decl = parseEnum(ctx, st);
      if (decl) file.types.push(decl);
    } else if (st.getKind() !== SyntaxKind.EmptyStatement) {
      ctx.report(
        DiagnosticCode.NotADeclaration,
        st,
        `a schema holds only imports, interfaces, type aliases and enums; found ${describeStatement(st)}`,
      );
    }
  }
  return file;
}

function describeStatement(st: Node): string {
  if (Node.isFunctionDeclaration(st)) return `function ${st.getName() ?? ""}`.trimEnd();
  if (Node.isClassDeclaration(st)) return `class ${st.getName() ?? ""}`.trimEnd();
  if (Node.isVariableStatement(st)) return "a variable declaration";
  if (Node.isExportDeclaration(st) || Node.isExportAssignment(st)) return "an export statement";
  if (Node.isModuleDeclaration(st)) return `namespace ${st.getName()}`;
  return `a ${st.getKindName()}`;
}

function checkImport(ctx: ParseContext, imp: ImportDeclaration): void {
  const spec = imp.getModuleSpecifierValue();
  if (spec === idlModule) return;
  const target = imp.getModuleSpecifierSourceFile();
  if (target !== undefined && ctx.schemaPathOf(target) !== undefined) return;
  ctx.report(
    DiagnosticCode.BadImport,
    imp,
    `schemas may import only from "${idlModule}" and from other schemas being generated; "${spec}" is neither`,
  );
}

function parseEnum(ctx: ParseContext, st: EnumDeclaration): TypeDecl | undefined {
  const members: EnumMember[] = [];
  let ok = true;
  for (const m of st.getMembers()) {
    const init = m.getInitializer();
    const value = init === undefined ? undefined : m.getValue();
    if (value === undefined) {
      ctx.report(
        DiagnosticCode.ImplicitEnumValue,
        m,
        `enum member ${st.getName()}.${m.getName()} needs an explicit value: values are the wire format and must not shift when members are added`,
      );
      ok = false;
      continue;
    }
    members.push({ name: m.getName(), value, doc: docOf(m) });
  }
  return ok ? { kind: "enum", name: st.getName(), doc: docOf(st), members, location: ctx.location(st.getNameNode()) } : undefined;
}

function isService(st: InterfaceDeclaration): boolean {
  return st.getExtends().some((h) => {
    const expr = h.getExpression();
    return Node.isIdentifier(expr) && markerOf(expr) === "Service";
  });
}

function parseInterface(ctx: ParseContext, st: InterfaceDeclaration): TypeDecl | undefined {
  if (st.getTypeParameters().length > 0) {
    ctx.report(DiagnosticCode.Generic, st.getNameNode(), `interface ${st.getName()} is generic: generic types cannot be encoded`);
    return undefined;
  }
  const fields: Field[] = [];
  for (const h of st.getExtends()) {
    ctx.report(DiagnosticCode.UnsupportedType, h, `interface ${st.getName()} extends \`${h.getText()}\`: message interfaces cannot extend others; repeat the fields or nest the other type`);
  }
  for (const m of st.getMembers()) {
    if (!Node.isPropertySignature(m)) {
      ctx.report(DiagnosticCode.NotAProperty, m, `${st.getName()} member \`${m.getText()}\` is not a property: messages hold data only (use Record<string, T> or Map<K, V> for dynamic keys)`);
      continue;
    }
    const field = parseField(ctx, m);
    if (field) fields.push(field);
  }
  return { kind: "interface", name: st.getName(), doc: docOf(st), fields, location: ctx.location(st.getNameNode()) };
}

function parseField(ctx: ParseContext, m: PropertySignature): Field | undefined {
  const nameNode = m.getNameNode();
  let name: string;
  if (Node.isIdentifier(nameNode)) name = nameNode.getText();
  else if (Node.isStringLiteral(nameNode)) name = nameNode.getLiteralValue();
  else {
    ctx.report(DiagnosticCode.NotAProperty, nameNode, `property name \`${nameNode.getText()}\` is not supported: use an identifier or a string`);
    return undefined;
  }
  if (name === "__proto__") {
    ctx.report(DiagnosticCode.NotAProperty, nameNode, "property name __proto__ is not supported: it is an object's prototype, not a field");
    return undefined;
  }
  const typeNode = m.getTypeNode();
  if (typeNode === undefined) {
    ctx.report(DiagnosticCode.UnsupportedType, m, `property ${name} has no type`);
    return undefined;
  }
  const type = parseType(ctx, typeNode);
  if (type === undefined) return undefined;
  return { name, optional: m.hasQuestionToken(), readonly: m.isReadonly(), type, doc: docOf(m) };
}

// ---- services ----

const maxHandlerId = 65535;
/** The runtime's limit: a capacity the schema accepts is one the runtime accepts. */
const maxCapacity = MAX_STREAM_CAPACITY;

function parseService(ctx: ParseContext, st: InterfaceDeclaration): ServiceDecl | undefined {
  if (st.getTypeParameters().length > 0) {
    ctx.report(DiagnosticCode.Generic, st.getNameNode(), `service ${st.getName()} is generic`);
    return undefined;
  }
  for (const h of st.getExtends()) {
    const expr = h.getExpression();
    if (!Node.isIdentifier(expr) || markerOf(expr) !== "Service") {
      ctx.report(DiagnosticCode.NotAHandler, h, `service ${st.getName()} extends \`${h.getText()}\`: a service extends only Service; declare its handlers in it`);
    }
  }
  const handlers: Handler[] = [];
  for (const m of st.getMembers()) {
    const handler = Node.isPropertySignature(m) ? parseHandler(ctx, st.getName(), m) : notAHandler(ctx, st.getName(), m);
    if (handler) handlers.push(handler);
  }
  return { name: st.getName(), doc: docOf(st), handlers, location: ctx.location(st.getNameNode()) };
}

function notAHandler(ctx: ParseContext, service: string, m: Node): undefined {
  ctx.report(DiagnosticCode.NotAHandler, m, `${service} member \`${m.getText()}\` must be a property typed Single<Id, Req, Res> or Stream<Id, {...}>`);
  return undefined;
}

function parseHandler(ctx: ParseContext, service: string, m: PropertySignature): Handler | undefined {
  const typeNode = m.getTypeNode();
  const ref = typeNode !== undefined && Node.isTypeReference(typeNode) ? typeNode : undefined;
  const nameNode = ref?.getTypeName();
  const marker = nameNode !== undefined && Node.isIdentifier(nameNode) ? markerOf(nameNode) : undefined;
  if (ref === undefined || (marker !== "Single" && marker !== "Stream")) return notAHandler(ctx, service, m);
  const name = m.getName();
  const args = ref.getTypeArguments();
  const idNode = args[0];
  if (idNode === undefined) return undefined; // the compiler reports the missing argument
  const id = parseHandlerId(ctx, service, name, idNode);
  const base = { name, doc: docOf(m), location: ctx.location(idNode) };
  if (marker === "Single") {
    const [, reqNode, resNode] = args;
    if (reqNode === undefined || resNode === undefined) return undefined;
    // `void`: a handler without a request (the client method takes only options).
    const noRequest = reqNode.getKind() === SyntaxKind.VoidKeyword;
    const request = noRequest ? undefined : parseMessage(ctx, reqNode, `${service}.${name} request`);
    const response = parseMessage(ctx, resNode, `${service}.${name} response`);
    if (id === undefined || (request === undefined && !noRequest) || response === undefined) return undefined;
    return { ...base, kind: "single", id, request, response };
  }
  const specNode = args[1];
  if (specNode === undefined) return undefined;
  const spec = parseStreamSpec(ctx, `${service}.${name}`, specNode);
  if (id === undefined || spec === undefined) return undefined;
  return { ...base, kind: "stream", id, ...spec };
}

function parseHandlerId(ctx: ParseContext, service: string, name: string, node: TypeNode): number | undefined {
  const value = numericLiteral(node);
  if (value === undefined || !Number.isInteger(value) || value < 1 || value > maxHandlerId) {
    ctx.report(DiagnosticCode.BadHandlerId, node, `handler id of ${service}.${name} must be an integer literal in 1..${maxHandlerId}, got \`${node.getText()}\``);
    return undefined;
  }
  return value;
}

function numericLiteral(node: TypeNode): number | undefined {
  if (!Node.isLiteralTypeNode(node)) return undefined;
  const lit = node.getLiteral();
  return Node.isNumericLiteral(lit) ? lit.getLiteralValue() : undefined;
}

/** A handler message: a schema interface, named directly or through aliases. */
function parseMessage(ctx: ParseContext, node: TypeNode, what: string): MessageRef | undefined {
  const type = parseType(ctx, node);
  if (type === undefined) return undefined;
  if (type.kind !== "ref") {
    ctx.report(DiagnosticCode.MessageNotInterface, node, `${what} \`${node.getText()}\` must be an interface, so fields can be added compatibly`);
    return undefined;
  }
  // Aliases are followed (and checked to end at an interface) by the model checks.
  return { name: type.name, file: type.file };
}

interface StreamSpec {
  payload: MessageRef | undefined;
  input: MessageRef | undefined;
  output: MessageRef;
  inCapacity: number | undefined;
  outCapacity: number | undefined;
}

function parseStreamSpec(ctx: ParseContext, what: string, node: TypeNode): StreamSpec | undefined {
  if (!Node.isTypeLiteral(node)) {
    ctx.report(DiagnosticCode.BadStreamSpec, node, `${what}: the stream spec must be an object type like { payload?: Req; in?: In; out: Out; inCapacity?: 16; outCapacity?: 16 }`);
    return undefined;
  }
  let ok = true;
  const spec: Partial<StreamSpec> = {};
  let inCapacityNode: Node | undefined;
  for (const m of node.getMembers()) {
    const t = Node.isPropertySignature(m) ? m.getTypeNode() : undefined;
    const key = Node.isPropertySignature(m) ? m.getName() : m.getText();
    if (t === undefined) {
      ctx.report(DiagnosticCode.BadStreamSpec, m, `${what}: \`${m.getText()}\` is not a stream option`);
      ok = false;
      continue;
    }
    switch (key) {
      case "payload":
      case "in":
      case "out": {
        const msg = parseMessage(ctx, t, `${what} ${key}`);
        if (msg === undefined) ok = false;
        else spec[key === "in" ? "input" : key === "out" ? "output" : "payload"] = msg;
        break;
      }
      case "inCapacity":
      case "outCapacity": {
        const value = numericLiteral(t);
        if (value === undefined || !Number.isInteger(value) || value < 1 || value > maxCapacity) {
          ctx.report(DiagnosticCode.BadStreamSpec, t, `${what}: ${key} must be an integer literal in 1..${maxCapacity}, got \`${t.getText()}\``);
          ok = false;
        } else {
          spec[key] = value;
          if (key === "inCapacity") inCapacityNode = m;
        }
        break;
      }
      default:
        ctx.report(DiagnosticCode.BadStreamSpec, m, `${what}: unknown stream option \`${key}\` (expected payload, in, out, inCapacity, outCapacity)`);
        ok = false;
    }
  }
  if (spec.output === undefined && ok) {
    ctx.report(DiagnosticCode.BadStreamSpec, node, `${what}: the stream spec needs \`out\`, the type of the messages the server sends`);
    return undefined;
  }
  if (inCapacityNode !== undefined && spec.input === undefined) {
    ctx.report(DiagnosticCode.BadStreamSpec, inCapacityNode, `${what}: inCapacity is set but there is no \`in\` message type`);
    return undefined;
  }
  if (!ok || spec.output === undefined) return undefined;
  return {
    payload: spec.payload,
    input: spec.input,
    output: spec.output,
    inCapacity: spec.inCapacity,
    outCapacity: spec.outCapacity,
  };
}

/** The files the last run compiled (schemas, `tsgrid/idl`, the schema library): for tests. */
export function compiledFiles(): string[] {
  return shared?.getProgram().compilerObject.getSourceFiles().map((sf) => sf.fileName) ?? [];
}
