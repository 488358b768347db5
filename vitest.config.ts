import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    // Resolve `tsgrid` and `tsgrid/idl` to the TypeScript sources, not to dist/.
    conditions: ["tsgrid-source"],
  },
  test: {
    include: ["test/**/*.test.ts", "runtime/**/*.test.ts", "codegen/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
  },
});
