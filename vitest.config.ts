import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    // Resolve `tsgrid` and `tsgrid/idl` to the TypeScript sources, not to dist/.
    conditions: ["tsgrid-source"],
  },
  // Tests run in Vite's SSR mode, which reads its own condition list: without this,
  // `import "tsgrid"` resolves to dist/ (missing before a build, stale after one).
  ssr: { resolve: { conditions: ["tsgrid-source", "module", "node", "development|production"] } },
  test: {
    include: ["test/**/*.test.ts", "runtime/**/*.test.ts", "codegen/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
  },
});
