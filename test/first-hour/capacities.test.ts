/**
 * Stream capacities: one story in the schema, the runtime, the generated code and the docs.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { formatDiagnostic } from "../../codegen/diagnostics.js";
import { findSchemas } from "../../codegen/files.js";
import { generate } from "../../codegen/generate.js";
import { registerGreeter, type GreeterServer } from "../../examples/quickstart/generated/greeter.js";
import { DEFAULT_IN_CAPACITY, DEFAULT_OUT_CAPACITY, HandlerRegistry, MAX_STREAM_CAPACITY } from "../../runtime/index.js";

const root = new URL("../../", import.meta.url);

function generateFrom(schema: string): { diagnostics: string[]; code: string } {
  // Inside the repository, so `tsgrid/idl` resolves as it does for a user's schema.
  const dir = mkdtempSync(path.join(fileURLToPath(new URL("test/first-hour/", root)), ".tmp-capacities-"));
  try {
    writeFileSync(path.join(dir, "s.grid.ts"), schema);
    const result = generate(findSchemas(["."], dir).files, dir);
    return { diagnostics: result.diagnostics.map(formatDiagnostic), code: result.files.map((f) => f.text).join("\n") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const schema = (spec: string): string => `import type { Service, Stream } from "tsgrid/idl";
export interface A { n: number; }
export interface S extends Service {
  s: Stream<1, { in: A; out: A${spec} }>;
}
`;

describe("stream capacities", () => {
  it("the schema accepts exactly the runtime's range", () => {
    const max = MAX_STREAM_CAPACITY;
    expect(generateFrom(schema(`; inCapacity: ${max}; outCapacity: ${max}`)).diagnostics).toEqual([]);
    expect(generateFrom(schema(`; outCapacity: ${max + 1}`)).diagnostics.join("\n")).toContain(`outCapacity must be an integer literal in 1..${max}`);
    const registry = new HandlerRegistry();
    registry.registerStream(1, async function* () {}, { inCapacity: max, outCapacity: max });
    expect(() => registry.registerStream(2, async function* () {}, { outCapacity: max + 1 })).toThrow(`1..${max}`);
  });

  it("a schema stream with `in` and no capacities gets the exported defaults", () => {
    const generated = generateFrom(schema(""));
    expect(generated.diagnostics).toEqual([]);
    expect(generated.code).toContain(`inCapacity: ${DEFAULT_IN_CAPACITY}`);
    const registry = new HandlerRegistry();
    registerGreeter(registry, {} as GreeterServer);
    expect(registry.stream(3, undefined)).toMatchObject({ inCapacity: DEFAULT_IN_CAPACITY, outCapacity: DEFAULT_OUT_CAPACITY });
    // registerStream without inCapacity: no input.
    expect(registry.stream(2, undefined)).toMatchObject({ inCapacity: 0, outCapacity: DEFAULT_OUT_CAPACITY });
  });

  it("every doc that gives a capacity range gives the runtime's", () => {
    for (const page of ["docs/IDL.md", "docs/PROTOCOL.md", "docs/streams.md", "README.md", "runtime/types.ts", "runtime/idl.ts"]) {
      const text = readFileSync(new URL(page, root), "utf8");
      for (const line of text.split("\n")) {
        if (!/capacit/i.test(line)) continue;
        for (const [, upper] of line.matchAll(/\b[01]\.\.(\d[\d,]*)/g)) {
          expect(Number(upper!.replace(/,/g, "")), `${page}: ${line}`).toBe(MAX_STREAM_CAPACITY);
        }
      }
    }
  });
});
