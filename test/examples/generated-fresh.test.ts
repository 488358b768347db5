/** The examples' generated code is what gridgen makes of their schemas today (like `gridgen --check`). */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { generate } from "../../codegen/generate.js";

const root = fileURLToPath(new URL("../../", import.meta.url));

describe("examples' generated code is fresh", () => {
  it.each([
    ["examples/quickstart/greeter.grid.ts", "examples/quickstart/generated"],
    ["examples/patterns/jobs.grid.ts", "examples/patterns/generated"],
  ])("%s", (schema, out) => {
    const result = generate([schema], root);
    expect(result.diagnostics).toEqual([]);
    for (const file of result.files) {
      const committed = readFileSync(`${root}${out}/${file.name}`, "utf8");
      expect(committed, `${out}/${file.name} is stale: run npx gridgen ${schema} -o ${out}`).toBe(file.text);
    }
  });
});
