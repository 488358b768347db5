/**
 * gridgen as a function: schema files in, generated files (or diagnostics) out. No file is
 * written here (the CLI does that, atomically), so tests and tools call this directly.
 */
import { sortDiagnostics } from "./diagnostics.js";
import type { Diagnostic } from "./diagnostics.js";
import { emitFile } from "./emit/emit-file.js";
import { checkSchema } from "./model/check-schema.js";
import { compareSchemas } from "./model/compat.js";
import { outputFileName } from "./model/names.js";
import { SchemaIndex } from "./model/schema-index.js";
import type { Schema } from "./model/schema.js";
import { parseSchemas } from "./parse/parse-schemas.js";

export interface GeneratedFile {
  /** File name inside the output directory: `storage.ts`. */
  name: string;
  /** The schema it was generated from, as given. */
  schema: string;
  text: string;
}

export interface GenerateResult {
  /** Empty when there are diagnostics: nothing is generated from a schema with errors. */
  files: GeneratedFile[];
  diagnostics: Diagnostic[];
  schema: Schema;
}

/** Generates the code of `schemaFiles` (paths absolute or relative to `cwd`), compiled together. */
export function generate(schemaFiles: readonly string[], cwd: string = process.cwd()): GenerateResult {
  const parsed = parseSchemas(schemaFiles, cwd);
  // A file that could not be read as a schema is reported alone: model checks would only cascade.
  const diagnostics = parsed.incomplete ? parsed.diagnostics : [...parsed.diagnostics, ...checkSchema(parsed.schema)];
  if (diagnostics.length > 0) return { files: [], diagnostics: sortDiagnostics(diagnostics), schema: parsed.schema };
  const index = new SchemaIndex(parsed.schema);
  const files = parsed.schema.files
    .map((file) => ({ name: outputFileName(file.path), schema: file.path, text: emitFile(index, file) }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { files, diagnostics: [], schema: parsed.schema };
}

/**
 * The breaking changes from the baseline schemas (as deployed) to `current`: removed handlers,
 * changed handler forms, messages old and new nodes cannot both read. Diagnostics of the
 * baseline itself are returned as they are.
 */
export function checkAgainst(current: Schema, baselineFiles: readonly string[], cwd: string = process.cwd()): Diagnostic[] {
  const baseline = parseSchemas(baselineFiles, cwd);
  const problems = baseline.incomplete ? baseline.diagnostics : [...baseline.diagnostics, ...checkSchema(baseline.schema)];
  if (problems.length > 0) return sortDiagnostics(problems);
  return sortDiagnostics(compareSchemas(baseline.schema, current));
}
