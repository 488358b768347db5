/**
 * The messages between the orchestrator (bench/main) and its children. A server child serves
 * one system on an ephemeral loopback port and reports its own resource usage; a client child
 * drives one scenario and asks the orchestrator (which proxies) for the server's usage at the
 * start and end of its measured window, so CPU per call includes both sides.
 */
import type { LatencySummary } from "./histogram.js";

/** A process's own view of its resources. */
export interface Usage {
  /** process.cpuUsage(), µs. */
  userUs: number;
  systemUs: number;
  /** Current resident set size, bytes. */
  rss: number;
  /** Peak resident set size since the process started, bytes. */
  maxRss: number;
  heapUsed: number;
  /** Bytes of ArrayBuffers/Buffers outside the JS heap. */
  external: number;
}

export function usageNow(): Usage {
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  return {
    userUs: cpu.user,
    systemUs: cpu.system,
    rss: mem.rss,
    maxRss: process.resourceUsage().maxRSS * 1024,
    heapUsed: mem.heapUsed,
    external: mem.external + mem.arrayBuffers,
  };
}

/** Full GCs until the heap stops shrinking (needs --expose-gc; a no-op without it). */
export async function settleGc(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) return;
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
}

// orchestrator -> server
export type ToServer = { type: "usage"; id: number; gc: boolean } | { type: "stop" };
// server -> orchestrator
export type FromServer =
  | { type: "listening"; port: number; info?: Record<string, unknown> }
  | { type: "usage"; id: number; usage: Usage }
  | { type: "error"; message: string };

// orchestrator -> client
export type ToClient =
  | { type: "run"; scenario: ScenarioSpec; port: number; serverInfo?: Record<string, unknown> }
  | { type: "server-usage"; id: number; usage: Usage };
// client -> orchestrator
export type FromClient =
  | { type: "server-usage"; id: number; gc: boolean }
  | { type: "result"; result: ClientResult }
  /** Operations done so far (warm-up and measured), every PROGRESS_INTERVAL_MS while running. */
  | { type: "progress"; ops: number }
  /** `slow`: a time bound ran out (see verdict.ts), not a broken row. */
  | { type: "error"; message: string; slow?: boolean };

/** How often a client child reports its progress, ms. */
export const PROGRESS_INTERVAL_MS = 1000;

/** What a client child is asked to run. */
export interface ScenarioSpec {
  /** Unique row id, e.g. "tsgrid.single.c128.b32". */
  id: string;
  /** Which client module runs it. */
  client: string;
  /** Scenario parameters (mode, payload, inflight...). */
  params: Record<string, number | string | boolean>;
  warmupMs: number;
  durationMs: number;
  /** Hard cap on measured operations (every loop is bounded by count and time). */
  maxOps: number;
}

/** What a client child reports for one scenario. */
export interface ClientResult {
  /** Operations completed in the measured window (round trips or messages). */
  ops: number;
  elapsedMs: number;
  latency: LatencySummary | undefined;
  client: { cpuUs: number; maxRss: number };
  server: { cpuUs: number; maxRss: number } | undefined;
  /** Scenario-specific numbers (memory rows, codec sizes...). */
  extra?: Record<string, number | string | boolean>;
}
