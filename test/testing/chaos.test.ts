/**
 * tsgrid/testing's seeded schedules, seeds, failure reports and the speed of virtual time.
 */
import { describe, expect, expectTypeOf, it } from "vitest";
import type { Manager } from "tsgrid";
import {
  ALL_FAULTS,
  SimulationFailure,
  createRng,
  createTestCluster,
  planChaos,
  seedsFromEnv,
  withTestCluster,
  type ChaosPlanOptions,
  type ChaosResult,
  type FaultHandle,
  type FaultKind,
  type TestCluster,
  type TestNode,
} from "tsgrid/testing";

describe("public types of tsgrid/testing", () => {
  it("are the documented ones", () => {
    expectTypeOf(createTestCluster).returns.toEqualTypeOf<Promise<TestCluster>>();
    expectTypeOf<TestNode["manager"]>().toEqualTypeOf<Manager>();
    expectTypeOf<TestNode["state"]>().toEqualTypeOf<"up" | "crashed" | "off">();
    expectTypeOf<ReturnType<TestCluster["partition"]>>().toEqualTypeOf<FaultHandle>();
    expectTypeOf<ReturnType<TestCluster["chaos"]>>().toEqualTypeOf<Promise<ChaosResult>>();
    expectTypeOf<(typeof ALL_FAULTS)[number]>().toEqualTypeOf<FaultKind>();
    expectTypeOf<Parameters<typeof withTestCluster>[1]>().parameter(0).toEqualTypeOf<TestCluster>();
  });
});

const names = ["ws://node-1/grid", "ws://node-2/grid", "ws://node-3/grid", "ws://node-4/grid", "ws://node-5/grid"];
const planOptions: ChaosPlanOptions = { durationMs: 20_000, faults: ALL_FAULTS, gapMs: [50, 500], faultMs: [100, 2_000], maxConcurrent: 3, maxDown: 2 };

describe("createRng", () => {
  it("gives the same numbers for the same seed, different ones for another, uniform enough", () => {
    const a = createRng(42);
    const b = createRng(42);
    const seqA = Array.from({ length: 1000 }, () => a.next());
    expect(Array.from({ length: 1000 }, () => b.next())).toEqual(seqA);
    expect(Array.from({ length: 1000 }, () => createRng(43).next())).not.toEqual(seqA);
    const mean = seqA.reduce((x, y) => x + y, 0) / seqA.length;
    expect(mean).toBeGreaterThan(0.45);
    expect(mean).toBeLessThan(0.55);
    const ints = new Set(Array.from({ length: 200 }, () => a.int(1, 6)));
    expect([...ints].sort()).toEqual([1, 2, 3, 4, 5, 6]);
    // Forks are independent of the parent's position.
    const c = createRng(42);
    c.next();
    expect(c.fork("x").next()).toBe(createRng(42).fork("x").next());
  });
});

describe("planChaos", () => {
  it("draws the same schedule from the same seed, another from another seed", () => {
    const one = planChaos(createRng(5), names, planOptions);
    expect(planChaos(createRng(5), names, planOptions)).toEqual(one);
    expect(planChaos(createRng(6), names, planOptions)).not.toEqual(one);
    expect(one.length).toBeGreaterThan(10);
  });

  it("keeps its limits: faults end in time, never more at once than allowed, never too many nodes down", () => {
    for (let seed = 1; seed <= 50; seed++) {
      const plan = planChaos(createRng(seed), names, planOptions);
      for (const f of plan) {
        expect(f.atMs + f.durationMs).toBeLessThanOrEqual(planOptions.durationMs);
        const inForce = plan.filter((g) => g.atMs <= f.atMs && g.atMs + g.durationMs > f.atMs);
        expect(inForce.length).toBeLessThanOrEqual(planOptions.maxConcurrent);
        const down = new Set(inForce.filter((g) => ["crash", "power-off", "stall"].includes(g.kind)).map((g) => g.nodes[0]));
        expect(down.size).toBeLessThanOrEqual(planOptions.maxDown);
        if (f.groups !== undefined) {
          expect(f.groups.flat().sort()).toEqual([...names].sort());
          expect(f.groups.every((g) => g.length > 0)).toBe(true);
        }
      }
    }
  });

  it("draws every kind over enough seeds, and only the kinds asked for", () => {
    const kinds = new Set<string>();
    for (let seed = 1; seed <= 20; seed++) for (const f of planChaos(createRng(seed), names, planOptions)) kinds.add(f.kind);
    expect([...kinds].sort()).toEqual([...ALL_FAULTS].sort());
    const only = planChaos(createRng(1), names, { ...planOptions, faults: ["stall", "delay"] });
    expect(new Set(only.map((f) => f.kind))).toEqual(new Set(["stall", "delay"]));
    expect(() => planChaos(createRng(1), names, { ...planOptions, faults: ["meteor" as never] })).toThrow(/unknown fault/);
  });
});

describe("cluster.chaos", () => {
  it("runs the schedule, logs each fault and its end, and leaves every node up and connected", async () => {
    await withTestCluster({ nodes: 5, seed: 11 }, async (cluster) => {
      const result = await cluster.chaos({ durationMs: 10_000 });
      expect(result.seed).toBe(11);
      expect(result.plan.length).toBeGreaterThan(5);
      expect(result.log.filter((e) => !e.action.startsWith("end ")).length).toBe(result.plan.length);
      expect(cluster.nodes.every((n) => n.state === "up")).toBe(true);
      const killed = result.plan.filter((f) => f.kind === "crash" || f.kind === "power-off").length;
      expect(cluster.nodes.reduce((sum, n) => sum + n.restarts, 0)).toBe(killed);
      await cluster.waitConnected({ timeoutMs: 5_000 });
    });
  });

  it("gives the same log for the same seed, and runs on the chaos seed, not the cluster's", async () => {
    const logOf = (clusterSeed: number, chaosSeed: number) =>
      withTestCluster({ nodes: 3, seed: clusterSeed }, async (cluster) => (await cluster.chaos({ seed: chaosSeed, durationMs: 3_000 })).log);
    const a = await logOf(1, 99);
    expect(a.length).toBeGreaterThan(0);
    expect(await logOf(2, 99)).toEqual(a);
    expect(await logOf(1, 98)).not.toEqual(a);
  });
});

describe("failure reports", () => {
  it("withTestCluster wraps a failure with the seed, the replay command and the fault log, and closes the cluster", async () => {
    const realSetTimeout = globalThis.setTimeout;
    const failure = await withTestCluster({ nodes: 3, seed: 1234 }, async (cluster) => {
      await cluster.chaos({ durationMs: 1_000, faults: ["partition"] });
      throw new Error("invariant broken");
    }).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(SimulationFailure);
    const err = failure as SimulationFailure;
    expect(err.seed).toBe(1234);
    expect(err.message).toMatch(/^invariant broken\n/);
    expect(err.message).toContain("TSGRID_SEED=1234 npm test");
    expect(err.message).toMatch(/\+\d+ms\s+partition\s+\{/);
    expect((err.cause as Error).message).toBe("invariant broken");
    expect(globalThis.setTimeout).toBe(realSetTimeout);
  });

  it("seedsFromEnv: TSGRID_SEED replays given seeds, TSGRID_SEEDS sets how many, else the default", () => {
    expect(seedsFromEnv({ count: 3, env: {} })).toEqual([1, 2, 3]);
    expect(seedsFromEnv({ count: 3, env: { TSGRID_SEEDS: "5" } })).toEqual([1, 2, 3, 4, 5]);
    expect(seedsFromEnv({ count: 3, env: { TSGRID_SEED: "17", TSGRID_SEEDS: "5" } })).toEqual([17]);
    expect(seedsFromEnv({ count: 3, env: { TSGRID_SEED: "17, 42" } })).toEqual([17, 42]);
    expect(() => seedsFromEnv({ count: 3, env: { TSGRID_SEED: "x" } })).toThrow(RangeError);
    expect(() => seedsFromEnv({ count: 3, env: { TSGRID_SEEDS: "0" } })).toThrow(RangeError);
  });
});

describe("virtual time", () => {
  it("runs an idle simulated minute of a 3-node cluster (pings only) in well under a second", async () => {
    const cluster = await createTestCluster({ nodes: 3, seed: 3 });
    try {
      const realStart = cluster.clock.realNow();
      const simStart = cluster.now();
      const steps = cluster.clock.steps;
      const cpuStart = process.cpuUsage();
      await cluster.sleep(60_000);
      const realMs = cluster.clock.realNow() - realStart;
      const cpu = process.cpuUsage(cpuStart);
      console.log(
        `virtual time, idle: 60 simulated s in ${realMs.toFixed(0)} real ms (${((cluster.now() - simStart) / realMs).toFixed(0)} ` +
          `simulated s per real s), ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms CPU, ${cluster.clock.steps - steps} timer steps`,
      );
      expect(cluster.disconnectedPairs()).toEqual([]); // pings kept every link alive all along
      expect(cluster.clock.steps - steps).toBeGreaterThan(60 * 6); // 6 connection ends ping twice a second
      expect(realMs).toBeLessThan(5_000);
    } finally {
      await cluster.close();
    }
  });

  it("runs a simulated minute of a 5-node cluster in well under a second, and says how fast", async () => {
    const cluster = await createTestCluster({
      nodes: 5,
      seed: 3,
      setup: (node) => node.manager.registerSingle(1, (p) => p),
    });
    try {
      const realStart = cluster.clock.realNow(); // process.hrtime and performance.now are simulated too
      const simStart = cluster.now();
      // Pings on 20 links, plus 10 calls per simulated second between random pairs.
      let calls = 0;
      const cpuStart = process.cpuUsage();
      const load = (async () => {
        while (cluster.now() - simStart < 60_000) {
          const from = calls % 5;
          const to = (from + 1 + (calls % 4)) % 5;
          await cluster.manager(from).connection(cluster.nodes[to]!.name).request(1, new Uint8Array(64));
          calls++;
          await cluster.sleep(100);
        }
      })();
      await load;
      const realMs = cluster.clock.realNow() - realStart;
      const simMs = cluster.now() - simStart;
      const cpu = process.cpuUsage(cpuStart);
      console.log(
        `virtual time: ${(simMs / 1000).toFixed(0)} simulated s in ${realMs.toFixed(0)} real ms ` +
          `(${(simMs / realMs).toFixed(0)} simulated s per real s), ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms CPU, ` +
          `${calls} calls, ${cluster.clock.steps} timer steps`,
      );
      expect(simMs).toBeGreaterThanOrEqual(60_000);
      expect(calls).toBeGreaterThanOrEqual(590);
      // Loose on purpose (a loaded CI machine); quiet machines run it many times faster.
      expect(realMs).toBeLessThan(10_000);
    } finally {
      await cluster.close();
    }
  });
});
