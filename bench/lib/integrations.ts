/**
 * The observability integrations as the bench rows run them, on both sides of a call:
 *  - "otel": tsgrid/otel with a real SDK tracer provider (every span recorded, batched, then
 *    dropped by an exporter that does nothing), W3C propagation, AsyncLocalStorage context;
 *  - "metrics": tsgrid/metrics (prom-client) counting every call, in a registry of its own;
 *  - "otel-sampled": the same with 1% of traces sampled (ParentBased(TraceIdRatioBased(0.01))),
 *    as production set-ups do: unsampled spans do not record, the context still propagates;
 *  - "otel+metrics": both (every span recorded).
 *  - "interceptor": one pass-through interceptor on each side (`(next) => (call) => next(call)`),
 *    the cost of the interceptor path itself.
 * "none" never loads this module (bench/lib/instrument.ts).
 */
import { context } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { ExportResultCode, W3CTraceContextPropagator, type ExportResult } from "@opentelemetry/core";
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type ReadableSpan,
  type SpanExporter,
} from "@opentelemetry/sdk-trace-base";
import { Registry } from "prom-client";
import type { ClientInterceptor, ServerInterceptor } from "tsgrid";
import { GridMetrics } from "tsgrid/metrics";
import { otelInterceptors } from "tsgrid/otel";

import type { Instrumented } from "./instrument.js";

/** Spans: counted (so nothing optimises them away), then dropped. */
class DiscardExporter implements SpanExporter {
  exported = 0;
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.exported += spans.length;
    done({ code: ExportResultCode.SUCCESS });
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** The integrations of `kind` (see bench/lib/instrument.ts); loaded only for rows that use them. */
export function integrations(kind: string): Instrumented {
  const client: ClientInterceptor[] = [];
  const server: ServerInterceptor[] = [];
  let provider: BasicTracerProvider | undefined;
  let metrics: GridMetrics | undefined;
  if (kind === "interceptor") {
    client.push((next) => (call) => next(call));
    server.push((next) => (call) => next(call));
  }
  if (kind === "otel" || kind === "otel-sampled" || kind === "otel+metrics") {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    provider = new BasicTracerProvider({
      spanProcessors: [new BatchSpanProcessor(new DiscardExporter())],
      ...(kind === "otel-sampled" && { sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(0.01) }) }),
    });
    const otel = otelInterceptors({ tracerProvider: provider, propagator: new W3CTraceContextPropagator() });
    client.push(...otel.client);
    server.push(...otel.server);
  }
  if (kind === "metrics" || kind === "otel+metrics") {
    metrics = new GridMetrics({ registry: new Registry() });
    client.push(...metrics.interceptors.client);
    server.push(...metrics.interceptors.server);
  }
  return {
    interceptors: { client, server },
    attach: (manager) => void metrics?.observe(manager),
    close: async () => {
      metrics?.close();
      await provider?.shutdown();
    },
  };
}
