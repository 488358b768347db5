/** JSDoc carried from the schema to the generated code. */
import { Node } from "ts-morph";

/** The text of a node's last JSDoc comment (description and tags), or undefined. */
export function docOf(node: Node): string | undefined {
  if (!Node.isJSDocable(node)) return undefined;
  const docs = node.getJsDocs();
  const last = docs[docs.length - 1];
  if (last === undefined) return undefined;
  const text = last.getInnerText().trim();
  return text === "" ? undefined : text;
}

/** A file's own doc comment: a JSDoc comment before its first import. */
export function fileDocOf(statements: readonly Node[]): string | undefined {
  const first = statements[0];
  if (first === undefined || !Node.isImportDeclaration(first)) return undefined;
  const comment = first.getLeadingCommentRanges().find((c) => c.getText().startsWith("/**"));
  if (comment === undefined) return undefined;
  const text = comment
    .getText()
    .replace(/^\/\*\*\s?/, "")
    .replace(/\s*\*\/$/, "")
    .split("\n")
    .map((l) => l.replace(/^\s*\* ?/, ""))
    .join("\n")
    .trim();
  return text === "" ? undefined : text;
}
