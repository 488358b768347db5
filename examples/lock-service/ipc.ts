/** Messages between the demo orchestrator (main.ts) and its node processes (node.ts), over Node's IPC channel. */
import type { ConnectionState } from "tsgrid";
import type { MetricsSnapshot } from "./metrics.js";
import type { CriticalSection } from "./mutual-exclusion.js";

export type NodeMessage =
  /** Listening; ready to be started. */
  | { type: "ready" }
  /** Connected to every peer; the workload runs. */
  | { type: "connected" }
  /** The connection to a peer changed state. */
  | { type: "peer"; peer: string; state: ConnectionState }
  /** Cumulative metrics, every 250 ms while the workload runs, and the critical sections completed since the last report. */
  | { type: "progress"; metrics: MetricsSnapshot; sections: CriticalSection[] }
  /** The workload ended; its metrics (the node still serves its peers) and its last critical sections. */
  | { type: "done"; metrics: MetricsSnapshot; sections: CriticalSection[] }
  /** Told to exit: the last metrics (what it served after "done" included), then it exits. */
  | { type: "final"; metrics: MetricsSnapshot };

export type OrchestratorMessage =
  /** Connect, then run the workload until `until` (ms since the epoch). */
  | { type: "start"; until: number }
  /** Send "final", close the Manager and exit. */
  | { type: "exit" }
  /** A rolling restart: stop the workload ("done"), drain the Manager, send "final", exit. */
  | { type: "drain"; timeoutMs: number };
