import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    // Resolve `tsgrid` and `tsgrid/idl` to the TypeScript sources, not to dist/.
    conditions: ["tsgrid-source"],
  },
  // Tests run in Vite's SSR mode, which reads its own condition list: without this,
  // `import "tsgrid"` resolves to dist/ (missing before a build, stale after one).
  // No "module" condition (Vite's default has it): packages that Vitest leaves to Node
  // (everything in node_modules) must resolve as Node resolves them in production. With
  // "module", `@opentelemetry/api` 1.9 resolved to its `build/esm` files, whose
  // extensionless imports Node cannot load, so the OpenTelemetry SDK and prom-client
  // (which imports the API) could not be imported in tests.
  ssr: { resolve: { conditions: ["tsgrid-source", "node", "development|production"] } },
  test: {
    include: ["test/**/*.test.ts", "runtime/**/*.test.ts", "codegen/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
  },
});
