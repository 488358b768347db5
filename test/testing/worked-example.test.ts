/**
 * The worked example of docs/testing.md (copied there by the doc-snippets test): a user's
 * generated service on a simulated cluster, a partition checked by hand, then a property
 * checked under seeded faults.
 */
import { expect, it } from "vitest";
// #region imports
import { DeadlineExceededError, DisconnectedError } from "tsgrid";
import { createTestCluster, seedsFromEnv, withTestCluster } from "tsgrid/testing";
import { GreeterClient, registerGreeter, type GreeterServer } from "../../examples/quickstart/generated/greeter.js";
// #endregion imports

/** The service under test: hello answers with the node that served it. */
function greeter(name: string): GreeterServer {
  return {
    hello: (req) => ({ message: `${name} greets ${req.name}` }),
    async *count(req) {
      for (let n = 1; n <= req.to; n++) yield { n };
    },
    async *sum(input) {
      let sum = 0;
      for await (const tick of input) yield { sum: (sum += tick.n) };
    },
  };
}

it("worked example: a partition, by hand", async () => {
  // #region by-hand
  const cluster = await createTestCluster({
    nodes: 3, // ws://node-1/grid, ws://node-2/grid, ws://node-3/grid
    seed: 1,
    setup: (node) => registerGreeter(node.manager, greeter(node.name)), // at start and every restart
  });
  try {
    const [a, b] = cluster.nodes;
    const client = new GreeterClient(cluster.manager(0).connection(b!.name));
    expect((await client.hello({ name: "x" })).message).toBe("ws://node-2/grid greets x");

    const cut = cluster.partition([a!.name], [b!.name]); // node-3 still reaches both
    await cluster.sleep(5_000); // simulated: pings find out after pingTimeoutMs (2 s here)
    await expect(client.hello({ name: "x" })).rejects.toBeInstanceOf(DisconnectedError);

    cut.revert();
    await cluster.waitConnected({ timeoutMs: 2_000 });
    expect((await client.hello({ name: "y" })).message).toBe("ws://node-2/grid greets y");
  } finally {
    await cluster.close();
  }
  // #endregion by-hand
});

it("worked example: a property under seeded faults", async () => {
  // #region property
  for (const seed of seedsFromEnv({ count: 20 })) {
    // On failure: the error, then "seed N", "replay: TSGRID_SEED=N npm test" and the fault log.
    await withTestCluster({ nodes: 3, seed, setup: (node) => registerGreeter(node.manager, greeter(node.name)) }, async (cluster) => {
      let answered = 0;
      const wrong: string[] = [];
      const stop = new AbortController();
      const load = (async () => {
        while (!stop.signal.aborted) {
          const client = new GreeterClient(cluster.manager(0).connection(cluster.nodes[1]!.name));
          const started = cluster.now();
          try {
            if ((await client.hello({ name: "x" }, { timeoutMs: 500 })).message === "ws://node-2/grid greets x") answered++;
            else wrong.push("a wrong answer");
          } catch (err) {
            // A fault may cost a call, with one of these two errors and nothing else.
            if (!(err instanceof DisconnectedError || err instanceof DeadlineExceededError)) wrong.push(String(err));
          }
          if (cluster.now() - started > 510) wrong.push(`a call took ${cluster.now() - started} ms`); // past its deadline
          await cluster.sleep(50);
        }
      })();
      // Node 1 stays up (the load runs there); the other faults are drawn from the seed.
      await cluster.chaos({ durationMs: 5_000, faults: ["partition", "drop-link", "blackhole-link", "delay", "stall"] });
      stop.abort();
      await load;
      await cluster.waitConnected({ timeoutMs: 5_000 }); // everyone is back after the heal
      expect(wrong).toEqual([]);
      expect(answered).toBeGreaterThan(0);
    });
  }
  // #endregion property
}, 60_000);
