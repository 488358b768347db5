import { EventEmitter } from "node:events";
import type { ChildProcess } from "node:child_process";
import { describe, expect, it } from "vitest";
import { nextMessage } from "../../bench/lib/child.js";
import { BUDGET_SPENT, judgeRun, rowFailure, verdictLines } from "../../bench/lib/verdict.js";
import type { RowResult } from "../../bench/report/ratios.js";

function row(id: string, over: Partial<RowResult> = {}): RowResult {
  return {
    id, title: id, group: "tsgrid", unit: "round trips", params: {},
    throughput: 100_000, ops: 40_000, elapsedMs: 400, p50Us: 10, p99Us: 20,
    clientCpuPerOpUs: 1, serverCpuPerOpUs: 1, clientMaxRssMiB: 50, serverMaxRssMiB: 50,
    ...over,
  };
}

/** What runRow records when `nextMessage` on a child fails this way. */
async function failureOf(act: (child: EventEmitter) => void, progressOps?: number): Promise<RowResult> {
  const child = new EventEmitter();
  const wait = nextMessage(child as unknown as ChildProcess, () => undefined, 30, "tsgrid.bidi.b32 client");
  act(child);
  const err = await wait.then(() => undefined, (e: unknown) => e);
  return row("tsgrid.bidi.b32", { ops: 0, throughput: 0, ...rowFailure(err, progressOps) });
}

describe("bench smoke verdict: broken fails, slow warns", () => {
  it("a child that answers late (progress made) is slow: a warning naming the row and why, exit 0 in --quick", async () => {
    const r = await failureOf(() => {}, 1234); // never answers: the 30 ms bound runs out
    expect(r.errorKind).toBe("slow");
    const v = judgeRun([row("ws.echo.c1.b32"), r], { quick: true });
    expect(v.exitCode).toBe(0);
    expect(v.failures).toEqual([]);
    const { out, err } = verdictLines(v);
    expect(err).toEqual([]);
    expect(out).toHaveLength(1);
    expect(out[0]).toContain("tsgrid.bidi.b32");
    expect(out[0]).toContain("no answer within 30 ms");
    expect(out[0]).toContain("after 1234 operations");
    // A full run still fails on it: its numbers are missing.
    expect(judgeRun([r], { quick: false }).exitCode).toBe(1);
  });

  it("a timeout with no progress reported at all is broken (a hang), and fails --quick", async () => {
    const r = await failureOf(() => {}, 0);
    expect(r.errorKind).toBe("broken");
    const v = judgeRun([r], { quick: true });
    expect(v.exitCode).toBe(1);
    expect(verdictLines(v).err.join("\n")).toMatch(/FAILED tsgrid\.bidi\.b32: broken: no progress/);
  });

  it("a crashed child is broken: the failure names the row and the exit", async () => {
    const r = await failureOf((child) => setTimeout(() => child.emit("exit", 1, null), 5));
    expect(r.errorKind).toBe("broken");
    const v = judgeRun([row("ws.echo.c1.b32"), r], { quick: true });
    expect(v.exitCode).toBe(1);
    const err = verdictLines(v).err;
    expect(err[0]).toBe("FAILED tsgrid.bidi.b32: broken: tsgrid.bidi.b32 client: child exited (code 1, signal null)");
    expect(err[1]).toBe("1 row(s) failed: tsgrid.bidi.b32");
  });

  it("an error from the code under test (a wrong answer) is broken", () => {
    const r = row("tsgrid.typed.c128.b32", rowFailure(new Error("InvalidPayloadError: field status: expected string")));
    expect(judgeRun([r], { quick: true }).failures.map((f) => [f.id, f.kind])).toEqual([["tsgrid.typed.c128.b32", "broken"]]);
  });

  it("standard timeouts thrown in a child (AbortSignal.timeout, deadline_exceeded) are slow", () => {
    const abort = new DOMException("The operation was aborted due to timeout", "TimeoutError");
    expect(rowFailure(abort).errorKind).toBe("slow");
    expect(rowFailure(Object.assign(new Error("deadline exceeded"), { code: "deadline_exceeded" })).errorKind).toBe("slow");
  });

  it("a row that completes with 0 operations is broken; with a handful it is slow", () => {
    const v = judgeRun([row("a", { ops: 0, throughput: 0 }), row("b", { ops: 12, throughput: 30 }), row("m", { group: "memory", ops: 0 })], { quick: true });
    expect(v.failures.map((f) => f.id)).toEqual(["a"]);
    expect(v.warnings.map((w) => w.id)).toEqual(["b"]);
    expect(v.warnings[0]!.why).toContain("only 12 operations");
  });

  it("rows skipped on purpose neither fail nor warn; rows the time budget left out are slow warnings", () => {
    expect(judgeRun([row("s", { skipped: "runtime not built", ops: 0 })], { quick: true })).toEqual({ failures: [], warnings: [], exitCode: 0 });
    const v = judgeRun([row("codec.json", { skipped: BUDGET_SPENT, ops: 0 })], { quick: true });
    expect(v.exitCode).toBe(0);
    expect(verdictLines(v).out).toEqual(["WARNING codec.json: slow (not a failure): not run: time budget spent before it"]);
  });
});
