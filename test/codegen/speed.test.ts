/**
 * gridgen's speed: schemas are checked against a small built-in library, not TypeScript's
 * lib.es2023 (loading and binding it was most of a 2.5-5 s run), and `--watch` reuses the
 * compiler between runs. Measured (CPU time, loaded 2-core VM) for the quickstart schema:
 * 1.2-1.8 s per run before, 0.8-1.1 s after, of which about 0.6 s is loading TypeScript; a warm
 * rerun (what --watch does) 0.3-0.4 s before, about 0.1 s after.
 */
import { describe, expect, it } from "vitest";
import { generate } from "../../codegen/generate.js";
import { compiledFiles } from "../../codegen/parse/parse-schemas.js";

describe("gridgen speed", () => {
  it("compiles only the schemas, tsgrid/idl and the schema library (no TypeScript lib files)", () => {
    expect(generate(["examples/quickstart/greeter.grid.ts"]).diagnostics).toEqual([]);
    const files = compiledFiles();
    expect(files.filter((f) => /[\\/]lib\.[\w.]*\.d\.ts$/.test(f) && !f.includes("__gridgen__"))).toEqual([]);
    expect(files.length).toBeLessThanOrEqual(4);
  });

  it("a warm rerun (what --watch does) takes well under a second of CPU", () => {
    generate(["examples/quickstart/greeter.grid.ts"]);
    const before = process.cpuUsage();
    for (let i = 0; i < 3; i++) expect(generate(["examples/quickstart/greeter.grid.ts"]).diagnostics).toEqual([]);
    const { user, system } = process.cpuUsage(before);
    expect((user + system) / 3 / 1000).toBeLessThan(600);
  });
});
