/**
 * The generated code (golden outputs and generated/) type-checks under the project's strict options,
 * and with exactOptionalPropertyTypes on (users turn it on; their generated code must compile).
 */
import { readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const goldenDir = path.join(here, "fixtures/golden");
const dirs = (p: string): string[] => readdirSync(p).filter((d) => statSync(path.join(p, d)).isDirectory()).sort();

describe("generated code type-checks", () => {
  it("under the project's strict compiler options", () => {
    const outputs = [
      ...dirs(goldenDir).flatMap((feature) => {
        const out = path.join(goldenDir, feature, "out");
        return readdirSync(out).map((n) => path.join(out, n));
      }),
      ...readdirSync(path.join(root, "generated")).map((n) => path.join(root, "generated", n)),
    ];
    const config = ts.getParsedCommandLineOfConfigFile(path.join(root, "tsconfig.json"), {}, {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
      },
    });
    if (config === undefined) throw new Error("cannot read tsconfig.json");
    const program = ts.createProgram(outputs, { ...config.options, noEmit: true, noUnusedLocals: true, noUnusedParameters: true, exactOptionalPropertyTypes: true });
    // Only the generated files' own diagnostics: checking the whole runtime would take far longer.
    const diagnostics = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()];
    for (const file of outputs) {
      const sf = program.getSourceFile(file);
      if (sf === undefined) throw new Error(`not in the program: ${file}`);
      diagnostics.push(...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf));
    }
    const errors = diagnostics.map((d) => {
      const where = d.file ? `${path.relative(root, d.file.fileName)}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}` : "";
      return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
    });
    expect(errors).toEqual([]);
  });
});
