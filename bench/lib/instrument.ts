/**
 * Which observability integrations a bench row runs on both sides of a call ("none", the plain
 * call path, or one of bench/lib/integrations.ts). The integrations' libraries (the OpenTelemetry
 * SDK, prom-client) are imported only by the rows that use them, as a user who does not trace
 * does not load them: merely loading the OTel SDK made V8 run ~10x more old-space Mark-Compacts
 * under tsgrid's large-payload rows and cost them ~20% CPU (docs/performance.md, large payloads).
 */
import type { Interceptors, Manager } from "tsgrid";

export const INSTRUMENTS = ["none", "interceptor", "otel", "otel-sampled", "metrics", "otel+metrics"] as const;
export type Instrument = (typeof INSTRUMENTS)[number];

export interface Instrumented {
  interceptors: Interceptors | undefined;
  /** After the Manager exists (per-peer metrics). */
  attach(manager: Manager): void;
  close(): Promise<void>;
}

const NONE: Instrumented = { interceptors: undefined, attach: () => {}, close: async () => {} };

export async function instrument(kind: string): Promise<Instrumented> {
  if (!(INSTRUMENTS as readonly string[]).includes(kind)) throw new Error(`unknown instrument ${kind}`);
  if (kind === "none") return NONE;
  const { integrations } = await import("./integrations.js");
  return integrations(kind);
}
