/**
 * How tests resolve packages (vitest.config.ts): `tsgrid` and `tsgrid/idl` to the TypeScript
 * sources, and every dependency as Node resolves it in production. With Vite's default
 * "module" condition, `@opentelemetry/api` resolved to an ESM build Node cannot load, so the
 * OpenTelemetry SDK and prom-client could not be imported in tests at all.
 */
import { describe, expect, test } from "vitest";
import { createRequire } from "node:module";
import * as tsgrid from "tsgrid";
import * as idl from "tsgrid/idl";
import { Manager } from "../../runtime/cluster/manager.js";
import * as idlSource from "../../runtime/idl.js";

describe("test resolution (vitest.config.ts)", () => {
  test("tsgrid and tsgrid/idl are the TypeScript sources, not dist/", () => {
    // Same module instance: a dist/ build would give distinct classes.
    expect(tsgrid.Manager).toBe(Manager);
    // tsgrid/idl holds only types (nothing to compare at run time): read what it resolved to.
    expect(idl).toStrictEqual(idlSource);
  });

  test("tsgrid/idl resolves to runtime/idl.ts", async () => {
    const specifier = "tsgrid/idl?raw"; // a variable: TypeScript has no types for ?raw
    const raw = ((await import(specifier)) as { default: string }).default;
    expect(raw).toContain("export interface Service");
  });

  test("@opentelemetry/api loads, and is the one Node's own resolution picks (CJS build)", async () => {
    const api = await import("@opentelemetry/api");
    const viaNode = createRequire(import.meta.url)("@opentelemetry/api") as typeof api;
    // The same module as Node's require: not a second copy with its own global registration.
    expect(api.trace).toBe(viaNode.trace);
  });

  test("the OpenTelemetry SDK and prom-client import and work", async () => {
    const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = await import(
      "@opentelemetry/sdk-trace-base"
    );
    const { W3CTraceContextPropagator } = await import("@opentelemetry/core");
    const { AsyncLocalStorageContextManager } = await import("@opentelemetry/context-async-hooks");
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    provider.getTracer("t").startSpan("s").end();
    expect(exporter.getFinishedSpans().map((s) => s.name)).toEqual(["s"]);
    expect(new W3CTraceContextPropagator().fields()).toContain("traceparent");
    expect(new AsyncLocalStorageContextManager()).toBeDefined();

    const { Registry, Counter } = await import("prom-client");
    const registry = new Registry();
    new Counter({ name: "probe_total", help: "probe", registers: [registry] }).inc(2);
    expect(await registry.metrics()).toContain("probe_total 2");
  });
});

describe("the core does not depend on the optional integrations", () => {
  test("no module of runtime/ outside runtime/integrations imports prom-client, @opentelemetry or an integration", async () => {
    const { readdir, readFile } = await import("node:fs/promises");
    const root = new URL("../../runtime/", import.meta.url);
    const files = (await readdir(root, { recursive: true })).filter(
      (f) => f.endsWith(".ts") && !f.startsWith("integrations"),
    );
    expect(files.length).toBeGreaterThan(20);
    const offenders: string[] = [];
    for (const f of files) {
      const src = await readFile(new URL(f, root), "utf8");
      if (/from\s+["'](prom-client|@opentelemetry\/[^"']+)["']|integrations\//.test(src)) offenders.push(f);
    }
    expect(offenders).toEqual([]);
  });
});
