/**
 * One fixture per gridgen diagnostic code, proving its message and location (expected.txt).
 * GG2xx fixtures hold a baseline (before/) and a change (after/), as `--against` compares them.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { DiagnosticCode, formatDiagnostic } from "../../codegen/diagnostics.js";
import { findSchemas } from "../../codegen/files.js";
import { checkAgainst, generate } from "../../codegen/generate.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const diagnosticsDir = path.join(here, "fixtures/diagnostics");
const dirs = (p: string): string[] => readdirSync(p).filter((d) => statSync(path.join(p, d)).isDirectory()).sort();

describe("diagnostics: one fixture per code", () => {
  const fixtures = dirs(diagnosticsDir);

  it("every code has a fixture", () => {
    const covered = new Set(fixtures.map((d) => d.slice(0, 5)));
    expect(Object.values(DiagnosticCode).filter((c) => !covered.has(c))).toEqual([]);
  });

  for (const fixture of fixtures) {
    it(fixture, async () => {
      const dir = path.join(diagnosticsDir, fixture);
      // A fixture with before/ and after/ checks after/ against the baseline before/ (--against).
      const against = existsSync(path.join(dir, "before"));
      const found = findSchemas([against ? "after" : "."], dir);
      let diagnostics = found.diagnostics.length > 0 ? found.diagnostics : [];
      if (diagnostics.length === 0) {
        const result = generate(found.files, dir);
        diagnostics = result.diagnostics;
        if (against && diagnostics.length === 0) diagnostics = checkAgainst(result.schema, findSchemas(["before"], dir).files, dir);
      }
      const code = fixture.slice(0, 5);
      expect(diagnostics.some((d) => d.code === code), `no ${code} in:\n${diagnostics.map(formatDiagnostic).join("\n")}`).toBe(true);
      await expect(`${diagnostics.map(formatDiagnostic).join("\n")}\n`).toMatchFileSnapshot(path.join(dir, "expected.txt"));
    });
  }

  it("a plain .ts file named on the command line is refused, not compiled as a schema (GG002)", () => {
    const dir = path.join(diagnosticsDir, "GG001-typescript");
    const found = findSchemas(["schema.grid.ts", "../../../cli.test.ts"], dir);
    expect(found.files).toEqual([path.join(dir, "schema.grid.ts")]);
    expect(found.diagnostics.map(formatDiagnostic)).toEqual([
      "gridgen - error GG002: ../../../cli.test.ts: not a schema: schema files are named *.grid.ts (rename it cli.test.grid.ts if it is one)",
    ]);
  });

  it("a schema without its tsgrid/idl import gets one error saying what to import, and a syntax error is reported alone", () => {
    for (const [fixture, count] of [["GG007-missing-idl-import", 1], ["GG007-partial-idl-import", 1], ["GG001-syntax-error", 1]] as const) {
      const dir = path.join(diagnosticsDir, fixture);
      expect(generate(findSchemas(["."], dir).files, dir).diagnostics.map(formatDiagnostic)).toHaveLength(count);
    }
  });

  it("nothing is generated from a schema with errors", () => {
    const dir = path.join(diagnosticsDir, "GG010-unsupported-type");
    expect(generate(findSchemas(["."], dir).files, dir).files).toEqual([]);
  });
});
