/** Type nodes of a schema → `TypeRef`s, reporting what gridgen cannot encode. */
import { Node, SyntaxKind } from "ts-morph";
import type { TypeNode } from "ts-morph";
import { DiagnosticCode } from "../diagnostics.js";
import type { TypeRef } from "../model/schema.js";
import type { ParseContext } from "./context.js";
import { declarationOf, isNamedDeclaration, markerOf } from "./resolve.js";

const builtins = new Set(["Date", "Uint8Array", "Map", "Record", "Array"]);

/** Parses a type node; undefined (with a diagnostic reported) when it is not supported. */
export function parseType(ctx: ParseContext, node: TypeNode): TypeRef | undefined {
  switch (node.getKind()) {
    case SyntaxKind.StringKeyword:
      return { kind: "string" };
    case SyntaxKind.NumberKeyword:
      return { kind: "number" };
    case SyntaxKind.BigIntKeyword:
      return { kind: "bigint" };
    case SyntaxKind.BooleanKeyword:
      return { kind: "boolean" };
  }
  if (Node.isParenthesizedTypeNode(node)) return parseType(ctx, node.getTypeNode());
  if (Node.isLiteralTypeNode(node)) return parseLiteral(ctx, node);
  if (Node.isArrayTypeNode(node)) {
    const element = parseType(ctx, node.getElementTypeNode());
    return element && { kind: "array", element };
  }
  if (Node.isUnionTypeNode(node)) return parseUnion(ctx, node.getTypeNodes(), node);
  if (Node.isTypeReference(node)) return parseReference(ctx, node);
  return unsupported(ctx, node, describeUnsupported(node));
}

function unsupported(ctx: ParseContext, node: Node, why: string): undefined {
  // An empty node is a syntax error, which the compiler already reports (GG001).
  if (node.getText() === "") return undefined;
  ctx.report(DiagnosticCode.UnsupportedType, node, `type \`${node.getText()}\` is not supported: ${why}`);
  return undefined;
}

function describeUnsupported(node: TypeNode): string {
  switch (node.getKind()) {
    case SyntaxKind.AnyKeyword:
    case SyntaxKind.UnknownKeyword:
    case SyntaxKind.ObjectKeyword:
      return "it has no fixed shape to check; declare an interface";
    case SyntaxKind.UndefinedKeyword:
    case SyntaxKind.VoidKeyword:
      return "use an optional field (`x?: T`) or `null`";
    case SyntaxKind.TypeLiteral:
      return "inline object types have no name to report errors under; declare an interface";
    case SyntaxKind.FunctionType:
    case SyntaxKind.ConstructorType:
      return "functions cannot be sent";
    case SyntaxKind.TupleType:
      return "tuples are not supported; use an interface";
    case SyntaxKind.TypeOperator:
      return "type operators (readonly arrays, keyof, unique symbol) are not supported; use `T[]`";
    default:
      return "see docs/IDL.md for the supported types";
  }
}

function parseLiteral(ctx: ParseContext, node: Node & { getLiteral(): Node }): TypeRef | undefined {
  const lit = node.getLiteral();
  if (Node.isStringLiteral(lit)) return { kind: "literal", value: lit.getLiteralValue() };
  if (Node.isNumericLiteral(lit)) return numberLiteral(ctx, node, lit.getLiteralValue());
  if (lit.getKind() === SyntaxKind.TrueKeyword) return { kind: "literal", value: true };
  if (lit.getKind() === SyntaxKind.FalseKeyword) return { kind: "literal", value: false };
  if (lit.getKind() === SyntaxKind.NullKeyword) return { kind: "null" };
  if (Node.isPrefixUnaryExpression(lit) && lit.getOperatorToken() === SyntaxKind.MinusToken) {
    const operand = lit.getOperand();
    if (Node.isNumericLiteral(operand)) return numberLiteral(ctx, node, -operand.getLiteralValue());
  }
  return unsupported(ctx, node, "only string, number and boolean literals and null are supported");
}

function numberLiteral(ctx: ParseContext, node: Node, value: number): TypeRef | undefined {
  if (!Number.isFinite(value)) return unsupported(ctx, node, "number literals must be finite");
  // -0 and 0 are the same value on the wire (an int).
  return { kind: "literal", value: value === 0 ? 0 : value };
}

function parseUnion(ctx: ParseContext, nodes: TypeNode[], union: Node): TypeRef | undefined {
  const members: TypeRef[] = [];
  let ok = true;
  for (const n of nodes) {
    const t = parseType(ctx, n);
    if (t === undefined) ok = false;
    else if (t.kind === "union") members.push(...t.members);
    else members.push(t);
  }
  if (!ok) return undefined;
  const complex = nodes.filter((n) => !isLiteralLike(n));
  if (complex.length > 1) {
    ctx.report(
      DiagnosticCode.UnsupportedUnion,
      union,
      `union \`${union.getText()}\` is not supported: a union may mix literals and null with at most one other type`,
    );
    return undefined;
  }
  return { kind: "union", members };
}

/**
 * Whether a union member checks as a set of values (literals, null, enums, aliases of those),
 * so that any number of them can be mixed with one other type.
 */
function isLiteralLike(node: TypeNode, depth = 0): boolean {
  if (depth > 8) return false;
  if (Node.isParenthesizedTypeNode(node)) return isLiteralLike(node.getTypeNode(), depth + 1);
  if (Node.isLiteralTypeNode(node)) return true;
  if (Node.isUnionTypeNode(node)) return node.getTypeNodes().every((n) => isLiteralLike(n, depth + 1));
  if (Node.isTypeReference(node)) {
    const name = node.getTypeName();
    const decl = Node.isIdentifier(name) ? declarationOf(name) : undefined;
    if (decl !== undefined && Node.isEnumDeclaration(decl)) return true;
    if (decl !== undefined && Node.isTypeAliasDeclaration(decl)) {
      const target = decl.getTypeNode();
      return target !== undefined && isLiteralLike(target, depth + 1);
    }
  }
  return false;
}

function parseReference(ctx: ParseContext, node: Node & { getTypeName(): Node; getTypeArguments(): TypeNode[] }): TypeRef | undefined {
  const nameNode = node.getTypeName();
  if (!Node.isIdentifier(nameNode)) return unsupported(ctx, node, "qualified names are not supported; use the enum or its values");
  if (markerOf(nameNode) !== undefined) return unsupported(ctx, node, "service markers cannot be used as message types");
  const decl = declarationOf(nameNode);
  const file = decl === undefined ? undefined : ctx.schemaPathOf(decl.getSourceFile());
  const args = node.getTypeArguments();
  if (decl !== undefined && file !== undefined) {
    if (!isNamedDeclaration(decl)) return unsupported(ctx, node, "it does not name an interface, type alias or enum");
    if (args.length > 0) {
      ctx.report(DiagnosticCode.Generic, node, `type \`${node.getText()}\` is not supported: generic types cannot be encoded`);
      return undefined;
    }
    return { kind: "ref", name: decl.getName(), file };
  }
  const name = nameNode.getText();
  if (decl === undefined || !builtins.has(name)) {
    return unsupported(ctx, node, decl === undefined ? "cannot resolve it" : "only schema declarations and Date, Uint8Array, Map, Record, Array can be used");
  }
  switch (name) {
    case "Date":
      return { kind: "date" };
    case "Uint8Array":
      return { kind: "bytes" };
    case "Array": {
      const element = args[0] && parseType(ctx, args[0]);
      return element && { kind: "array", element };
    }
    case "Record": {
      const [k, v] = args;
      if (k === undefined || v === undefined) return undefined;
      if (k.getKind() !== SyntaxKind.StringKeyword) {
        ctx.report(DiagnosticCode.BadMapKey, k, `Record key \`${k.getText()}\` is not supported: use Record<string, T>, or Map<K, V> for number keys`);
        return undefined;
      }
      const value = parseType(ctx, v);
      return value && { kind: "record", value };
    }
    default: {
      // Map
      const [k, v] = args;
      if (k === undefined || v === undefined) return undefined;
      const key = parseType(ctx, k);
      const value = parseType(ctx, v);
      if (key === undefined || value === undefined) return undefined;
      if (!isMapKey(key) || (key.kind === "ref" && !isKeyDeclaration(k))) {
        ctx.report(DiagnosticCode.BadMapKey, k, `Map key \`${k.getText()}\` is not supported: keys must be strings or numbers`);
        return undefined;
      }
      return { kind: "map", key, value };
    }
  }
}

/** A `Map` key naming a declaration: an enum, or an alias of strings, numbers or their literals. */
function isKeyDeclaration(node: TypeNode, depth = 0): boolean {
  if (depth > 8) return false;
  if (node.getKind() === SyntaxKind.StringKeyword || node.getKind() === SyntaxKind.NumberKeyword) return true;
  if (Node.isTypeReference(node)) {
    const name = node.getTypeName();
    const decl = Node.isIdentifier(name) ? declarationOf(name) : undefined;
    if (decl !== undefined && Node.isEnumDeclaration(decl)) return true;
    const target = decl !== undefined && Node.isTypeAliasDeclaration(decl) ? decl.getTypeNode() : undefined;
    return target !== undefined && isKeyDeclaration(target, depth + 1);
  }
  return isLiteralLike(node, depth + 1);
}

/** Map keys travel as msgpack map keys: strings or numbers only. */
function isMapKey(t: TypeRef): boolean {
  switch (t.kind) {
    case "string":
    case "number":
    case "ref":
      return true;
    case "literal":
      return typeof t.value !== "boolean";
    case "union":
      return t.members.every((m) => m.kind === "literal" && typeof m.value !== "boolean");
    default:
      return false;
  }
}
