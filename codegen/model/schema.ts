/**
 * The schema model: what gridgen knows about a set of `.grid.ts` files once parsed. Plain
 * data, free of ts-morph, so emitters and tests never see the compiler.
 */

/** Where something is in a schema file (1-based line and column), for diagnostics. */
export interface Location {
  /** Path as given on the command line, relative to the working directory, `/`-separated. */
  file: string;
  line: number;
  column: number;
}

/** A type as a schema field, alias or message uses it. */
export type TypeRef =
  | { kind: "string" }
  | { kind: "number" }
  | { kind: "bigint" }
  | { kind: "boolean" }
  | { kind: "bytes" }
  | { kind: "date" }
  | { kind: "null" }
  | { kind: "literal"; value: string | number | boolean }
  | { kind: "array"; element: TypeRef }
  | { kind: "record"; value: TypeRef }
  | { kind: "map"; key: TypeRef; value: TypeRef }
  | { kind: "union"; members: TypeRef[] }
  /** A named declaration (interface, alias or enum) of a schema file. */
  | { kind: "ref"; name: string; file: string };

export interface Field {
  name: string;
  optional: boolean;
  readonly: boolean;
  type: TypeRef;
  doc: string | undefined;
}

export interface InterfaceDecl {
  kind: "interface";
  name: string;
  doc: string | undefined;
  fields: Field[];
  location: Location;
}

export interface AliasDecl {
  kind: "alias";
  name: string;
  doc: string | undefined;
  type: TypeRef;
  location: Location;
}

export interface EnumMember {
  name: string;
  value: string | number;
  doc: string | undefined;
}

export interface EnumDecl {
  kind: "enum";
  name: string;
  doc: string | undefined;
  members: EnumMember[];
  location: Location;
}

export type TypeDecl = InterfaceDecl | AliasDecl | EnumDecl;

/** A message type of a handler: always a schema interface (so fields can be added compatibly). */
export interface MessageRef {
  name: string;
  file: string;
}

interface HandlerBase {
  name: string;
  doc: string | undefined;
  id: number;
  location: Location;
}

export interface SingleHandler extends HandlerBase {
  kind: "single";
  /** Undefined for `Single<Id, void, Res>`: the handler takes no request. */
  request: MessageRef | undefined;
  response: MessageRef;
}

export interface StreamHandler extends HandlerBase {
  kind: "stream";
  payload: MessageRef | undefined;
  input: MessageRef | undefined;
  output: MessageRef;
  inCapacity: number | undefined;
  outCapacity: number | undefined;
}

export type Handler = SingleHandler | StreamHandler;

export interface ServiceDecl {
  name: string;
  doc: string | undefined;
  handlers: Handler[];
  location: Location;
}

/** One `.grid.ts` file. */
export interface SchemaFile {
  /** Path as given, relative to the working directory, `/`-separated. */
  path: string;
  /** Module doc comment (the JSDoc before the first statement), if any. */
  doc: string | undefined;
  /** Type declarations in source order. */
  types: TypeDecl[];
  services: ServiceDecl[];
}

/** Every schema compiled together. */
export interface Schema {
  files: SchemaFile[];
}
