import { describe, expect, it } from "vitest";
import { freePorts } from "../../examples/free-ports.js";
import { main } from "../../examples/quickstart/main.js";

describe("examples/quickstart", () => {
  it("two Managers, one call of each handler form", async () => {
    const ports = await freePorts(2);
    expect(await main(ports)).toEqual([
      `Hello world, from a server called by ws://127.0.0.1:${ports[0]}/grid`,
      "tick 1",
      "tick 2",
      "tick 3",
      "sum 1",
      "sum 3",
      "sum 6",
    ]);
  });
});
