/**
 * Review: no entry is left in the mux tables (nor a handler left unaborted) on the odd paths.
 */
import { getEventListeners } from "node:events";
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

describe("every path releases table entries, wheel nodes, stream-timer entries and signal listeners", () => {
  it("requests and streams, both directions: success, error, cancel, deadline, unknown handler, disconnect", async () => {
    const { Mux } = await import("../../runtime/mux/mux.js");
    pair = await makePair("ws");
    const { a, b } = pair;
    const muxOf = (c: typeof a): InstanceType<typeof Mux> => Reflect.get(c, "mux") as InstanceType<typeof Mux>;
    const clean = (): boolean =>
      [a, b].every((c) => {
        const m = muxOf(c);
        return m.outgoing.size === 0 && m.incoming.size === 0 && m.wheel.size === 0 && m.streams.size === 0;
      });
    for (const r of [pair.ra, pair.rb]) {
      r.registerSingle(1, (p) => p);
      r.registerSingle(2, () => {
        throw new Error("no");
      });
      r.registerSingle(3, (_p, ctx) => new Promise((_res, rej) => ctx.signal.addEventListener("abort", () => rej(ctx.signal.reason))));
      r.registerStream(4, async function* (p) {
        yield p!;
      });
      r.registerStream(5, async function* () {
        yield bytes("x");
        throw new Error("mid");
      });
      r.registerStream(6, async function* (_p, input) {
        for await (const m of input!) yield m;
      }, { inCapacity: 1 });
    }
    const life = new AbortController(); // a long-lived signal shared by every call
    const signal = life.signal;
    const drain = async (s: { responses: AsyncIterable<Uint8Array> }): Promise<unknown> => {
      try {
        for await (const _ of s.responses) {
          /* read */
        }
        return undefined;
      } catch (e) {
        return e;
      }
    };
    for (const [x] of [[a], [b]] as const) {
      await x.request(1, bytes("ok"), { signal });
      await x.request(2, bytes(""), { signal }).catch(() => {});
      await x.request(77, bytes(""), { signal }).catch(() => {});
      await x.request(3, bytes(""), { signal, timeoutMs: 20 }).catch(() => {});
      const cancel = new AbortController();
      const c = x.request(3, bytes(""), { signal: cancel.signal }).catch(() => {});
      await sleep(5);
      cancel.abort();
      await c;
      await drain(await x.newStream(4, bytes("p"), { signal }));
      await drain(await x.newStream(5, undefined, { signal }));
      await x.newStream(77, undefined, { signal }).catch(() => {});
      const echo = await x.newStream(6, undefined, { signal });
      await echo.requests!.send(bytes("1"));
      const blocked = echo.requests!.send(bytes("2"));
      const blocked2 = echo.requests!.send(bytes("3"));
      echo.cancel();
      await Promise.allSettled([blocked, blocked2, drain(echo)]);
      const dl = await x.newStream(6, undefined, { signal, timeoutMs: 30 });
      await drain(dl);
    }
    await until(clean, 3000);
    expect(getEventListeners(signal, "abort")).toHaveLength(0);
    // Disconnect with calls of every kind in flight in both directions.
    const inflight: Promise<unknown>[] = [];
    for (const x of [a, b]) {
      inflight.push(x.request(3, bytes(""), { signal }).catch((e: unknown) => e));
      const s = await x.newStream(6, undefined, { signal });
      inflight.push(drain(s));
    }
    await sleep(20);
    a.detach(new DisconnectedError("cut"));
    const results = await Promise.all(inflight);
    for (const r of results) expect(r).toBeInstanceOf(DisconnectedError);
    await until(clean, 3000);
    expect(getEventListeners(signal, "abort")).toHaveLength(0);
  });
});
