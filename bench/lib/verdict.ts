/**
 * Broken or slow: how a benchmark row's failure is judged. The smoke run (`--quick`, run by CI
 * on machines that may be busy) must fail on a BROKEN row (an error, a wrong answer, a crash,
 * no progress at all) and only warn on a SLOW one (a time bound ran out while the row was
 * making progress, or fewer operations than expected): a loaded machine is not a regression.
 * A full run fails on both, since a slow row leaves its numbers out.
 */
import type { RowResult } from "../report/ratios.js";

export type FailureKind = "slow" | "broken";

/** A bound on time ran out (a child's answer, a connect, a hold): the row was slow, not wrong. */
export class SlowError extends Error {
  override name = "SlowError";
}

/**
 * The kind of a failure thrown while running a row: SlowError, and the standard timeouts
 * (`AbortSignal.timeout`'s TimeoutError, tsgrid's DeadlineExceededError) are slow; anything
 * else (an error from the code under test, a crash, a wrong answer) is broken.
 */
export function failureKind(err: unknown): FailureKind {
  if (err instanceof SlowError) return "slow";
  const e = err as { name?: unknown; code?: unknown } | null;
  if (e !== null && typeof e === "object" && (e.name === "TimeoutError" || e.code === "deadline_exceeded")) return "slow";
  return "broken";
}

/**
 * A failed row's error and kind, from what was thrown and the operations its client had
 * reported when it was thrown (undefined: no report): a time bound that ran out on a row
 * that had done nothing at all is broken (a hang), not slow.
 */
export function rowFailure(err: unknown, progressOps?: number): { error: string; errorKind: FailureKind } {
  const message = err instanceof Error ? err.message : String(err);
  const kind = failureKind(err);
  if (kind === "slow" && progressOps === 0) return { error: `no progress (0 operations reported): ${message}`, errorKind: "broken" };
  const after = kind === "slow" && progressOps !== undefined ? ` (after ${progressOps} operations)` : "";
  return { error: `${message}${after}`, errorKind: kind };
}

/** Fewer measured operations than this in a completed row is reported as slow. */
export const MIN_EXPECTED_OPS = 100;

export interface RowVerdict {
  id: string;
  kind: FailureKind;
  why: string;
}

export interface RunVerdict {
  /** Rows that fail the run. */
  failures: RowVerdict[];
  /** Rows reported but not failing the run. */
  warnings: RowVerdict[];
  exitCode: 0 | 1;
}

/** Why a row did not run when the run's time budget was spent before it (a slow machine). */
export const BUDGET_SPENT = "time budget spent";

/** One row: undefined when it ran fine (or was skipped on purpose). */
export function judgeRow(r: RowResult): RowVerdict | undefined {
  if (r.skipped === BUDGET_SPENT) return { id: r.id, kind: "slow", why: `not run: ${BUDGET_SPENT} before it` };
  if (r.skipped !== undefined) return undefined;
  if (r.error !== undefined) return { id: r.id, kind: r.errorKind ?? "broken", why: r.error.split("\n")[0]! };
  if (r.group === "memory") return undefined; // a fixed amount of work, not a throughput loop
  if (typeof r.params["setups"] === "number" && r.ops > 0) return undefined; // so is a count of cluster set-ups
  if (r.ops <= 0) return { id: r.id, kind: "broken", why: `no progress: 0 operations in ${Math.round(r.elapsedMs)} ms` };
  // A row whose operation is large (1 MiB round trips) names its own minimum in `minOps`.
  const minOps = typeof r.params?.["minOps"] === "number" ? r.params["minOps"] : MIN_EXPECTED_OPS;
  if (r.ops < minOps) {
    return { id: r.id, kind: "slow", why: `only ${r.ops} operations in ${Math.round(r.elapsedMs)} ms (expected >= ${minOps})` };
  }
  return undefined;
}

/** The whole run: in quick mode only broken rows fail it; in a full run any row with an error does. */
export function judgeRun(results: readonly RowResult[], opts: { quick: boolean }): RunVerdict {
  const failures: RowVerdict[] = [];
  const warnings: RowVerdict[] = [];
  for (const r of results) {
    const v = judgeRow(r);
    if (v === undefined) continue;
    const fails = v.kind === "broken" || (!opts.quick && r.error !== undefined);
    (fails ? failures : warnings).push(v);
  }
  return { failures, warnings, exitCode: failures.length > 0 ? 1 : 0 };
}

/** The lines the run prints for its verdict (warnings on stdout, failures on stderr). */
export function verdictLines(v: RunVerdict): { out: string[]; err: string[] } {
  return {
    out: v.warnings.map((w) => `WARNING ${w.id}: ${w.kind} (not a failure): ${w.why}`),
    err: [
      ...v.failures.map((f) => `FAILED ${f.id}: ${f.kind}: ${f.why}`),
      ...(v.failures.length > 0 ? [`${v.failures.length} row(s) failed: ${v.failures.map((f) => f.id).join(", ")}`] : []),
    ],
  };
}
