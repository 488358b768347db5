/**
 * OpenTelemetry traces and Prometheus metrics of a tsgrid cluster (docs/observability.md quotes
 * this file): three servers, each with tsgrid/otel and tsgrid/metrics; a call from the first
 * to the second, which calls the third, gives one trace across the three, and each server's
 * registry counts it. test/examples/telemetry.test.ts runs it.
 *   npm run build && node dist/examples/operations/telemetry.js
 */
import { fileURLToPath } from "node:url";
import { context, propagation, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { Registry } from "prom-client";
import { Manager, silentLogger } from "tsgrid";
import { GridMetrics } from "tsgrid/metrics";
import { otelInterceptors } from "tsgrid/otel";
import { freePorts } from "../free-ports.js";

const FRONT = 1; // served by the second server; calls BACK on the third
const BACK = 2;

export interface TelemetryRun {
  hosts: string[];
  /** Every finished span, in the order they ended. */
  spans: ReadableSpan[];
  /** Each server's /metrics text. */
  scrapes: string[];
}

export async function main(): Promise<TelemetryRun> {
  // #region otel-setup
  // Once per process, what an OpenTelemetry SDK set-up does (NodeSDK does all three):
  // a tracer provider, W3C trace context, and a context manager that follows async calls.
  const exporter = new InMemorySpanExporter(); // in production: an OTLP exporter
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  trace.setGlobalTracerProvider(provider);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  // #endregion otel-setup

  const hosts = (await freePorts(3)).map((port) => `ws://127.0.0.1:${port}/grid`);
  const managers: Manager[] = [];
  const registries: Registry[] = [];
  try {
    for (const local of hosts) {
      // Three servers in one process, so three registries; a server of its own uses the default.
      const registry = new Registry();
      registries.push(registry);
      // #region wire-both
      const metrics = new GridMetrics({ registry }); // default: prom-client's global registry
      const tracing = otelInterceptors(); // default: the global tracer provider and propagator
      const manager = new Manager({
        local,
        hosts,
        interceptors: {
          client: [...tracing.client, ...metrics.interceptors.client],
          server: [...tracing.server, ...metrics.interceptors.server],
        },
        logger: silentLogger,
      });
      metrics.observe(manager); // per-peer series
      // #endregion wire-both
      managers.push(manager);
    }
    const [first, second, third] = managers as [Manager, Manager, Manager];
    third.registerSingle(BACK, (payload) => payload, { name: "Back.echo" });
    const toThird = second.connection(third.local);
    toThird.nameHandlers("Back", { echo: BACK });
    second.registerSingle(FRONT, (payload) => toThird.request(BACK, payload), { name: "Front.echo" });
    const toSecond = first.connection(second.local);
    toSecond.nameHandlers("Front", { echo: FRONT });
    await Promise.all(managers.map((m) => m.listen()));
    const signal = AbortSignal.timeout(5_000);
    await Promise.all([toSecond.waitConnected({ signal }), toThird.waitConnected({ signal })]);

    await toSecond.request(FRONT, new Uint8Array([1, 2, 3]));
    await provider.forceFlush();
    return { hosts, spans: exporter.getFinishedSpans(), scrapes: await Promise.all(registries.map((r) => r.metrics())) };
  } finally {
    await Promise.all(managers.map((m) => m.close()));
    await provider.shutdown();
    trace.disable();
    propagation.disable();
    context.disable();
  }
}

/** One line per span: node, kind, name, and its parent's name. */
export function describeTrace(run: TelemetryRun): string[] {
  const byId = new Map(run.spans.map((s) => [s.spanContext().spanId, s]));
  return run.spans.map((s) => {
    const parent = s.parentSpanContext === undefined ? undefined : byId.get(s.parentSpanContext.spanId);
    const kind = ["internal", "server", "client"][s.kind] ?? String(s.kind);
    return `${kind} ${s.name} (trace ${s.spanContext().traceId.slice(0, 8)})${parent ? ` <- ${["internal", "server", "client"][parent.kind]} ${parent.name}` : ""}`;
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const run = await main();
  for (const line of describeTrace(run)) console.log(line);
  for (const line of run.scrapes[1]!.split("\n")) if (line.startsWith("tsgrid_calls_total")) console.log(line);
}
