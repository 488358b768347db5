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

  it("nothing is generated from a schema with errors", () => {
    const dir = path.join(diagnosticsDir, "GG010-unsupported-type");
    expect(generate(findSchemas(["."], dir).files, dir).files).toEqual([]);
  });
});
