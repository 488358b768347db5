/** Emits a schema's type declarations as they read in the schema, JSDoc included. */
import type { AliasDecl, EnumDecl, InterfaceDecl } from "../model/schema.js";
import type { FileBuilder } from "./file-builder.js";
import { identifier } from "./locals.js";
import { literalText, typeText } from "./type-text.js";
import type { TypeScope } from "./type-text.js";

export function emitInterface(scope: TypeScope, decl: InterfaceDecl): void {
  const { f } = scope;
  f.doc(decl.doc);
  f.print(`export interface ${decl.name} {`);
  for (const field of decl.fields) {
    f.doc(field.doc, "  ");
    const name = identifier.test(field.name) ? field.name : JSON.stringify(field.name);
    // An optional field may hold undefined (encoders leave it out, decoders give undefined for a nil):
    // said explicitly, so the type is the same with exactOptionalPropertyTypes on.
    const type = typeText(field.type, scope);
    f.print(`  ${field.readonly ? "readonly " : ""}${name}${field.optional ? `?: ${type} | undefined` : `: ${type}`};`);
  }
  f.print("}", "");
}

export function emitAlias(scope: TypeScope, decl: AliasDecl): void {
  scope.f.doc(decl.doc);
  scope.f.print(`export type ${decl.name} = ${typeText(decl.type, scope)};`, "");
}

export function emitEnum(f: FileBuilder, decl: EnumDecl): void {
  f.doc(decl.doc);
  f.print(`export enum ${decl.name} {`);
  for (const m of decl.members) {
    f.doc(m.doc, "  ");
    f.print(`  ${identifier.test(m.name) ? m.name : JSON.stringify(m.name)} = ${literalText(m.value)},`);
  }
  f.print("}", "");
}
