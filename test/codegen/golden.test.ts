/**
 * Golden tests of gridgen (ts-proto style): one folder per schema feature under
 * fixtures/golden/, its generated output committed next to it (out/, compared with
 * toMatchFileSnapshot: `npx vitest run -u` rewrites it); generation is deterministic; and
 * generated/ is the current output of schemas/, so `npm test` fails when it is stale.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { formatDiagnostic } from "../../codegen/diagnostics.js";
import { findSchemas } from "../../codegen/files.js";
import { generate } from "../../codegen/generate.js";
import { runtimeNames } from "../../codegen/model/names.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const goldenDir = path.join(here, "fixtures/golden");
const dirs = (p: string): string[] => readdirSync(p).filter((d) => statSync(path.join(p, d)).isDirectory()).sort();

describe("golden output", () => {
  for (const feature of dirs(goldenDir)) {
    it(feature, async () => {
      const dir = path.join(goldenDir, feature);
      const { files } = findSchemas(["."], dir);
      const result = generate(files, dir);
      expect(result.diagnostics.map(formatDiagnostic)).toEqual([]);
      for (const f of result.files) await expect(f.text).toMatchFileSnapshot(path.join(dir, "out", f.name));
    });
  }

  it("is deterministic: the same input gives byte-identical output", () => {
    const dir = path.join(goldenDir, "imports");
    const files = findSchemas(["."], dir).files;
    const a = generate(files, dir).files;
    const b = generate([...files].reverse(), dir).files;
    expect(b).toEqual(a);
  });
});

describe("generated/", () => {
  it("is the current output of schemas/ (run `npm run gen` after changing a schema or gridgen)", () => {
    const { files } = findSchemas(["schemas"], root);
    const result = generate(files, root);
    expect(result.diagnostics.map(formatDiagnostic)).toEqual([]);
    const onDisk = readdirSync(path.join(root, "generated")).filter((n) => n.endsWith(".ts")).sort();
    expect(onDisk).toEqual(result.files.map((f) => f.name));
    for (const f of result.files) {
      expect(readFileSync(path.join(root, "generated", f.name), "utf8"), `generated/${f.name} is stale`).toBe(f.text);
    }
  });
});

describe("runtime names", () => {
  it("every name generated code imports from tsgrid is reserved (GG006), so no schema declaration can shadow it", () => {
    const files = [
      ...dirs(goldenDir).flatMap((feature) => readdirSync(path.join(goldenDir, feature, "out")).map((n) => path.join(goldenDir, feature, "out", n))),
      ...readdirSync(path.join(root, "generated")).map((n) => path.join(root, "generated", n)),
    ];
    const imported = new Set<string>();
    for (const file of files) {
      for (const m of readFileSync(file, "utf8").matchAll(/^import (?:type )?\{ ([^}]+) \} from "tsgrid";$/gm)) {
        for (const name of (m[1] ?? "").split(", ")) imported.add(name);
      }
    }
    expect(imported.size).toBeGreaterThan(10);
    expect([...imported].filter((n) => !runtimeNames.includes(n))).toEqual([]);
  });
});
