/**
 * Review: no entry is left in the mux tables (nor a handler left unaborted) on the odd paths.
 */
import { afterEach, describe, expect, it } from "vitest";
import { DisconnectedError, RemoteError } from "../../runtime/errors.js";
import type { Pair } from "./helpers.js";
import { bytes, makePair, sleep, until } from "./helpers.js";

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

describe("handlers that fail oddly get a truthful RemoteError, and leave nothing behind", () => {
  it("a single handler throwing or rejecting with undefined/null is reported as a throw", async () => {
    pair = await makePair("memory");
    pair.rb.registerSingle(1, () => {
      throw undefined;
    });
    pair.rb.registerSingle(2, () => Promise.reject(undefined));
    pair.rb.registerSingle(3, () => Promise.reject(null));
    for (const id of [1, 2, 3]) {
      const err = await pair.a.request(id, bytes("x")).catch((e: unknown) => e);
      expect(err, String(id)).toBeInstanceOf(RemoteError);
      expect((err as RemoteError).rawMessage, String(id)).not.toMatch(/returned/);
    }
    expect(pair.b.stats.inFlight).toBe(0);
  });

  it("a stream handler that returns no AsyncIterable says so", async () => {
    pair = await makePair("memory");
    pair.rb.registerStream(1, (() => 5) as never);
    pair.rb.registerStream(2, (() => [bytes("a")]) as never);
    pair.rb.registerStream(3, (() => null) as never);
    for (const id of [1, 2, 3]) {
      const s = await pair.a.newStream(id);
      const err = await s.responses[Symbol.asyncIterator]().next().catch((e: unknown) => e);
      expect(err, String(id)).toBeInstanceOf(RemoteError);
      expect((err as RemoteError).rawMessage, String(id)).toMatch(/^stream handler \d+ returned \w+, not an AsyncIterable$/);
    }
    await until(() => pair!.a.stats.inFlight === 0 && pair!.b.stats.inFlight === 0);
  });
});
