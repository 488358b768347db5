/**
 * gridgen's diagnostics: a stable code (`GGnnn`), a message and a location, printed in tsc's
 * style: `schemas/storage.grid.ts:12:3 - error GG102: handler id 2 is used by ...`.
 *
 * Codes are stable (tests and users grep for them); docs/IDL.md lists every one.
 */
import type { Location } from "./model/schema.js";

export const DiagnosticCode = {
  /** The schema is not valid TypeScript (a compiler error). */
  TypeScript: "GG001",
  /** A path on the command line does not exist, names no `.grid.ts` file, or is a file not named `*.grid.ts`. */
  NoSchema: "GG002",
  /** A statement other than a type declaration or an import (function, class, variable...). */
  NotADeclaration: "GG003",
  /** An import from something other than `tsgrid/idl` or another schema being generated. */
  BadImport: "GG004",
  /** Two schemas would generate the same output file. */
  OutputClash: "GG005",
  /** A declared name clashes with a name gridgen generates. */
  NameClash: "GG006",
  /** `Service`, `Single` or `Stream` used without `import type { ... } from "tsgrid/idl"`. */
  MissingIdlImport: "GG007",
  /** A type gridgen cannot encode (any, unknown, functions, classes, tuples, object literals...). */
  UnsupportedType: "GG010",
  /** A union other than literals and null plus at most one other type. */
  UnsupportedUnion: "GG011",
  /** A generic declaration (type parameters). */
  Generic: "GG012",
  /** A type alias that refers to itself. */
  RecursiveAlias: "GG013",
  /** An enum member without an explicit value (values are the wire format). */
  ImplicitEnumValue: "GG014",
  /** A `Map` key that is not a string or a number. */
  BadMapKey: "GG015",
  /** An interface member that is not a plain property (method, index or call signature). */
  NotAProperty: "GG016",
  /** A service member that is not `Single<...>` or `Stream<...>`. */
  NotAHandler: "GG100",
  /** A handler id that is not an integer literal in 1..65535. */
  BadHandlerId: "GG101",
  /** A handler id used by two handlers. */
  DuplicateHandlerId: "GG102",
  /** A bad `Stream<Id, {...}>` spec: missing `out`, unknown key, bad capacity, `inCapacity` without `in`. */
  BadStreamSpec: "GG103",
  /** A handler message that is not a schema interface. */
  MessageNotInterface: "GG104",
  /** `--against`: a handler of the baseline is gone. */
  RemovedHandler: "GG200",
  /** `--against`: a handler id now has another form (single, stream with or without payload or input). */
  ChangedHandler: "GG201",
  /** `--against`: a message that old and new nodes cannot both read. */
  IncompatibleMessage: "GG202",
} as const;
export type DiagnosticCode = (typeof DiagnosticCode)[keyof typeof DiagnosticCode];

export interface Diagnostic {
  code: DiagnosticCode;
  message: string;
  /** Absent for diagnostics about the command line itself. */
  location: Location | undefined;
}

/** `file:line:col - error GGnnn: message`, as tsc prints errors. */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.location === undefined ? "gridgen" : `${d.location.file}:${d.location.line}:${d.location.column}`;
  return `${where} - error ${d.code}: ${d.message}`;
}

/** Orders diagnostics by file, line, column, then code, so output is deterministic. */
export function sortDiagnostics(ds: readonly Diagnostic[]): Diagnostic[] {
  return [...ds].sort((a, b) => {
    const fa = a.location?.file ?? "";
    const fb = b.location?.file ?? "";
    if (fa !== fb) return fa < fb ? -1 : 1;
    const la = a.location?.line ?? 0;
    const lb = b.location?.line ?? 0;
    if (la !== lb) return la - lb;
    const ca = a.location?.column ?? 0;
    const cb = b.location?.column ?? 0;
    if (ca !== cb) return ca - cb;
    return a.code < b.code ? -1 : a.code > b.code ? 1 : 0;
  });
}
