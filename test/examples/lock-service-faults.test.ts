/**
 * The lock service under seeded faults (tsgrid/testing): a property test over many seeds.
 *
 *   npm test                                   200 seeds (the default)
 *   TSGRID_SEEDS=2000 npx vitest run test/examples/lock-service-faults.test.ts
 *   TSGRID_SEED=17 npx vitest run test/examples/lock-service-faults.test.ts   replays seed 17
 *
 * Each seed runs 3 nodes for 2 simulated seconds of random faults (partitions, one-way
 * partitions, reset and black-holed links, delay, jitter, bandwidth limits, stalls, crashes,
 * power-offs) under a lock workload, then checks: no two critical sections on a resource
 * overlap, no call or lock attempt outlives its deadline, every node rejoins every other
 * after the faults end, and every node can take the lock again. Three deliberately broken
 * variants of the lock client must be caught by the same checks.
 */
import { describe, expect, it } from "vitest";
import { seedsFromEnv } from "tsgrid/testing";
import { runLockScenario, type ScenarioResult, type Variant } from "./lock-chaos-scenario.js";

const seeds = seedsFromEnv({ count: 200 });
/** Broken variants are searched for in the default seeds, whatever TSGRID_SEED says. */
const SEARCH = 200;

function problems(r: ScenarioResult): string[] {
  const out: string[] = [];
  if (r.overlaps > 0) out.push(`${r.overlaps} overlapping critical sections`);
  if (r.lateCalls.length > 0) out.push(`calls past their deadline: ${r.lateCalls.slice(0, 5).join("; ")}`);
  if (r.notRejoined.length > 0) out.push(`not rejoined after the faults: ${r.notRejoined.join(", ")}`);
  if (r.stuckAfterHeal.length > 0) out.push(`could not lock after the faults: ${r.stuckAfterHeal.join(", ")}`);
  return out;
}

/** The first seed in 1..SEARCH whose run shows a problem, with the run. */
async function firstCaught(variant: Variant, faults?: []): Promise<{ seed: number; result: ScenarioResult } | undefined> {
  for (let seed = 1; seed <= SEARCH; seed++) {
    const result = await runLockScenario({ seed, variant, ...(faults === undefined ? {} : { faults }) });
    if (problems(result).length > 0) return { seed, result };
  }
  return undefined;
}

describe("the lock service under seeded faults", () => {
  it(`keeps mutual exclusion and deadlines, and every node rejoins, over ${seeds.length} seed(s)`, async () => {
    let sections = 0;
    let faults = 0;
    let maxRejoinMs = 0;
    const start = process.hrtime.bigint();
    const cpuStart = process.cpuUsage();
    let simulatedMs = 0;
    for (const seed of seeds) {
      const r = await runLockScenario({ seed, variant: "correct" });
      const found = problems(r);
      if (found.length > 0) throw new Error(`seed ${seed}: ${found.join("; ")}\n\n${r.report}`);
      sections += r.sections.length;
      faults += r.chaos.plan.length;
      maxRejoinMs = Math.max(maxRejoinMs, r.rejoinMs);
      simulatedMs += r.simulatedMs;
    }
    const realMs = Number(process.hrtime.bigint() - start) / 1e6;
    const cpu = process.cpuUsage(cpuStart);
    console.log(
      `lock service under faults: ${seeds.length} seeds, ${faults} faults, ${sections} critical sections checked, ` +
        `slowest rejoin ${maxRejoinMs} simulated ms; ${(simulatedMs / 1000).toFixed(0)} simulated s in ` +
        `${realMs.toFixed(0)} ms real, ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms CPU`,
    );
    // The workload really ran: a check over no sections could not fail.
    expect(sections).toBeGreaterThan(seeds.length * 5);
    expect(faults).toBeGreaterThan(seeds.length * 3);
  }, 600_000);

  it("catches a lock client with a write quorum of n/2", async () => {
    const caught = await firstCaught("half-quorum");
    expect(caught, "the broken variant passed every seed").toBeDefined();
    console.log(`half-quorum variant caught at seed ${caught!.seed}: ${problems(caught!.result).join("; ")}`);
    expect(caught!.result.overlaps).toBeGreaterThan(0);
  }, 600_000);

  it("catches a lock client that counts a node it cannot reach as a grant, and only with faults", async () => {
    const caught = await firstCaught("unreachable-grants");
    expect(caught, "the broken variant passed every seed").toBeDefined();
    console.log(`unreachable-grants variant caught at seed ${caught!.seed}: ${problems(caught!.result).join("; ")}`);
    expect(caught!.result.overlaps).toBeGreaterThan(0);
    // The same seeds without faults do not show it: the faults found the bug.
    for (let seed = 1; seed <= caught!.seed; seed++) {
      const calm = await runLockScenario({ seed, variant: "unreachable-grants", faults: [] });
      expect(calm.chaos.plan).toEqual([]);
      expect(problems(calm), `seed ${seed} without faults`).toEqual([]);
      expect(calm.sections.length).toBeGreaterThan(5);
    }
  }, 600_000);

  it("catches a lock client that drops its calls' deadlines (they wait for the link to die)", async () => {
    const caught = await firstCaught("deadline-dropped");
    expect(caught, "the broken variant passed every seed").toBeDefined();
    console.log(`deadline-dropped variant caught at seed ${caught!.seed}: ${problems(caught!.result).join("; ")}`);
    expect(caught!.result.lateCalls.length).toBeGreaterThan(0);
  }, 600_000);

  it("replays a seed: the same fault log, and the same run to the millisecond", async () => {
    const seed = seeds[0]!;
    const a = await runLockScenario({ seed, variant: "correct" });
    const b = await runLockScenario({ seed, variant: "correct" });
    expect(a.chaos.log.length).toBeGreaterThan(0);
    expect(b.chaos.log).toEqual(a.chaos.log);
    expect(b.report).toBe(a.report);
    // Virtual time and a seeded Math.random: every critical section at the same simulated time.
    expect(b.sections).toEqual(a.sections);
    expect(b.attempts).toBe(a.attempts);
    const other = await runLockScenario({ seed: seed + 1, variant: "correct" });
    expect(other.chaos.log).not.toEqual(a.chaos.log);
  }, 120_000);
});
