/**
 * Review: no entry is left in the mux tables (nor a handler left unaborted) on the odd paths.
 */
import { afterEach, describe, expect, it } from "vitest";
import { DisconnectedError } from "../../runtime/errors.js";
import type { Pair } from "./helpers.js";
import { bytes, makePair, sleep } from "./helpers.js";

let pair: Pair | undefined;
afterEach(async () => {
  await pair?.close();
  pair = undefined;
});

describe("a handler that drops its own connection while it runs", () => {
  it("single: the pending call leaves no table entry and its ctx.signal aborts", async () => {
    pair = await makePair("memory");
    const { a, b } = pair;
    let signal: AbortSignal | undefined;
    pair.rb.registerSingle(1, (p, ctx) => {
      signal = ctx.signal;
      b.detach(new DisconnectedError("dropped by the handler"));
      return sleep(20).then(() => p);
    });
    await expect(a.request(1, bytes("x"))).rejects.toBeInstanceOf(DisconnectedError);
    expect(b.stats.inFlight).toBe(0);
    expect(signal?.aborted).toBe(true);
    expect(signal?.reason).toBeInstanceOf(DisconnectedError);
  });
});
