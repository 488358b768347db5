/**
 * How long each row takes (expected, on a quiet 2-core machine) and may take at most (its hard
 * bound: every wait of the runner has a timeout), so a run's length is known before it starts
 * (`--list` prints both) and a test keeps the full and quick runs within their budgets.
 */
import type { Row } from "../scenarios.js";

export interface Timing {
  warmupMs: number;
  durationMs: number;
  rounds: number;
  /** A --quick run: rows' `minWarmupMs` do not apply. */
  quick?: boolean;
}

/** Bounds of main.ts's waits (it imports them): a child's start, and slack beyond its phases. */
export const START_TIMEOUT_MS = 15_000;
export const SLACK_MS = 30_000;
/** stopChild's grace before SIGKILL (bench/lib/child.ts). */
const STOP_GRACE_MS = 2_000;
/** bench/lib/cluster-run.ts's START_TIMEOUT_MS: its bound on each step (start, connect, reset, beyond a phase). */
const CLUSTER_STEP_MS = 30_000;
/** A cluster set-up row's expected time per node and set-up (dial, upgrade, handshake to every peer). */
const SETUP_PER_NODE_MS = 150;

/** Measured start-up and tear-down of one run of a row (two children, or N cluster nodes). */
const START_MS = { inProcess: 500, reference: 700, tsgrid: 1_300, clusterNode: 800 } as const;

/** The full run's expected length must stay below this (issue #12: a bounded `npm run bench`). */
export const FULL_RUN_EXPECTED_MAX_MS = 12 * 60_000;
/** The quick (CI) run's expected length must stay below this. */
export const QUICK_RUN_EXPECTED_MAX_MS = 60_000;
/** No single run of a row may be bounded above this. */
export const ROW_MAX_MS = 10 * 60_000;

export interface RowBounds {
  /** One run of the row, on a quiet machine. */
  expectedMs: number;
  /** One run of the row at most: every timeout it can hit, in sequence. */
  maxMs: number;
  /** How many times a run of `rounds` rounds runs it (memory rows: once). */
  runs: number;
}

const num = (v: unknown, dflt = 0): number => (typeof v === "number" && Number.isFinite(v) ? v : dflt);

/** The warm-up of `row`: `t.warmupMs`, raised to the row's `minWarmupMs` (not in --quick, nor with no warm-up). */
export function rowWarmupMs(row: Row, t: Timing): number {
  if (t.quick === true || t.warmupMs <= 0) return t.warmupMs;
  return Math.max(t.warmupMs, num(row.params["minWarmupMs"]));
}

export function rowBounds(row: Row, t: Timing): RowBounds {
  const runs = row.group === "memory" ? 1 : t.rounds;
  if (row.unavailable !== undefined) return { expectedMs: 0, maxMs: 0, runs };
  const phases = rowWarmupMs(row, t) + t.durationMs;
  // A row may declare the extra time it needs (memory rows fill 10,000 calls, connect rows dial...).
  const extra = num(row.params["extraTimeMs"]);
  const expectedExtra = num(row.params["expectedExtraMs"], row.group === "memory" ? 2_000 : 0);
  if (row.cluster !== undefined) {
    if (row.params["mode"] === "connect") {
      // A warm-up set-up, then `setups` measured ones, each followed by a reset.
      const setups = Math.max(1, num(row.params["setups"], 5)) + (t.warmupMs > 0 ? 1 : 0);
      return {
        expectedMs: START_MS.clusterNode * row.cluster + setups * SETUP_PER_NODE_MS * row.cluster,
        maxMs: CLUSTER_STEP_MS + setups * 2 * CLUSTER_STEP_MS + STOP_GRACE_MS,
        runs,
      };
    }
    return {
      expectedMs: START_MS.clusterNode * row.cluster + phases,
      // start + connect + warm-up phase + measured phase, each with its bound, then the stops.
      maxMs: 2 * CLUSTER_STEP_MS + (t.warmupMs + CLUSTER_STEP_MS) + (t.durationMs + CLUSTER_STEP_MS) + STOP_GRACE_MS,
      runs,
    };
  }
  const start = row.server === undefined ? START_MS.inProcess : row.group === "reference" ? START_MS.reference : START_MS.tsgrid;
  return {
    expectedMs: start + phases + expectedExtra,
    maxMs: (row.server !== undefined ? START_TIMEOUT_MS : 0) + phases + SLACK_MS + extra + STOP_GRACE_MS,
    runs,
  };
}

/** A whole run: every row `runs` times, the baseline's rows (before/after) once more each. */
export function runBounds(rows: readonly Row[], t: Timing, baselineRows: readonly Row[] = []): { expectedMs: number; maxMs: number } {
  let expectedMs = 0;
  let maxMs = 0;
  for (const row of [...rows, ...baselineRows]) {
    const b = rowBounds(row, t);
    expectedMs += b.expectedMs * b.runs;
    maxMs += b.maxMs * b.runs;
  }
  return { expectedMs, maxMs };
}

/** The default time budget of a run (rows past it are skipped as slow): its expected length with room. */
export function defaultBudgetMs(expectedMs: number, quick: boolean): number {
  return quick ? QUICK_RUN_EXPECTED_MAX_MS : Math.max(280_000, Math.ceil(expectedMs * 1.5));
}
