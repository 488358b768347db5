/** Resolving names in schemas: markers from `tsgrid/idl`, and declarations of schema files. */
import { Node } from "ts-morph";
import type { EnumDeclaration, Identifier, InterfaceDeclaration, TypeAliasDeclaration } from "ts-morph";

export const idlModule = "tsgrid/idl";

export type Marker = "Service" | "Single" | "Stream";
const markers: ReadonlySet<string> = new Set<Marker>(["Service", "Single", "Stream"]);

/**
 * The `tsgrid/idl` marker an identifier refers to (through `import type { Single as S }` too),
 * or undefined.
 */
export function markerOf(id: Identifier): Marker | undefined {
  for (const decl of id.getSymbol()?.getDeclarations() ?? []) {
    if (Node.isImportSpecifier(decl) && decl.getImportDeclaration().getModuleSpecifierValue() === idlModule) {
      const name = decl.getName();
      return markers.has(name) ? (name as Marker) : undefined;
    }
    // The marker's own declaration (a schema importing tsgrid/idl through another path).
    const file = decl.getSourceFile().getFilePath();
    if (/[\\/](runtime[\\/]idl\.ts|idl\.d\.ts)$/.test(file) && Node.isInterfaceDeclaration(decl)) {
      const name = decl.getName();
      return markers.has(name) ? (name as Marker) : undefined;
    }
  }
  return undefined;
}

export type NamedDeclaration = InterfaceDeclaration | TypeAliasDeclaration | EnumDeclaration;

/** What an identifier in a type position refers to, following imports. */
export function declarationOf(id: Identifier): Node | undefined {
  let symbol = id.getSymbol();
  if (symbol === undefined) return undefined;
  if (symbol.isAlias()) symbol = symbol.getAliasedSymbol() ?? symbol;
  return symbol.getDeclarations()[0];
}

export function isNamedDeclaration(node: Node): node is NamedDeclaration {
  return Node.isInterfaceDeclaration(node) || Node.isTypeAliasDeclaration(node) || Node.isEnumDeclaration(node);
}
