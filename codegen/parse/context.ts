/** State shared while parsing one set of schemas: the files in the set and the diagnostics. */
import path from "node:path";
import type { Node, SourceFile } from "ts-morph";
import type { Diagnostic, DiagnosticCode } from "../diagnostics.js";
import type { Location } from "../model/schema.js";

export class ParseContext {
  readonly diagnostics: Diagnostic[] = [];
  /** Absolute path of every schema file in the set → its path as reported. */
  readonly schemaPaths = new Map<string, string>();

  constructor(readonly cwd: string) {}

  /** The reported path of a schema file: relative to cwd, `/`-separated. */
  displayPath(absolute: string): string {
    const rel = path.relative(this.cwd, absolute);
    return (rel === "" || rel.startsWith("..") || path.isAbsolute(rel) ? absolute : rel).split(path.sep).join("/");
  }

  /** The reported path of a source file if it is one of the schemas being compiled. */
  schemaPathOf(sf: SourceFile): string | undefined {
    return this.schemaPaths.get(path.resolve(sf.getFilePath()));
  }

  location(node: Node): Location {
    const sf = node.getSourceFile();
    const { line, column } = sf.getLineAndColumnAtPos(node.getStart());
    return { file: this.displayPath(sf.getFilePath()), line, column };
  }

  report(code: DiagnosticCode, node: Node, message: string): void {
    this.diagnostics.push({ code, message, location: this.location(node) });
  }
}
