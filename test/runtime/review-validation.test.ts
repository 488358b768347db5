/**
 * Review: argument errors of the async call APIs reject (never throw synchronously) and leave
 * nothing behind in the mux tables, the deadline wheel or on the caller's signal.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Pair } from "./helpers.js";
import { bytes, makePair, text } from "./helpers.js";

let pair: Pair | undefined;
afterEach(async () => {
  await pair?.close();
  pair = undefined;
});

/** Calls `fn`, failing the test if it throws synchronously; returns its settled rejection. */
async function rejection(fn: () => Promise<unknown>): Promise<unknown> {
  let promise: Promise<unknown>;
  try {
    promise = fn();
  } catch (err) {
    throw new Error(`threw synchronously: ${String(err)}`);
  }
  return promise.then(
    () => {
      throw new Error("resolved");
    },
    (err: unknown) => err,
  );
}

describe("argument validation", () => {
  it("request() with a missing or non-Uint8Array payload rejects with TypeError and leaks nothing", async () => {
    pair = await makePair("memory");
    pair.rb.registerSingle(1, (p) => p);
    const { a } = pair;
    for (const bad of [undefined, null, "text", [1, 2], 42]) {
      const err = await rejection(() => a.request(1, bad as unknown as Uint8Array));
      expect(err, String(bad)).toBeInstanceOf(TypeError);
    }
    const err = await rejection(() => a.subroute("r").request(1, undefined as unknown as Uint8Array));
    expect(err).toBeInstanceOf(TypeError);
    expect(a.stats.inFlight).toBe(0);
    // The connection still works.
    expect(text(await a.request(1, bytes("ok")))).toBe("ok");
  });

  it("request()/newStream() with a signal that is not an AbortSignal reject with TypeError and leak nothing", async () => {
    pair = await makePair("memory");
    pair.rb.registerSingle(1, (p) => p);
    const { a } = pair;
    const bogus = { aborted: false } as unknown as AbortSignal;
    expect(await rejection(() => a.request(1, bytes("x"), { signal: bogus }))).toBeInstanceOf(TypeError);
    expect(await rejection(() => a.newStream(2, undefined, { signal: bogus }))).toBeInstanceOf(TypeError);
    expect(a.stats.inFlight).toBe(0);
  });

  it("bad handler ids, timeouts and payloads reject (RangeError/TypeError) before anything is sent", async () => {
    pair = await makePair("memory");
    const { a } = pair;
    for (const id of [0, -1, 1.5, Number.NaN, 65_536, "1" as unknown as number]) {
      expect(await rejection(() => a.request(id, bytes("x"))), String(id)).toBeInstanceOf(RangeError);
      expect(await rejection(() => a.newStream(id)), String(id)).toBeInstanceOf(RangeError);
    }
    for (const timeoutMs of [0, -5, Number.NaN]) {
      expect(await rejection(() => a.request(1, bytes("x"), { timeoutMs })), String(timeoutMs)).toBeInstanceOf(RangeError);
      expect(await rejection(() => a.newStream(1, undefined, { timeoutMs })), String(timeoutMs)).toBeInstanceOf(RangeError);
    }
    expect(await rejection(() => a.newStream(1, "p" as unknown as Uint8Array))).toBeInstanceOf(TypeError);
    expect(a.stats.inFlight).toBe(0);
    expect(a.stats.callsOut).toBe(0);
  });

  it("a second reader of one stream's responses gets a TypeError rejection; the first still reads", async () => {
    pair = await makePair("memory");
    let release: () => void = () => {};
    pair.rb.registerStream(1, async function* () {
      await new Promise<void>((r) => (release = r));
      yield bytes("one");
    });
    const s = await pair.a.newStream(1);
    const first = s.responses[Symbol.asyncIterator]().next();
    const second = await rejection(() => s.responses[Symbol.asyncIterator]().next());
    expect(second).toBeInstanceOf(TypeError);
    release();
    const r = await first;
    expect(r.done === true ? "" : text(r.value)).toBe("one");
  });
});
