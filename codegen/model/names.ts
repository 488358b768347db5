/** The names gridgen gives to what it generates. One place, so emitters and checks agree. */
import path from "node:path";

export const codecName = (type: string): string => `${type}Codec`;
export const writeName = (type: string): string => `write${type}`;
export const readName = (type: string): string => `read${type}`;
export const fieldsName = (type: string): string => `${type}Fields`;
export const keysName = (type: string): string => `${type}Keys`;
export const clientName = (service: string): string => `${service}Client`;
export const serverName = (service: string): string => `${service}Server`;
export const handlerIdName = (service: string): string => `${service}HandlerID`;
export const registerName = (service: string): string => `register${service}`;

/** `schemas/storage.grid.ts` → `storage.ts` (every output lands flat in the output directory). */
export function outputFileName(schemaPath: string): string {
  return path.posix.basename(schemaPath).replace(/\.grid\.ts$/, "").replace(/\.ts$/, "") + ".ts";
}

/** The import specifier of a generated file from a sibling one: `./storage.js`. */
export function outputImportPath(schemaPath: string): string {
  return `./${outputFileName(schemaPath).replace(/\.ts$/, ".js")}`;
}

/** The module generated code imports the runtime from. */
export const runtimeModule = "tsgrid";

/** Runtime names generated code may import; a schema declaration must not reuse them. */
export const runtimeNames: readonly string[] = [
  "BidiStream",
  "CallOptions",
  "Caller",
  "Codec",
  "HandlerContext",
  "HandlerRegistrar",
  "MsgpackReader",
  "MsgpackWriter",
  "RegisterOptions",
  "ServerStream",
  "bidiStream",
  "decodeInput",
  "fieldKey",
  "fieldNames",
  "isRecord",
  "keyPath",
  "messageCodec",
  "newArray",
  "newRecord",
  "requestTyped",
  "requestTypedEmpty",
  "serveStream",
  "serverStream",
];
